//===- TensorIO.h - npz arrays to and from reference tensors ----*- C++ -*-===//

#ifndef ATTN_TOOLS_ATTN_REFERENCE_TENSORIO_H
#define ATTN_TOOLS_ATTN_REFERENCE_TENSORIO_H

#include "attn/Reference/AttentionReference.h"
#include "attn/Runtime/Npz.h"

namespace attn::reftool {

/// Widens every element of `array` (any dtype; f16/bf16 exactly) to double.
ref::Tensor toTensor(const rt::Array &array);

/// Narrows `tensor` to an array of `dtype` (F64, I64, I32 or Bool; any other
/// dtype is written as F32).
rt::Array fromTensor(const std::string &name, const ref::Tensor &tensor,
                     rt::DType dtype);

} // namespace attn::reftool

#endif // ATTN_TOOLS_ATTN_REFERENCE_TENSORIO_H
