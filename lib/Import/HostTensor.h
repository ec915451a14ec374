//===- HostTensor.h - tensors known at import time --------------*- C++ -*-===//
//
// ONNX element types and a small host-side tensor: initializers, Constant
// nodes and everything the import-time constant evaluator computes from them
// (mostly shape arithmetic).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_IMPORT_HOSTTENSOR_H
#define ATTN_LIB_IMPORT_HOSTTENSOR_H

#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace mlir::attn::onnx_import {

/// ONNX element types (TensorProto.DataType codes) the importer knows.
enum class DType : int32_t {
  Undefined = 0,
  F32 = 1,
  U8 = 2,
  I8 = 3,
  U16 = 4,
  I16 = 5,
  I32 = 6,
  I64 = 7,
  String = 8,
  Bool = 9,
  F16 = 10,
  F64 = 11,
  U32 = 12,
  U64 = 13,
  BF16 = 16,
};

/// The DType for an ONNX data type code, if the importer knows it.
std::optional<DType> dtypeFromOnnx(int64_t code);
/// numpy's name of the type ("float32", "bool", ...).
llvm::StringRef dtypeName(DType type);
/// Bytes per element (strings: 0).
int64_t dtypeBytes(DType type);
bool isFloat(DType type);
bool isSignedInt(DType type);
bool isUnsignedInt(DType type);
inline bool isInteger(DType type) {
  return isSignedInt(type) || isUnsignedInt(type);
}
/// The MLIR element type compiled code uses for `type`: f32/f16/bf16/f64,
/// signless i8..i64, i1 for bool; null for types the generated code does not
/// handle (strings, unsigned integers).
Type mlirElementType(DType type, MLIRContext *context);

/// double -> int64 the way a C cast would (toward zero), but NaN gives 0 and
/// out-of-range values (infinities included) saturate instead of being UB.
int64_t saturatingToInt(double v);

/// The product of `shape`, saturating at INT64_MAX.
int64_t numElements(llvm::ArrayRef<int64_t> shape);

/// The most elements any tensor of a model may have (2^40, 4 TiB of f32).
/// Larger shapes come from corrupt files; refusing them keeps element
/// counts, byte sizes and index arithmetic far from int64 overflow.
constexpr int64_t kMaxTensorElements = int64_t(1) << 40;
/// Every size of `shape` is non-negative and the product of the non-zero ones
/// is at most kMaxTensorElements (so strides fit too, even when the tensor
/// is empty).
bool isValidShape(llvm::ArrayRef<int64_t> shape);

/// A dense, row-major tensor in host memory, in ONNX's little-endian element
/// layout (bool: one byte per element).
class HostTensor {
public:
  HostTensor() = default;
  /// Zero-filled.
  HostTensor(DType dtype, llvm::ArrayRef<int64_t> shape);
  HostTensor(DType dtype, llvm::ArrayRef<int64_t> shape, std::string bytes);

  DType dtype = DType::Undefined;
  llvm::SmallVector<int64_t> shape;
  /// The elements, unless `mapped` holds them.
  std::string bytes;
  /// Read-only elements mapped from an external data file (large
  /// initializers): weights are not copied into memory.
  std::shared_ptr<const llvm::MemoryBuffer> mapped;
  /// For `mapped` bytes: the external data file (an absolute path) and the
  /// offset they start at, which attn-compile --params=external references
  /// instead of copying the bytes.
  std::string externalFile;
  int64_t externalOffset = -1;

  /// The elements, wherever they are. Writers (setDouble, setInt) need
  /// `bytes`: only tensors made by the importer are written.
  llvm::StringRef data() const {
    return mapped ? mapped->getBuffer() : llvm::StringRef(bytes);
  }

  int64_t size() const { return numElements(shape); }
  int64_t rank() const { return shape.size(); }

  /// Element `i` converted to double / int64 (floats truncate toward zero).
  double getDouble(int64_t i) const;
  int64_t getInt(int64_t i) const;
  /// Stores `v` into element `i`, rounded/converted to the dtype.
  void setDouble(int64_t i, double v);
  void setInt(int64_t i, int64_t v);
  /// Copies element `j` of `src` (same dtype) into element `i`.
  void copyElement(int64_t i, const HostTensor &src, int64_t j);

  llvm::SmallVector<int64_t> toInts() const;

  /// A DenseElementsAttr of `type` (whose element type matches
  /// mlirElementType(dtype)).
  DenseElementsAttr toAttr(RankedTensorType type) const;
};

/// Constants of at least this many bytes are imported as `dense_resource`
/// blobs; smaller ones stay `dense` (shape arithmetic and folds read them).
constexpr int64_t kResourceMinBytes = 4096;

/// `tensor` as an attribute of `type`: toAttr() when small (or bool), else a
/// DenseResourceElementsAttr whose blob is the tensor's own bytes, kept alive
/// by the blob: weights are not copied into the MLIR context. `name` (an
/// initializer's name) names the blob.
ElementsAttr toSharedAttr(std::shared_ptr<const HostTensor> tensor,
                          RankedTensorType type, llvm::StringRef name);

} // namespace mlir::attn::onnx_import

#endif // ATTN_LIB_IMPORT_HOSTTENSOR_H
