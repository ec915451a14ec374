//===- AttnToLoops.h - lower attn ops to flash-style loops -----*- C++ -*-===//

#ifndef ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H
#define ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H

namespace mlir {
class RewritePatternSet;
namespace attn {

/// Patterns lowering attn.attention and attn.decode on memrefs to tiled
/// online-softmax loops (scf.parallel over work items, vector ops inside).
void populateAttnToLoopsConversionPatterns(RewritePatternSet &patterns);

} // namespace attn
} // namespace mlir

#endif // ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H
