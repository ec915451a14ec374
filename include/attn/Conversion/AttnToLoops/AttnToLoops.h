//===- AttnToLoops.h - lower attn ops to flash-style loops -----*- C++ -*-===//

#ifndef ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H
#define ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H

#include <cstdint>

namespace mlir {
class RewritePatternSet;
namespace attn {

struct AttnToLoopsOptions {
  /// f32 lanes across query rows in GQA/MQA/prefill work items: 8 or 16;
  /// 0 means 8 (the target's width comes from the pipeline, not the host).
  int64_t rowLanes = 0;
};

/// Patterns lowering attn.attention and attn.decode on memrefs to tiled
/// online-softmax loops (scf.parallel over work items, vector ops inside).
void populateAttnToLoopsConversionPatterns(
    RewritePatternSet &patterns, const AttnToLoopsOptions &options = {});

} // namespace attn
} // namespace mlir

#endif // ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H
