//===- AttnToLoops.h - lower attn ops to flash-style loops -----*- C++ -*-===//

#ifndef ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H
#define ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H

#include <cstdint>

namespace mlir {
class ModuleOp;
class RewritePatternSet;
namespace attn {

/// The runtime function that lowered attn.decode calls when a position does
/// not fit the cache: (buffer, row, position, new entries, capacity), all
/// i64; `buffer` is the argument index of the position's input (-1 if not
/// an argument), `row` the batch row (-1 for one position for the batch).
/// A paged decode reports a bad block-table entry through it too: buffer
/// the table, the entry as position, -(column + 1) new entries and the
/// pool's page count as capacity.
/// libAttnRuntime.so defines it; the run then fails with a message naming
/// that input.
inline constexpr const char kPositionErrorHook[] =
    "attn_rt_report_position_error";

/// Declares kPositionErrorHook in `module` (once). The decode lowering
/// calls it only where it is declared, else its output is just NaN.
void declareAttnRuntimeHooks(ModuleOp module);

struct AttnToLoopsOptions {
  /// f32 lanes across query rows in GQA/MQA/prefill work items: 8 or 16;
  /// 0 means 8 (the target's width comes from the pipeline, not the host).
  int64_t rowLanes = 0;
  /// bf16 caches of the grouped decode kernel (rows across the lanes)
  /// widened inside its FMA loops instead of once per tile.
  bool inlineBF16Widening = false;
  /// f32 key and value tiles of that layout widened during the other
  /// phase's FMA loop instead of in loops of their own.
  bool overlapTileWidening = false;
  /// Periodic-layout decode scores read each key row whole, in order.
  bool keyRowsInOrder = false;
  /// Keys per tile of the periodic layout with G > 1 (0: 32).
  int64_t groupedTileKeys = 0;
  /// Keys per tile of that layout with G >= 4 on an f16 key cache (0:
  /// groupedTileKeys).
  int64_t f16GroupedTileKeys = 0;
  /// Threads claim the work items from a shared counter instead of equal
  /// blocks of them.
  bool claimWorkItems = true;
  /// Alignment in bytes of the kernels' stack tiles (0: the element's).
  int64_t tileAlignment = 0;
  /// Q.K and P.V of the grouped decode kernel (rows across the lanes) on
  /// bf16 caches as AVX512_BF16 dot products (vdpbf16ps) of bf16 pairs,
  /// the queries and probabilities rounded to bf16, f32 accumulation.
  bool bf16DotProducts = false;
};

/// Patterns lowering attn.attention and attn.decode on memrefs to tiled
/// online-softmax loops (scf.parallel over work items, vector ops inside).
void populateAttnToLoopsConversionPatterns(
    RewritePatternSet &patterns, const AttnToLoopsOptions &options = {});

} // namespace attn
} // namespace mlir

#endif // ATTN_CONVERSION_ATTNTOLOOPS_ATTNTOLOOPS_H
