//===- InitAttn.h - register the attn dialect, passes and pipelines -*- C++ -*-===//

#ifndef ATTN_INITATTN_H
#define ATTN_INITATTN_H

namespace mlir {
class DialectRegistry;
namespace attn {

/// The attn dialect and its interface models (bufferisation).
void registerAllAttnDialects(DialectRegistry &registry);

/// Every attn pass and pipeline, for `attn-opt` and the mlir-opt plugin.
void registerAllAttnPasses();

} // namespace attn
} // namespace mlir

#endif // ATTN_INITATTN_H
