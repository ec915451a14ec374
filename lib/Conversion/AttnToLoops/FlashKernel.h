//===- FlashKernel.h - flash-style attention loop nest ---------*- C++ -*-===//
//
// Builds the loops both attn ops lower to: work items (batch, KV head,
// query tile, key split) in an scf.parallel, each keeping a running max,
// running sum and accumulator per query row for all query heads that share
// the KV head, then a second scf.parallel merging the key splits.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOLOOPS_FLASHKERNEL_H
#define ATTN_LIB_CONVERSION_ATTNTOLOOPS_FLASHKERNEL_H

#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::attn {

struct FlashAttention {
  Value query, key, value, out; ///< memrefs [B,Hq,Sq,D], [B,Hkv,*,D], ...
  Value mask;                   ///< optional, rank 2-4, last dim indexes keys
  Value kvSeqLens;              ///< optional [B] i32/i64
  int64_t qHeads, kvHeads;
  double scale;
  std::optional<double> softcap;
  Value keyEnd;       ///< index: keys [0, keyEnd) exist (in every batch row)
  /// Optional [B] i32/i64 decode positions: row b's keys are
  /// [0, rowPositions[b] + newKeys) and its query row i stands at position
  /// rowPositions[b] + newKeys - Sq + i (overrides queryOffset).
  Value rowPositions;
  Value newKeys; ///< index, with rowPositions
  /// Optional index: query row i stands at position i + queryOffset (0 when
  /// unset), which causal and the window are relative to.
  Value queryOffset;
  bool causal = false; ///< key j visible to the row at position p iff j <= p
  /// Key j visible to the row at position p iff p - left <= j <= p + right.
  std::optional<int64_t> windowLeft, windowRight;
  int64_t rowLanes = 8; ///< 8 or 16 f32 lanes when query rows share vectors
  /// bf16 caches widened in the grouped decode kernel's FMA loops (rows
  /// across the lanes), not once per tile (AttnToLoopsOptions).
  bool inlineBF16Widening = false;
  /// Rows-across decode on narrow caches: the f32 key and value tiles
  /// widened during the FMA loops of the other phase (TileWidening.cpp).
  bool overlapTileWidening = false;
  /// Rows-across decode on bf16 caches: vdpbf16ps dot products
  /// (AttnToLoopsOptions::bf16DotProducts).
  bool bf16DotProducts = false;
  /// Periodic-layout decode scores: key rows read whole, in address order.
  bool keyRowsInOrder = false;
  /// Keys per tile of the grouped decode kernel's periodic layout with
  /// G > 1 (0: kTargetTileKeys; see groupedTileTarget).
  int64_t groupedTileKeys = 0;
  /// The same for G >= 4 on an f16 key cache (0: groupedTileKeys).
  int64_t f16GroupedTileKeys = 0;
  /// Work items claimed one at a time from a shared counter (the default),
  /// not dealt out in equal blocks per thread (AttnToLoopsOptions).
  bool claimWorkItems = true;
  /// Alignment in bytes of the kernels' stack tiles (0: the element's;
  /// AttnToLoopsOptions).
  int64_t tileAlignment = 0;
  /// Optional [B, max_pages] i32/i64 block table: key and value are then
  /// page pools [num_pages, Hkv, pageSize, *] and key j of batch row b is
  /// row j % pageSize of page blockTable[b, j / pageSize] (see keyAddress).
  /// Every entry the keys in [0, keyEnd) of a row reach must be checked
  /// before the loop nest runs.
  Value blockTable;
  Value pageSize; ///< index, with blockTable
  /// Optional f32 [B, Hkv] scales of 8-bit caches: key/value element
  /// (b, g, j, d) reads as code * scale[b, g].
  Value keyScale, valueScale;
  /// Optional [B, Sq, Sq] or [Sq, Sq] i1/i8 tree mask over a decode's new
  /// tokens (Sq == Sn): key j at or after the first query's position
  /// (offset) is visible to query row i only if tree[b, i, j - offset].
  Value treeMask;
  /// Optional index W: key and value are rings of W slots per batch row and
  /// key j lives in slot j % W (see keyAddress); the window keeps every key
  /// read within the last W positions.
  Value ringSlots;
  /// Optional [B, 1, *, rope] rotary keys of a latent (MLA) decode: key row
  /// j is [key[b, 0, j, :], keyRope[b, 0, j, :]] (key is the latent, which
  /// is also `value`), read as two pieces (RowVectorKernel.cpp).
  Value keyRope;
};

/// Emits the loop nest at the builder's insertion point.
void buildFlashAttention(OpBuilder &b, Location loc, const FlashAttention &attn);

} // namespace mlir::attn

#endif // ATTN_LIB_CONVERSION_ATTNTOLOOPS_FLASHKERNEL_H
