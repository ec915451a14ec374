//===- GroupedDecodeKernel.cpp - decode work item for shared KV heads -----===//
//
// The partial result of a decode work item (one query row per head) of a KV
// head shared by G query heads, built like a small GEMM micro-kernel: every
// key and value row read serves all G heads from registers.
//
//   scores  S[k, r] = sum_d K[k, d] Q[r, d] for a tile of keys, in one of
//           two layouts:
//           - rows across the lanes (G > lanes / 2): K elements broadcast
//             against row vectors of Q^T, no horizontal sums;
//           - the head dimension across the lanes (G <= lanes / 2, MHA
//             included): the G rows padded to a power of two Gp, and
//             lanes / Gp keys x Gp rows of accumulators, folded into one
//             vector of scores (key-major, row-minor) by a tree of
//             shuffles and adds instead of one horizontal sum per score;
//             the softmax state is then kept "row-periodic" (lane i holds
//             row i mod Gp), so the online softmax runs on full vectors;
//   softmax the online update, vectorised (exp in the vector unit, the
//           short polynomial of VectorExp.cpp: at G = 32 there is one exp
//           per 32 FMAs); with the rows across, the tile's maximum is
//           taken from the score accumulators before they are stored (a
//           tree per key block), not by reloading the scores;
//   values  Acc = Acc * alpha + P^T V, in the layout of the scores:
//           - rows across: Acc^T[dv, rows], the score loop's micro-kernel
//             again (12 value elements broadcast against 2 probability
//             row vectors at G = 32; alpha is a row vector), so each
//             value element is read once per tile; a tile where no row's
//             maximum grew (alpha all 1) takes a copy of the loops without
//             the rescale's multiplies;
//           - periodic: the value dimension across the lanes, all G rows x
//             a block of value chunks of accumulators, one broadcast
//             probability per row and one vector load of the value row
//             per chunk, so each value element is read once per tile, in
//             address order; on Zen 4 an f32 value row too long for all G
//             rows takes blocks of whole rows of ceil(G / 4) query rows
//             instead (wholeValueRowBlock), each pass reading the tile's
//             rows whole.
//
// Caches of another element type (f16, bf16, 8-bit codes) are read at their
// own width and widened in registers right where the blocked loops use them
// (vcvtph2ps for f16, a shift for bf16), so the cache is read once, at its
// width, with no f32 copy in memory. A bf16 cache is widened two vectors at
// a time without a shuffle: one 2L-element load read as L 32-bit words
// gives the even elements as `word << 16` and the odd ones as
// `word & 0xffff0000` (one ALU op per L elements, against a zero-extending
// shuffle plus a shift). The kernel keeps those vectors in that order: the
// queries are stored even/odd split per block of 2L (a dot product does not
// care about the order) and so are the value accumulators (rows of Acc^T
// with the rows across), put back in order once, when the partial result
// is written. The rows-across layout broadcasts single key and value
// elements, each against G / lanes vectors; there a non-f32 key tile and
// value tile are widened once per tile into one f32 stack tile (key rows,
// then, once the scores are made, value rows); with a.overlapTileWidening
// (Zen 4) into two tiles, each one a vector per step of the other phase's
// FMA loop (TileWidening.cpp; 2-7% faster in a C model, within the noise
// of the loaded machine on the kernel). On targets whose vector ALU
// ops issue beside the 512-bit FMAs (AMD Zen 4: one 512-bit FMA per cycle;
// a.inlineBF16Widening) a bf16 cache skips that tile: the FMA loops
// broadcast one 32-bit word (2 elements) straight from the cache and widen
// it with a shift and a mask, two head-dimension (or value) elements per
// step, in natural order (a C micro-kernel of that shape runs at the FMA
// peak there; MQA bf16 8-10% faster than with the tile). There too
// (a.keyRowsInOrder) the periodic layout with one row per key (MHA) reads
// each key row of a score block whole, in address order, with the head
// dimension unrolled: Zen 4's prefetchers follow that stream but not a line
// of each of 16 rows per step (MHA f16 / bf16 16-21% faster); those tiles
// take 64 keys instead of 32 (f16 / bf16 4-18% faster, f32 in order only
// with them). On f32 caches that straight-line block is interleaved across
// its rows again by LLVM's scheduler (16 independent FMA chains), so there
// the score loop runs over the keys, one whole row per step (keyRowLoop,
// KeyRowLoop.cpp), and each key or value step prefetches its row 2 KiB
// ahead instead of spreading the next tile's lines (MHA f32 1.1-1.2x). f16
// and bf16 caches take the same loop (their straight-line block spilled and
// vectorised its prefetch addresses; MHA bf16 1.2-1.3x, f16 within the
// noise, interleaved A/B on the loaded Zen 4: bench/RESULTS.md, branch
// cpu-decode-mem12). GQA-4 keeps the column loop: a key loop there (4 sums
// per key, queries from L1) was 0.6-0.9x.
//
// With a.bf16DotProducts (rows across, bf16 caches without scales) the FMA
// loops are AVX512_BF16 dot products instead: vdpbf16ps adds a[2i] b[2i] +
// a[2i+1] b[2i+1] into f32 lane i, 32 multiply-adds per instruction where
// an f32 FMA does 16. Scores: the 32-bit word of key elements (d, d + 1)
// broadcast as a bf16 pair against Q^T stored as bf16 pairs (lane r: Q[r,
// d], Q[r, d + 1]; the scaled queries rounded to bf16 once). Values: pairs
// of keys; the value rows of keys 2j and 2j + 1 are interleaved once per
// tile into a bf16 pair tile (two loads, two shuffles and two stores per 32
// value elements of a pair, against 64 dot products per 32 elements at G
// 32), the probabilities of the two keys rounded to bf16 and interleaved
// the same way once per tile, so the dot loop is a 32-bit broadcast from
// the pair tile and a dot product per value element and row vector.
//
// With a.bf16DotProducts the periodic layout (GQA, 2 to 8 query heads per
// KV head) on a bf16 key cache computes its scores with vdpbf16ps too
// (periodicDot): the scaled queries rounded to bf16 once and stored in
// natural order [Gp, D]; per step of 32 head-dimension elements one 64-byte
// load of each key row of the block, used as is, against each row's 32
// query elements: Gp dot products per key row and step where the FMA form
// widened the row into two vectors and issued 2 Gp FMAs. Lane i of a sum
// adds elements 2i and 2i + 1; the fold into scores sums every lane, as
// before. On a bf16 value cache P.V takes pairs of keys
// (periodicValueDot): once per tile the probabilities are rounded to bf16
// and interleaved per row and key pair by a static shuffle
// (periodicProbPairs); per key pair and block of 32 value elements the two
// value rows' 32-bit words give the even pairs (w0 & 0xffff) | (w1 << 16)
// and the odd ones (w0 >> 16) | (w1 & 0xffff0000), four integer ops, in the
// even/odd split order the accumulators already keep, each against the
// row's broadcast probability pair: Gp dot products per 32 elements and
// key pair where the FMA form issued 4 Gp FMAs. An odd count's last key
// takes the FMA form (a missing second key could read a NaN row). GQA-4
// on a bf16 cache from DRAM on the Zen 4 VM, 1 thread, interleaved against
// --bf16-dot-products=off: Q.K alone 1.11-1.14x, with P.V 1.17-1.25x (P.V
// over Q.K alone 1.05-1.08x); on 2 threads within 0.94-1.20x, memory bound
// (bench/RESULTS.md).
//
// The key and value rows of the next tile are prefetched into L2 (contiguous
// caches), one prefetch per cache line, spread thinly over the tile's work:
// the key lines over the head-dimension steps of the score loop, the value
// lines over the key steps of every value block, through flat views of the
// caches, so a prefetch costs an add and a min. All of them at the start of
// the tile, into L1 (as at first), stalled the core on the line fill buffers
// until most of the next tile had arrived, so the memory transfer and the
// arithmetic ran one after the other instead of together, and evicted the
// tile being used from L1. One key row (8-16 lines) per key step of the
// first value blocks (the form before) still came in bursts: MQA at f32 needs
// 1 KiB per key, about 2/3 of a core's DRAM bandwidth at the FMA peak, and
// GQA-4 is memory bound; the spread form gained 10-20% on both. Caches
// with another layout (none today) keep the per-row form.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr int64_t kTargetTileKeys = 32; // keys per online-softmax step
/// How far ahead of the key (value) row being read keyRowLoop prefetches
/// into L2. Measured on Zen 4 (MHA f32, B 1 S 16384, CPU time, 5 interleaved
/// rounds at load 14): medians 1 KiB 30.3, 2 KiB 26.3, 3 KiB 28.8, 4 KiB
/// 26.5 ms, against 34.3 ms for the straight-line form with the next tile
/// spread.
constexpr int64_t kRowPrefetchBytes = 2048;

/// The vector length the kernel uses for `a`, or 0 when it does not apply.
int64_t groupedLanes(const FlashAttention &a, const Plan &plan) {
  // Tree masks, ring caches and latent (two-piece) keys stay on the row
  // kernels, which apply the tree per key, read ring slots without this
  // kernel's contiguous prefetch, and join the latent and rotary key parts.
  if (plan.queryTile != 1 || a.mask || a.treeMask || a.ringSlots || a.keyRope)
    return 0;
  for (int64_t lanes : {a.rowLanes, kWidth})
    if (plan.headDim % lanes == 0 && plan.valueDim % lanes == 0)
      return lanes;
  return 0;
}

int64_t powerOfTwoCeil(int64_t x) {
  int64_t p = 1;
  while (p < x)
    p *= 2;
  return p;
}

/// Accumulator registers: 16 f32 registers on AVX2, 32 on AVX-512; the
/// rest hold operands.
int64_t registerBudget(int64_t lanes) { return lanes == 16 ? 24 : 12; }

struct TileShape {
  int64_t paddedRows, chunkBlock, keyBlock, tileKeys;
};

/// Whether the periodic layout reads each key row of a score block whole,
/// in address order (a.keyRowsInOrder: one row per key; see
/// scoreRowsInOrder).
bool keyRowsInOrder(const FlashAttention &a, int64_t lanes, int64_t group) {
  return a.keyRowsInOrder && group == 1 && lanes > 0;
}

/// Query rows per value block when the periodic layout's value blocks take
/// whole value rows of `chunks` vectors (0: they do not, and take all G
/// rows and the part of a row that fits): ceil(G / 4), on a target that
/// reads key rows in order (a.keyRowsInOrder), for f32 value caches whose
/// rows do not fit whole for all G rows (G x chunks accumulators over the
/// budget) but do for ceil(G / 4). Each pass over the tile then reads the
/// value rows whole, in address order, and the four passes spread the
/// next tile's value prefetches twice as thin. Measured on the Zen 4 VM
/// (f32 caches from DRAM, D 128, 1 GiB of K and V, interleaved in random
/// order under SCHED_FIFO against a copy of the old kernel, paired medians;
/// bench/RESULTS.md): GQA-4 B 1 and 8 1.13x on 1 thread, 1.04-1.06x on 2
/// (one row per block; two: 1.07x); G 8 1.08x / 1.04x (two rows; one:
/// 0.98x). In L3 (S 1024) it costs 10% (more accumulator loads and
/// stores); f16 caches lost 16-20% with one row (each pass widens the rows
/// again), so they keep the partial rows.
int64_t wholeValueRowBlock(const FlashAttention &a, int64_t group,
                           int64_t chunks, int64_t budget) {
  int64_t rows = (group + 3) / 4;
  bool f32 = cast<MemRefType>(a.value.getType()).getElementType().isF32();
  return a.keyRowsInOrder && group > 1 && f32 && !a.valueScale &&
                 group * chunks > budget && rows * chunks <= budget
             ? rows
             : 0;
}

/// Keys per tile the shape aims at.
///
/// `inOrder` (keyRowsInOrder): 2 * kTargetTileKeys. Measured on Zen 4 (MHA
/// f16 / bf16, B 1 and 8, S 8192-16384, 1 and 2 threads, CPU time at load
/// 5-8): the best of 4-6 interleaved runs 4-18% faster than with 32 keys in
/// 9 of 12 comparisons, equal in 1, 5-7% slower in 2 (the per-tile softmax,
/// rescale and accumulator loads and stores of the value blocks are spread
/// over twice the keys, and the next tile's prefetches run twice as far
/// ahead). MHA f32 (in order only with 64-key tiles): B 8 S 8192 1.06-1.16x
/// faster (best run; medians 1.09-1.10x) in 3 comparisons, B 1 S 16384
/// mixed (see bench/RESULTS.md); in order with 32-key tiles it was within
/// noise.
///
/// The periodic layout with G > 1 (GQA): a.groupedTileKeys when set (no
/// target sets it; tried at 128 for the same reasons). Measured on Zen 4 (GQA-4 on f16 / bf16
/// caches from DRAM, B 1 and 8, 1 and 2 threads, CPU time at load 8-16, so
/// single rows moved by 10-20%; bench/RESULTS.md): 128-key tiles faster than
/// 32-key ones on the median in 10 of 11 interleaved comparisons
/// (0.92-1.31x; best runs 0.89-1.31x), 64 gave less, 256 no more; G 8
/// 1.08x, G 2 0.99x (best run, 3 rounds each). Against main in the bench's
/// A/B: bf16 1.12-1.26x, f16 0.81-0.97x; on the idle machine (3 rounds
/// against 32-key tiles, CPU time) f16 0.78-0.95x, f32 0.85-1.03x, bf16
/// 0.91-1.10x, so it is not the Zen 4 default.
///
/// G >= 4 on an f16 key cache: a.f16GroupedTileKeys when set (Zen 4: 128).
/// Since those measurements the kernel changed (the periodic score loop in
/// columns, spread prefetches, whole value rows for f32), and on the idle
/// Zen 4 VM (2026-12-05, interleaved under SCHED_FIFO, 8 rounds, paired
/// medians) GQA-4 f16 from DRAM took 1.12x (B 1) and 1.05x (B 8) on one
/// thread, 0.97-0.98x on two (memory bound); G 8 1.03-1.06x; G 2 0.97x and
/// bf16 / f32 caches 0.75-0.94x on one thread, so only f16 with G >= 4. In
/// L2 the one-thread step is 22.6 against 24.7 ns per key row: that decode
/// is bound by the FP pipes there (vcvtph2ps and the score fold's
/// shuffles compete with the FMAs), and the longer tile spreads the per-tile
/// softmax, rescale and accumulator loads and stores over 4x the keys.
int64_t tileTarget(const FlashAttention &a, int64_t lanes, int64_t group,
                   bool inOrder) {
  bool f16Keys = cast<MemRefType>(a.key.getType()).getElementType().isF16();
  if (a.f16GroupedTileKeys > 0 && f16Keys && group >= 4 && 2 * group <= lanes)
    return a.f16GroupedTileKeys;
  if (a.groupedTileKeys > 0 && group > 1 && 2 * group <= lanes)
    return a.groupedTileKeys;
  return inOrder ? 2 * kTargetTileKeys : kTargetTileKeys;
}

TileShape tileShape(int64_t lanes, int64_t group, int64_t target) {
  TileShape t;
  if (2 * group > lanes) { // rows across
    t.paddedRows = roundUp(group, lanes);
    int64_t chunks = t.paddedRows / lanes;
    t.chunkBlock = chunks % 2 == 0 ? 2 : 1;
    t.keyBlock = registerBudget(lanes) / t.chunkBlock;
  } else {
    // lanes / Gp keys x Gp rows: one vector of scores per key block.
    t.paddedRows = powerOfTwoCeil(group);
    t.chunkBlock = 1;
    t.keyBlock = lanes / t.paddedRows;
  }
  t.tileKeys = t.keyBlock * ((target + t.keyBlock - 1) / t.keyBlock);
  return t;
}

class GroupedDecodeKernel {
public:
  GroupedDecodeKernel(Emitter &e, const FlashAttention &a, const Plan &plan,
                      ValueRange item)
      : e(e), ob(e.b), a(a), plan(plan), b(item[0]), g(item[1]), t(item[2]),
        s(item[3]) {
    lanes = groupedLanes(a, plan);
    group = plan.group;
    int64_t budget = registerBudget(lanes);
    rowsAcross = 2 * group > lanes;
    auto contiguous = [](Value cache) {
      return cast<MemRefType>(cache.getType()).getLayout().isIdentity();
    };
    spreadPrefetch = !a.blockTable && contiguous(a.key) &&
                     contiguous(a.value);
    inOrder = keyRowsInOrder(a, lanes, group);
    // f32, f16 and bf16 caches (see KeyRowLoop.cpp); 8-bit codes keep the
    // straight-line block.
    auto floatCache = [](Value cache) {
      Type t = getElementTypeOrSelf(cache.getType());
      return t.isF32() || t.isF16() || t.isBF16();
    };
    keyRowLoop = inOrder && spreadPrefetch && floatCache(a.key) &&
                 floatCache(a.value) && !a.keyScale && !a.valueScale;
    TileShape shape =
        tileShape(lanes, group, tileTarget(a, lanes, group, inOrder));
    paddedRows = shape.paddedRows;
    chunkBlock = shape.chunkBlock;
    keyBlock = shape.keyBlock;
    tileKeys = shape.tileKeys;
    // Values: rows x value chunks of accumulators. Few rows: all of them
    // and the largest block of chunks that divides the row and fits, so
    // each value element is loaded once per tile. Many rows (compute
    // bound): whole value rows and as many rows as fit, which needs fewer
    // loads per FMA.
    int64_t valueChunks = plan.valueDim / lanes;
    auto isBF16 = [](Value cache) {
      return cast<MemRefType>(cache.getType()).getElementType().isBF16();
    };
    if (!rowsAcross) {
      valueRowBlock = group;
      valueChunkBlock = 1;
      if (int64_t rows = wholeValueRowBlock(a, group, valueChunks, budget)) {
        valueRowBlock = rows;
        valueChunkBlock = valueChunks;
      } else {
        for (int64_t c = 1; c <= valueChunks; ++c)
          if (valueChunks % c == 0 && c * group <= budget)
            valueChunkBlock = c;
      }
      splitKeys = isBF16(a.key) && plan.headDim % (2 * lanes) == 0;
      splitValues = isBF16(a.value) && valueChunkBlock % 2 == 0;
    }
  }

  void build(Value keyBegin, Value keyEnd, Value scratch) {
    auto stackBuffer = [&](ArrayRef<int64_t> shape) {
      return stackTile(e, a, shape);
    };
    if (rowsAcross)
      queries = stackBuffer({plan.headDim, paddedRows}); // Q^T
    else
      queries = stackBuffer({paddedRows, plan.headDim});
    // Rows across: Acc^T [value dim, rows] (see accumulateValuesAcross).
    acc = rowsAcross ? stackBuffer({plan.valueDim, paddedRows})
                     : stackBuffer({group, plan.valueDim});
    // Rows across: [key, row]; periodic: the same, flat (key-major).
    scores = rowsAcross ? stackBuffer({tileKeys, paddedRows})
                        : stackBuffer({tileKeys * paddedRows});
    if (keyRowLoop)
      rowSums = stackBuffer({tileKeys * lanes});
    int64_t stateLanes = rowsAcross ? paddedRows : lanes;
    if (rowsAcross)
      tileMax = stackBuffer({paddedRows});
    runMax = stackBuffer({stateLanes});
    runSum = stackBuffer({stateLanes});
    alpha = stackBuffer({stateLanes});
    auto isBF16 = [](Value cache) {
      return cast<MemRefType>(cache.getType()).getElementType().isBF16();
    };
    // bf16 elements widened in the FMA loops (see inlineKeys).
    inlineKeys = rowsAcross && a.inlineBF16Widening && isBF16(a.key) &&
                 !a.keyScale && plan.headDim % 2 == 0;
    inlineValues = rowsAcross && a.inlineBF16Widening && isBF16(a.value) &&
                   !a.valueScale && plan.valueDim % 2 == 0 &&
                   keyBlock % 2 == 0;
    // vdpbf16ps (see the file comment): bf16 keys and values, 16 lanes.
    dotProducts = rowsAcross && a.bf16DotProducts && lanes == 16 &&
                  isBF16(a.key) && isBF16(a.value) && !a.keyScale &&
                  !a.valueScale && plan.headDim % 2 == 0 &&
                  tileKeys % 2 == 0;
    if (dotProducts) {
      inlineKeys = true;
      inlineValues = false;
      Type bf16 = ob.getBF16Type();
      dotQueries = stackTileOf(bf16, {plan.headDim / 2, 2 * paddedRows});
      pairTile = stackTileOf(bf16, {tileKeys / 2, 2 * plan.valueDim});
      probPairs = stackTileOf(bf16, {tileKeys / 2, 2 * paddedRows});
    }
    periodicDot = !rowsAcross && !inOrder && !keyRowLoop && group >= 2 &&
                  a.bf16DotProducts && lanes == 16 && isBF16(a.key) &&
                  !a.keyScale && plan.headDim % (2 * lanes) == 0;
    if (periodicDot)
      periodicQueries =
          stackTileOf(ob.getBF16Type(), {paddedRows, plan.headDim});
    periodicValueDot = periodicDot && splitValues && isBF16(a.value) &&
                       !a.valueScale && (tileKeys * paddedRows) % lanes == 0;
    if (periodicValueDot)
      periodicProbPairs =
          stackTileOf(ob.getBF16Type(), {tileKeys * paddedRows});
    if (rowsAcross && !getElementTypeOrSelf(a.key.getType()).isF32() &&
        !inlineKeys)
      keyTile = stackBuffer({tileKeys, plan.headDim});
    // One buffer for both tiles when they have the same shape: the key tile
    // is dead once the scores are made, so the value tile's stores (and the
    // next key tile's) find their lines in L1 instead of reading them back
    // from L2 for ownership.
    bool needValueTile = rowsAcross &&
                         !getElementTypeOrSelf(a.value.getType()).isF32() &&
                         !inlineValues && !dotProducts;
    splitKeyTile =
        keyTile && isBF16(a.key) && plan.headDim % (2 * lanes) == 0;
    splitValueTile = needValueTile && isBF16(a.value) &&
                     plan.valueDim % (2 * lanes) == 0;
    // Each tile widened during the other phase's FMA loop (TileWidening.cpp):
    // two buffers.
    overlapWidening = a.overlapTileWidening && keyTile && needValueTile &&
                      !splitKeyTile && !splitValueTile;
    if (needValueTile)
      valueTile = keyTile && plan.headDim == plan.valueDim && !overlapWidening
                      ? keyTile
                      : stackBuffer({tileKeys, plan.valueDim});

    loadQueries();
    if (spreadPrefetch) {
      SmallVector<ReassociationIndices> all{{0, 1, 2, 3}};
      keyFlat = memref::CollapseShapeOp::create(ob, e.loc, a.key, all);
      valueFlat = memref::CollapseShapeOp::create(ob, e.loc, a.value, all);
    }
    lastKey = e.sub(keyEnd, e.idx(1));
    if (overlapWidening)
      widenKeyTile(keyBegin, e.min(e.idx(tileKeys), e.sub(keyEnd, keyBegin)));
    e.loop(keyBegin, keyEnd, e.idx(tileKeys), [&](Value kt) {
      Value count = e.min(e.idx(tileKeys), e.sub(keyEnd, kt));
      if (spreadPrefetch) {
        keySpan = nextTileSpan(a.key, plan.headDim, kt);
        valueSpan = nextTileSpan(a.value, plan.valueDim, kt);
      }
      if (rowsAcross) {
        if (keyTile && !overlapWidening)
          widenKeyTile(kt, count);
        scoresRowsAcross(kt, count);
        e.loop(e.idx(0), e.idx(paddedRows), e.idx(lanes), [&](Value off) {
          onlineSoftmaxColumns(e, scores, runMax, runSum, alpha, off,
                               tileKeys, lanes, /*hiddenKeys=*/false,
                               e.loadVec(tileMax, {off}, lanes));
        });
      } else {
        scoresPeriodic(kt, count);
        softmaxPeriodic();
        if (periodicValueDot)
          makeProbPairsPeriodic();
      }
      if (valueTile && !overlapWidening)
        widenValueTile(kt, count);
      if (dotProducts)
        makePairTiles(kt, count);
      if (rowsAcross)
        accumulateValuesAcrossIfRescaled(kt, count);
      else
        accumulateValues(kt, count);
    });
    writePartial(scratch);
  }

private:
  /// `lanes` elements of cache[kb, g, kj, d0..], widened and scaled.
  Value readCache(Value cache, Value scale, Value kb, Value kj, Value d0) {
    Type element = cast<MemRefType>(cache.getType()).getElementType();
    Value pad = arith::ConstantOp::create(ob, e.loc, ob.getZeroAttr(element));
    Value v = vector::TransferReadOp::create(
        ob, e.loc, VectorType::get({lanes}, element), cache,
        ValueRange{kb, g, kj, d0}, pad, ArrayRef<bool>{true});
    return applyCacheScale(e, e.toF32(v), scale, b, g);
  }

  /// Elements d0 .. d0 + 2 * lanes of a bf16 cache row as `lanes` 32-bit
  /// words (element pairs).
  Value readWords(Value cache, Value kb, Value kj, Value d0) {
    auto cacheType = cast<MemRefType>(cache.getType());
    Value pad = arith::ConstantOp::create(
        ob, e.loc, ob.getZeroAttr(cacheType.getElementType()));
    Value raw = vector::TransferReadOp::create(
        ob, e.loc, VectorType::get({2 * lanes}, cacheType.getElementType()),
        cache, ValueRange{kb, g, kj, d0}, pad, ArrayRef<bool>{true});
    return vector::BitCastOp::create(
        ob, e.loc, VectorType::get({lanes}, ob.getI32Type()), raw);
  }

  /// Elements d0 .. d0 + 2 * lanes of a bf16 cache row as two f32 vectors:
  /// the even elements, then the odd ones (see the file comment).
  std::pair<Value, Value> readBF16Split(Value cache, Value kb, Value kj,
                                        Value d0) {
    return splitBF16Words(readWords(cache, kb, kj, d0));
  }

  /// Elements d and d + 1 of a bf16 cache row, each broadcast to an f32
  /// vector: one 32-bit word broadcast, `<< 16` (element d) and
  /// `& 0xffff0000` (element d + 1).
  std::pair<Value, Value> broadcastBF16Pair(Value cache,
                                            std::pair<Value, Value> key,
                                            Value d) {
    auto cacheType = cast<MemRefType>(cache.getType());
    Value raw = vector::LoadOp::create(
        ob, e.loc, VectorType::get({2}, cacheType.getElementType()), cache,
        ValueRange{key.first, g, key.second, d});
    Value word = vector::BitCastOp::create(
        ob, e.loc, VectorType::get({1}, ob.getI32Type()), raw);
    Value words = vector::BroadcastOp::create(
        ob, e.loc, VectorType::get({lanes}, ob.getI32Type()),
        vector::ExtractOp::create(ob, e.loc, word, 0));
    return splitBF16Words(words);
  }

  /// 32-bit words holding bf16 pairs as two f32 vectors: the even elements
  /// (`word << 16`) and the odd ones (`word & 0xffff0000`).
  std::pair<Value, Value> splitBF16Words(Value words) {
    auto wordType = cast<VectorType>(words.getType());
    auto f32Type = VectorType::get(wordType.getShape(), ob.getF32Type());
    auto splatI32 = [&](int64_t v) {
      return arith::ConstantOp::create(
          ob, e.loc, DenseElementsAttr::get(wordType, APInt(32, v)));
    };
    Value even = arith::ShLIOp::create(ob, e.loc, words, splatI32(16));
    Value odd = arith::AndIOp::create(ob, e.loc, words, splatI32(0xffff0000));
    return {vector::BitCastOp::create(ob, e.loc, f32Type, even),
            vector::BitCastOp::create(ob, e.loc, f32Type, odd)};
  }

  /// Where element d of a row is kept when rows are even/odd split per
  /// block of 2 * lanes.
  Value splitPosition(Value d) {
    Value block = e.idx(2 * lanes);
    Value w = e.rem(d, block);
    return e.add(e.sub(d, w),
                 e.add(e.mul(e.rem(w, e.idx(2)), e.idx(lanes)),
                       e.div(w, e.idx(2))));
  }

  /// keyTile[k, :] = widened (and scaled) key row kt + k for k < count.
  void widenKeyTile(Value kt, Value count) {
    e.loop(e.idx(0), count, e.idx(1), [&](Value k) {
      auto [kb, kj] = keyAddress(e, a, b, e.add(kt, k));
      if (splitKeyTile) {
        widenSplit(a.key, kb, kj, k, plan.headDim);
        return;
      }
      for (int64_t c = 0; c < plan.headDim; c += lanes)
        e.storeVec(readCache(a.key, a.keyScale, kb, kj, e.idx(c)), keyTile,
                   {k, e.idx(c)});
    });
  }

  /// Row k of the (shared) f32 tile = a bf16 cache row even/odd split per
  /// block of 2 * lanes: one shift or one mask per lanes elements.
  void widenSplit(Value cache, Value kb, Value kj, Value k, int64_t dims) {
    Value tile = cache == a.key ? keyTile : valueTile;
    for (int64_t c = 0; c < dims; c += 2 * lanes) {
      auto [even, odd] = readBF16Split(cache, kb, kj, e.idx(c));
      e.storeVec(even, tile, {k, e.idx(c)});
      e.storeVec(odd, tile, {k, e.idx(c + lanes)});
    }
  }

  /// valueTile[k, :] = widened (and scaled) value row kt + k for k < count.
  void widenValueTile(Value kt, Value count) {
    e.loop(e.idx(0), count, e.idx(1), [&](Value k) {
      auto [kb, kj] = keyAddress(e, a, b, e.add(kt, k));
      if (splitValueTile) {
        widenSplit(a.value, kb, kj, k, plan.valueDim);
        return;
      }
      for (int64_t c = 0; c < plan.valueDim; c += lanes)
        e.storeVec(readCache(a.value, a.valueScale, kb, kj, e.idx(c)),
                   valueTile, {k, e.idx(c)});
    });
  }

  /// Element d of key row kt + k, as f32.
  Value keyElement(Value k, std::pair<Value, Value> key, Value d) {
    if (keyTile)
      return memref::LoadOp::create(ob, e.loc, keyTile, ValueRange{k, d});
    Value x = memref::LoadOp::create(ob, e.loc, a.key,
                                     ValueRange{key.first, g, key.second, d});
    return applyCacheScale(e, e.toF32(x), a.keyScale, b, g);
  }

  /// Scaled queries (Q^T when rows run across lanes; 0 in padding rows);
  /// running max -inf, sum and Acc 0.
  void loadQueries() {
    Value scale = e.f32(a.scale), zeroF = e.f32(0.0);
    e.loop(0, paddedRows, [&](Value r) {
      Value real = e.cmp(arith::CmpIPredicate::ult, r, e.idx(group));
      Value head =
          e.add(e.mul(g, e.idx(group)), e.select(real, r, e.idx(0)));
      Value rowScale = e.select(real, scale, zeroF);
      e.loop(0, plan.headDim, [&](Value d) {
        Value q = memref::LoadOp::create(ob, e.loc, a.query,
                                         ValueRange{b, head, t, d});
        q = arith::MulFOp::create(ob, e.loc, e.toF32(q), rowScale);
        if (dotProducts) // lane r of pair d / 2: (Q[r, d], Q[r, d + 1])
          memref::StoreOp::create(
              ob, e.loc,
              arith::TruncFOp::create(ob, e.loc, ob.getBF16Type(), q),
              dotQueries,
              ValueRange{e.div(d, e.idx(2)),
                         e.add(e.mul(r, e.idx(2)), e.rem(d, e.idx(2)))});
        if (periodicDot) // row r, element d
          memref::StoreOp::create(
              ob, e.loc,
              arith::TruncFOp::create(ob, e.loc, ob.getBF16Type(), q),
              periodicQueries, ValueRange{r, d});
        memref::StoreOp::create(
            ob, e.loc, q, queries,
            rowsAcross ? ValueRange{splitKeyTile ? splitPosition(d) : d, r}
                       : ValueRange{r, splitKeys ? splitPosition(d) : d});
      });
    });
    int64_t stateLanes = rowsAcross ? paddedRows : lanes;
    for (int64_t off = 0; off < stateLanes; off += lanes) {
      e.storeVec(negInfVec(lanes), runMax, {e.idx(off)});
      e.storeVec(e.splat(zeroF, lanes), runSum, {e.idx(off)});
    }
    if (rowsAcross) {
      e.loop(0, plan.valueDim, [&](Value dv) {
        for (int64_t c = 0; c < paddedRows; c += lanes)
          e.storeVec(e.splat(zeroF, lanes), acc, {dv, e.idx(c)});
      });
      return;
    }
    e.loop(0, group, [&](Value r) {
      for (int64_t c = 0; c < plan.valueDim; c += lanes)
        e.storeVec(e.splat(zeroF, lanes), acc, {r, e.idx(c)});
    });
  }

  Value negInfVec(int64_t n) {
    return e.splat(e.f32(-std::numeric_limits<double>::infinity()), n);
  }

  Value softcap(Value score) {
    if (!a.softcap)
      return score;
    Value inv = e.f32(1.0 / *a.softcap), cap = e.f32(*a.softcap);
    if (auto vt = dyn_cast<VectorType>(score.getType())) {
      inv = e.splat(inv, vt.getNumElements());
      cap = e.splat(cap, vt.getNumElements());
    }
    Value x = arith::MulFOp::create(ob, e.loc, score, inv);
    return arith::MulFOp::create(ob, e.loc, math::TanhOp::create(ob, e.loc, x),
                                 cap);
  }

  /// Keys kt + k0 .. kt + k0 + keyBlock, clamped to the last one of the tile
  /// (the scores of clamped keys are replaced by -inf).
  SmallVector<std::pair<Value, Value>> keyBlockAddresses(Value kt, Value k0,
                                                         Value count) {
    Value last = e.sub(e.add(kt, count), e.idx(1));
    SmallVector<std::pair<Value, Value>> keys;
    for (int64_t k = 0; k < keyBlock; ++k)
      keys.push_back(
          keyAddress(e, a, b, e.min(e.add(kt, e.add(k0, e.idx(k))), last)));
    return keys;
  }

  /// Local index of key k of the block at k0, clamped below `count`.
  Value clampedLocal(Value k0, int64_t k, Value count) {
    return e.min(e.add(k0, e.idx(k)), e.sub(count, e.idx(1)));
  }

  /// S^T[k, rows]: rows across the lanes, keyBlock K elements broadcast per
  /// head-dimension step against chunkBlock row vectors of Q^T. A full tile
  /// (every tile but the last) of a contiguous f32 cache or of the widened
  /// key tile reads its key rows at kt + k0 + k: one base address and
  /// constant offsets, instead of keyBlock clamped row indices that do not
  /// fit in the scalar registers (with the key tile, LLVM spilled vector
  /// accumulators for them: half-cache MQA at B=8 ran at ~75 GFLOP/s).
  void scoresRowsAcross(Value kt, Value count) {
    for (int64_t off = 0; off < paddedRows; off += lanes)
      e.storeVec(negInfVec(lanes), tileMax, {e.idx(off)});
    if (a.blockTable && !keyTile) {
      scoreBlocksRowsAcross(kt, count, /*clamp=*/true);
      return;
    }
    Value full = e.cmp(arith::CmpIPredicate::eq, count, e.idx(tileKeys));
    auto branch = scf::IfOp::create(ob, e.loc, full, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(ob);
    ob.setInsertionPointToStart(branch.thenBlock());
    scoreBlocksRowsAcross(kt, count, /*clamp=*/false);
    ob.setInsertionPointToStart(branch.elseBlock());
    scoreBlocksRowsAcross(kt, count, /*clamp=*/true);
  }

  void scoreBlocksRowsAcross(Value kt, Value count, bool clamp) {
    int64_t chunks = paddedRows / lanes;
    int64_t keyBlocks = tileKeys / keyBlock;
    // Head-dimension elements per step: 2 when a bf16 word is widened in
    // the loop (inlineKeys).
    int64_t step = inlineKeys ? 2 : 1;
    int64_t dSteps = plan.headDim / step;
    int64_t slots = chunks / chunkBlock * keyBlocks * dSteps;
    e.loop(e.idx(0), e.idx(chunks), e.idx(chunkBlock), [&](Value c0) {
      e.loop(e.idx(0), e.idx(tileKeys), e.idx(keyBlock), [&](Value k0) {
        SmallVector<std::pair<Value, Value>> keys;
        SmallVector<Value> locals;
        if (!keyTile && clamp) {
          keys = keyBlockAddresses(kt, k0, count);
        } else if (!keyTile) {
          Value first = e.add(kt, k0);
          for (int64_t k = 0; k < keyBlock; ++k)
            keys.push_back({b, e.add(first, e.idx(k))});
        }
        for (int64_t k = 0; k < keyBlock; ++k)
          locals.push_back(clamp ? clampedLocal(k0, k, count)
                                 : e.add(k0, e.idx(k)));
        // Slot of the first head-dimension step of this block.
        Value slot0 = e.mul(
            e.add(e.mul(e.div(c0, e.idx(chunkBlock)), e.idx(keyBlocks)),
                  e.div(k0, e.idx(keyBlock))),
            e.idx(dSteps));
        SmallVector<Value> init(keyBlock * chunkBlock,
                                e.splat(e.f32(0.0), lanes));
        auto dLoop = scf::ForOp::create(ob, e.loc, e.idx(0),
                                        e.idx(plan.headDim), e.idx(step),
                                        init);
        {
          OpBuilder::InsertionGuard guard(ob);
          ob.setInsertionPointToStart(dLoop.getBody());
          Value d = dLoop.getInductionVar();
          if (spreadPrefetch)
            prefetchSpread(keyFlat, keySpan,
                           e.add(slot0, step == 1 ? d : e.div(d, e.idx(step))),
                           slots);
          // This tile's value rows (step is 1: no inline keys).
          if (overlapWidening)
            widenTileSlot(e, a, b, g, a.value, a.valueScale, valueTile, kt,
                          lastKey, e.add(slot0, d), slots, tileKeys,
                          plan.valueDim, lanes);
          SmallVector<Value> sums(dLoop.getRegionIterArgs());
          SmallVector<Value> q;
          if (dotProducts) {
            for (int64_t c = 0; c < chunkBlock; ++c)
              q.push_back(loadPairs(dotQueries, e.div(d, e.idx(2)),
                                    chunkOffset(c0, c)));
            for (int64_t k = 0; k < keyBlock; ++k) {
              Value pair = broadcastWord(
                  a.key, {keys[k].first, g, keys[k].second, d});
              for (int64_t c = 0; c < chunkBlock; ++c)
                sums[k * chunkBlock + c] =
                    dotBF16(sums[k * chunkBlock + c], pair, q[c]);
            }
          } else {
            for (int64_t part = 0; part < step; ++part)
              for (int64_t c = 0; c < chunkBlock; ++c)
                q.push_back(e.loadVec(
                    queries, {e.add(d, e.idx(part)), chunkOffset(c0, c)},
                    lanes));
            for (int64_t k = 0; inlineKeys && k < keyBlock; ++k) {
              auto [even, odd] = broadcastBF16Pair(a.key, keys[k], d);
              for (int64_t c = 0; c < chunkBlock; ++c)
                sums[k * chunkBlock + c] = vector::FMAOp::create(
                    ob, e.loc, even, q[c], sums[k * chunkBlock + c]);
              for (int64_t c = 0; c < chunkBlock; ++c)
                sums[k * chunkBlock + c] =
                    vector::FMAOp::create(ob, e.loc, odd, q[chunkBlock + c],
                                          sums[k * chunkBlock + c]);
            }
            for (int64_t k = 0; !inlineKeys && k < keyBlock; ++k) {
              Value kv = e.splat(
                  keyElement(locals[k],
                             keyTile ? std::pair<Value, Value>{} : keys[k], d),
                  lanes);
              for (int64_t c = 0; c < chunkBlock; ++c)
                sums[k * chunkBlock + c] = vector::FMAOp::create(
                    ob, e.loc, kv, q[c], sums[k * chunkBlock + c]);
            }
          }
          scf::YieldOp::create(ob, e.loc, sums);
        }
        // The block's scores, and their maximum per row into tileMax (a
        // tree over the registers, instead of a dependent chain of one
        // max per key reloading the scores in the softmax).
        SmallVector<SmallVector<Value>> blockScores(chunkBlock);
        for (int64_t k = 0; k < keyBlock; ++k) {
          Value kk = e.add(k0, e.idx(k));
          Value valid = e.cmp(arith::CmpIPredicate::ult, kk, count);
          for (int64_t c = 0; c < chunkBlock; ++c) {
            Value score = softcap(dLoop.getResult(k * chunkBlock + c));
            if (clamp)
              score = e.select(valid, score, negInfVec(lanes));
            e.storeVec(score, scores, {kk, chunkOffset(c0, c)});
            blockScores[c].push_back(score);
          }
        }
        for (int64_t c = 0; c < chunkBlock; ++c) {
          SmallVector<Value> m = blockScores[c];
          m.push_back(e.loadVec(tileMax, {chunkOffset(c0, c)}, lanes));
          while (m.size() > 1) {
            SmallVector<Value> next;
            for (size_t i = 0; i + 1 < m.size(); i += 2)
              next.push_back(vectorMax(e, m[i], m[i + 1]));
            if (m.size() % 2)
              next.push_back(m.back());
            m = std::move(next);
          }
          e.storeVec(m[0], tileMax, {chunkOffset(c0, c)});
        }
      });
    });
  }

  /// out[j] = sum of the lanes of sums[j] for lanes vectors of lanes lanes:
  /// log2(lanes) rounds, each halving the vectors by adding the two halves
  /// of every block of a pair side by side (2 shuffles and 1 add per pair).
  Value foldSums(SmallVector<Value> sums) {
    int64_t block = lanes;
    int64_t perVector = 1; // original vectors per vector
    while (sums.size() > 1) {
      int64_t half = block / 2;
      SmallVector<int64_t> loMask, hiMask;
      for (int64_t src = 0; src < 2; ++src)
        for (int64_t blk = 0; blk < perVector; ++blk)
          for (int64_t i = 0; i < half; ++i) {
            loMask.push_back(src * lanes + blk * block + i);
            hiMask.push_back(src * lanes + blk * block + half + i);
          }
      SmallVector<Value> next;
      for (size_t p = 0; p < sums.size(); p += 2) {
        Value lo = vector::ShuffleOp::create(ob, e.loc, sums[p], sums[p + 1],
                                             loMask);
        Value hi = vector::ShuffleOp::create(ob, e.loc, sums[p], sums[p + 1],
                                             hiMask);
        next.push_back(arith::AddFOp::create(ob, e.loc, lo, hi));
      }
      sums = std::move(next);
      block = half;
      perVector *= 2;
    }
    return sums[0];
  }

  /// Scores of the periodic layout: for each block of keyBlock keys, the
  /// head dimension across the lanes with keyBlock x Gp accumulators, folded
  /// into one vector scores[k0 * Gp ..] (-inf for keys past the tile).
  ///
  /// A full tile of a contiguous cache (every tile but the last) reads its
  /// key rows at kt + k0 + k: one base address and constant offsets, which
  /// LLVM folds into the loads' displacements. Clamped addresses (the last
  /// tile, paged caches) cost a compare, a select and an address
  /// computation per key and head-dimension step, kept inside the loop by
  /// the register pressure of keyBlock x Gp accumulators: more scalar
  /// instructions than vector ones for a half-precision cache, whose key
  /// row takes half as long to arrive as an f32 one.
  void scoresPeriodic(Value kt, Value count) {
    if (a.blockTable) {
      scoreBlocksPeriodic(kt, count, /*clamp=*/true);
      return;
    }
    Value full = e.cmp(arith::CmpIPredicate::eq, count, e.idx(tileKeys));
    auto branch = scf::IfOp::create(ob, e.loc, full, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(ob);
    ob.setInsertionPointToStart(branch.thenBlock());
    scoreBlocksPeriodic(kt, count, /*clamp=*/false);
    ob.setInsertionPointToStart(branch.elseBlock());
    scoreBlocksPeriodic(kt, count, /*clamp=*/true);
  }

  void scoreBlocksPeriodic(Value kt, Value count, bool clamp) {
    Type i32 = ob.getI32Type();
    SmallVector<int32_t> keyOfLane;
    for (int64_t j = 0; j < lanes; ++j)
      keyOfLane.push_back(j / paddedRows);
    auto laneKeyType = VectorType::get({lanes}, i32);
    Value laneKeys = arith::ConstantOp::create(
        ob, e.loc, DenseElementsAttr::get(laneKeyType, ArrayRef(keyOfLane)));
    // keyRowLoop: the per-key sums first, one key row per loop step, then
    // the blocks below fold them.
    if (keyRowLoop)
      emitKeyRowDots(e, a, b, g, kt, count, clamp, tileKeys, lanes,
                     plan.headDim, queries, rowSums, splitKeys,
                     [&](Value k) {
                       prefetchRowAhead(keyFlat, keySpan, a.key, plan.headDim,
                                        keyAddress(e, a, b, e.add(kt, k)));
                     });
    e.loop(e.idx(0), e.idx(tileKeys), e.idx(keyBlock), [&](Value k0) {
      SmallVector<std::pair<Value, Value>> keys;
      if (keyRowLoop) {
        // The sums are in rowSums.
      } else if (clamp) {
        keys = keyBlockAddresses(kt, k0, count);
      } else {
        Value first = e.add(kt, k0);
        for (int64_t k = 0; k < keyBlock; ++k)
          keys.push_back({b, e.add(first, e.idx(k))});
      }
      SmallVector<Value> init(keyBlock * paddedRows,
                              e.splat(e.f32(0.0), lanes));
      int64_t step = splitKeys ? 2 * lanes : lanes;
      SmallVector<Value> results;
      // Measured on Zen 4 (S 8192, 1 thread, CPU time): MHA f16/bf16
      // 16-21% faster in order, f32 within noise with 32-key tiles (faster
      // with 64), GQA-4 f16 1.9x slower (its 32 query vectors no longer
      // stay in registers).
      if (keyRowLoop) {
        for (int64_t k = 0; k < keyBlock; ++k)
          results.push_back(e.loadVec(
              rowSums, {e.mul(e.add(k0, e.idx(k)), e.idx(lanes))}, lanes));
      } else if (inOrder)
        results = scoreRowsInOrder(k0, keys, init, step);
      else
        results = scoreColumns(k0, keys, init, step);
      Value score = softcap(foldSums(results));
      if (!clamp) {
        e.storeVec(score, scores, {e.mul(k0, e.idx(paddedRows))});
        return;
      }
      // Lane j holds key k0 + j / Gp: valid while that is below count.
      Value left = arith::IndexCastOp::create(ob, e.loc, i32,
                                              e.sub(count, k0));
      Value leftVec = vector::BroadcastOp::create(ob, e.loc, laneKeyType, left);
      Value valid = arith::CmpIOp::create(ob, e.loc, arith::CmpIPredicate::slt,
                                          laneKeys, leftVec);
      score = e.select(valid, score, negInfVec(lanes));
      e.storeVec(score, scores, {e.mul(k0, e.idx(paddedRows))});
    });
  }

  /// The keyBlock x Gp sums of the periodic layout with the head dimension
  /// unrolled and each key row read whole, in address order (a.keyRowsInOrder,
  /// one row per key: MHA, on caches narrower than f32):
  /// the block's rows are then read as one sequential stream, which the
  /// hardware prefetcher follows, instead of a line of every row per step.
  /// The prefetch slots are the same as scoreColumns' (one per step),
  /// spread over the keys.
  SmallVector<Value> scoreRowsInOrder(Value k0,
                                      ArrayRef<std::pair<Value, Value>> keys,
                                      SmallVector<Value> sums, int64_t step) {
    int64_t dSteps = plan.headDim / step;
    Value blockNo = e.div(k0, e.idx(keyBlock));
    int64_t fired = 0;
    for (int64_t k = 0; k < keyBlock; ++k) {
      for (; spreadPrefetch && fired < dSteps &&
             fired * keyBlock <= k * dSteps;
           ++fired)
        prefetchSpread(keyFlat, keySpan,
                       e.add(e.mul(blockNo, e.idx(dSteps)), e.idx(fired)),
                       tileKeys / keyBlock * dSteps);
      for (int64_t d = 0; d < plan.headDim; d += step) {
        SmallVector<Value> kv;
        if (splitKeys) {
          auto [even, odd] =
              readBF16Split(a.key, keys[k].first, keys[k].second, e.idx(d));
          kv = {even, odd};
        } else {
          kv = {readCache(a.key, a.keyScale, keys[k].first, keys[k].second,
                          e.idx(d))};
        }
        for (int64_t part = 0; part < step / lanes; ++part)
          for (int64_t r = 0; r < paddedRows; ++r)
            sums[k * paddedRows + r] = vector::FMAOp::create(
                ob, e.loc, kv[part],
                e.loadVec(queries, {e.idx(r), e.idx(d + part * lanes)}, lanes),
                sums[k * paddedRows + r]);
      }
    }
    return sums;
  }

  /// The keyBlock x Gp sums of the periodic layout: a loop over the head
  /// dimension, a vector of each of the block's key rows per step.
  SmallVector<Value> scoreColumns(Value k0,
                                  ArrayRef<std::pair<Value, Value>> keys,
                                  SmallVector<Value> init, int64_t step) {
      auto dLoop = scf::ForOp::create(ob, e.loc, e.idx(0), e.idx(plan.headDim),
                                      e.idx(step), init);
      {
        OpBuilder::InsertionGuard guard(ob);
        ob.setInsertionPointToStart(dLoop.getBody());
        Value d = dLoop.getInductionVar();
        if (spreadPrefetch) {
          int64_t dSteps = plan.headDim / step;
          prefetchSpread(keyFlat, keySpan,
                         e.add(e.mul(e.div(k0, e.idx(keyBlock)), e.idx(dSteps)),
                               e.div(d, e.idx(step))),
                         tileKeys / keyBlock * dSteps);
        }
        SmallVector<Value> sums(dLoop.getRegionIterArgs());
        if (periodicDot) {
          // 2 * lanes elements of each query row and key row; lane i of a
          // sum adds the products of elements 2i and 2i + 1.
          auto bf16Vec = VectorType::get({2 * lanes}, ob.getBF16Type());
          SmallVector<Value> q;
          for (int64_t r = 0; r < paddedRows; ++r)
            q.push_back(vector::LoadOp::create(ob, e.loc, bf16Vec,
                                               periodicQueries,
                                               ValueRange{e.idx(r), d}));
          for (int64_t k = 0; k < keyBlock; ++k) {
            Value kv = vector::LoadOp::create(
                ob, e.loc, bf16Vec, a.key,
                ValueRange{keys[k].first, g, keys[k].second, d});
            for (int64_t r = 0; r < paddedRows; ++r)
              sums[k * paddedRows + r] =
                  dotBF16(sums[k * paddedRows + r], kv, q[r]);
          }
          scf::YieldOp::create(ob, e.loc, sums);
          return SmallVector<Value>(dLoop.getResults().begin(),
                                    dLoop.getResults().end());
        }
        // q[part][r]: the row's vector at d (+ lanes: the odd half).
        SmallVector<SmallVector<Value>> q(step / lanes);
        for (int64_t part = 0; part < step / lanes; ++part)
          for (int64_t r = 0; r < paddedRows; ++r)
            q[part].push_back(e.loadVec(
                queries, {e.idx(r), e.add(d, e.idx(part * lanes))}, lanes));
        for (int64_t k = 0; k < keyBlock; ++k) {
          SmallVector<Value> kv;
          if (splitKeys) {
            auto [even, odd] =
                readBF16Split(a.key, keys[k].first, keys[k].second, d);
            kv = {even, odd};
          } else {
            kv = {readCache(a.key, a.keyScale, keys[k].first, keys[k].second,
                            d)};
          }
          for (int64_t part = 0; part < step / lanes; ++part)
            for (int64_t r = 0; r < paddedRows; ++r)
              sums[k * paddedRows + r] = vector::FMAOp::create(
                  ob, e.loc, kv[part], q[part][r], sums[k * paddedRows + r]);
        }
        scf::YieldOp::create(ob, e.loc, sums);
      }
      return SmallVector<Value>(dLoop.getResults().begin(),
                                dLoop.getResults().end());
  }

  /// x combined (max or add) with its rotations by lanes/2 .. Gp: every lane
  /// then holds the combination over all lanes of its row.
  Value foldRows(Value x, bool isMax) {
    for (int64_t shift = lanes / 2; shift >= paddedRows; shift /= 2) {
      SmallVector<int64_t> mask;
      for (int64_t i = 0; i < lanes; ++i)
        mask.push_back((i + shift) % lanes);
      Value r = vector::ShuffleOp::create(ob, e.loc, x, x, mask);
      x = isMax ? arith::MaximumFOp::create(ob, e.loc, x, r).getResult()
                : arith::AddFOp::create(ob, e.loc, x, r).getResult();
    }
    return x;
  }

  /// The online softmax step on the periodic layout: the tile's row maxima
  /// (lanes folded by row), alpha = exp(m_old - m_new) (1 while every key
  /// so far is hidden), probabilities in place of the scores (below 2^-125
  /// for the keys past the tile, which the value loop skips) and the
  /// rescaled running sum.
  void softmaxPeriodic() {
    int64_t vectors = tileKeys * paddedRows / lanes;
    Value negInf = negInfVec(lanes), zero = e.splat(e.f32(0.0), lanes);
    Value one = e.splat(e.f32(1.0), lanes);
    auto maxLoop = scf::ForOp::create(ob, e.loc, e.idx(0), e.idx(vectors),
                                      e.idx(1), ValueRange{negInf});
    {
      OpBuilder::InsertionGuard guard(ob);
      ob.setInsertionPointToStart(maxLoop.getBody());
      Value sc = e.loadVec(
          scores, {e.mul(maxLoop.getInductionVar(), e.idx(lanes))}, lanes);
      scf::YieldOp::create(ob, e.loc,
                           vectorMax(e, maxLoop.getRegionIterArgs()[0], sc));
    }
    Value oldMax = e.loadVec(runMax, {e.idx(0)}, lanes);
    Value newMax =
        vectorMax(e, oldMax, foldRows(maxLoop.getResult(0), /*isMax=*/true));
    Value allHidden = e.fcmp(arith::CmpFPredicate::OEQ, newMax, negInf);
    Value rescale =
        vectorExp(e, arith::SubFOp::create(ob, e.loc, oldMax, newMax));
    rescale = e.select(allHidden, one, rescale);
    auto sumLoop = scf::ForOp::create(ob, e.loc, e.idx(0), e.idx(vectors),
                                      e.idx(1), ValueRange{zero});
    {
      OpBuilder::InsertionGuard guard(ob);
      ob.setInsertionPointToStart(sumLoop.getBody());
      Value off = e.mul(sumLoop.getInductionVar(), e.idx(lanes));
      Value sc = e.loadVec(scores, {off}, lanes);
      // Keys past the tile (-inf) get p < 2^-125: the value loop skips them.
      Value p = vectorExp(e, arith::SubFOp::create(ob, e.loc, sc, newMax));
      e.storeVec(p, scores, {off});
      scf::YieldOp::create(
          ob, e.loc,
          arith::AddFOp::create(ob, e.loc, sumLoop.getRegionIterArgs()[0], p)
              .getResult());
    }
    Value oldSum = e.loadVec(runSum, {e.idx(0)}, lanes);
    Value tileSum = foldRows(sumLoop.getResult(0), /*isMax=*/false);
    e.storeVec(vector::FMAOp::create(ob, e.loc, oldSum, rescale, tileSum),
               runSum, {e.idx(0)});
    e.storeVec(newMax, runMax, {e.idx(0)});
    e.storeVec(rescale, alpha, {e.idx(0)});
  }

  /// Element dv of value row kt + k, as f32 (k < count: no clamp).
  Value valueElement(Value k, std::pair<Value, Value> key, Value dv) {
    if (valueTile)
      return memref::LoadOp::create(ob, e.loc, valueTile, ValueRange{k, dv});
    Value x = memref::LoadOp::create(ob, e.loc, a.value,
                                     ValueRange{key.first, g, key.second, dv});
    return applyCacheScale(e, e.toF32(x), a.valueScale, b, g);
  }

  /// Rows across: Acc^T[dv, rows] = Acc^T[dv, rows] * alpha[rows] +
  /// sum_k V[k, dv] P[k, rows], the score loop's micro-kernel again: blocks
  /// of keyBlock value elements x chunkBlock row vectors of accumulators,
  /// one broadcast value element per element and block, the probabilities
  /// loaded as row vectors. Each value element is read once per tile (the
  /// form with value rows across the lanes read every value row once per
  /// block of 3 rows, 11 times per tile at G = 32, which kept the tile
  /// short enough to stay in L1); alpha is a row vector, so the rescale is
  /// one multiply per accumulator.
  /// The value loops twice, chosen per tile: with the rescale when some
  /// row's alpha is not 1 (its maximum grew; alpha = exp(0) is exactly 1
  /// otherwise), else without the multiplies (the results are the same to
  /// the bit: Acc * 1 == Acc). After the first tiles of a long decode the
  /// maxima rarely grow, so most tiles skip the 2 x 128 multiplies at G 32.
  void accumulateValuesAcrossIfRescaled(Value kt, Value count) {
    Value one = e.splat(e.f32(1.0), lanes);
    Value changed;
    for (int64_t off = 0; off < paddedRows; off += lanes) {
      Value ne = e.fcmp(arith::CmpFPredicate::UNE,
                        e.loadVec(alpha, {e.idx(off)}, lanes), one);
      changed = changed ? arith::OrIOp::create(ob, e.loc, changed, ne)
                              .getResult()
                        : ne;
    }
    Value any = vector::ReductionOp::create(
        ob, e.loc, vector::CombiningKind::OR, changed);
    auto branch = scf::IfOp::create(ob, e.loc, any, /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(ob);
    ob.setInsertionPointToStart(branch.thenBlock());
    accumulateValuesAcross(kt, count, /*rescale=*/true);
    ob.setInsertionPointToStart(branch.elseBlock());
    accumulateValuesAcross(kt, count, /*rescale=*/false);
  }

  void accumulateValuesAcross(Value kt, Value count, bool rescale) {
    int64_t chunks = paddedRows / lanes;
    int64_t dvBlock = keyBlock;
    int64_t fullDv = plan.valueDim / dvBlock * dvBlock;
    int64_t blocksPerChunk = plan.valueDim / dvBlock +
                             (fullDv < plan.valueDim ? 1 : 0);
    int64_t slots = chunks / chunkBlock * blocksPerChunk * tileKeys;
    e.loop(e.idx(0), e.idx(chunks), e.idx(chunkBlock), [&](Value c0) {
      Value blockBase =
          e.mul(e.div(c0, e.idx(chunkBlock)), e.idx(blocksPerChunk));
      auto block = [&](Value dv0, int64_t n) {
        Value blockNo = e.add(blockBase, e.div(dv0, e.idx(dvBlock)));
        valueBlockAcross(kt, count, c0, dv0, n, blockNo, slots, rescale);
      };
      if (fullDv > 0)
        e.loop(e.idx(0), e.idx(fullDv), e.idx(dvBlock),
               [&](Value dv0) { block(dv0, dvBlock); });
      if (fullDv < plan.valueDim)
        block(e.idx(fullDv), plan.valueDim - fullDv);
    });
  }

  void valueBlockAcross(Value kt, Value count, Value c0, Value dv0, int64_t n,
                        Value blockNo, int64_t slots, bool rescale) {
    SmallVector<Value> dvs, cols, init;
    for (int64_t j = 0; j < n; ++j)
      dvs.push_back(e.add(dv0, e.idx(j)));
    for (int64_t c = 0; c < chunkBlock; ++c)
      cols.push_back(chunkOffset(c0, c));
    SmallVector<Value> scaleBy;
    for (int64_t c = 0; rescale && c < chunkBlock; ++c)
      scaleBy.push_back(e.loadVec(alpha, {cols[c]}, lanes));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < chunkBlock; ++c) {
        Value v = e.loadVec(acc, {dvs[j], cols[c]}, lanes);
        init.push_back(rescale ? arith::MulFOp::create(ob, e.loc, v, scaleBy[c])
                                     .getResult()
                               : v);
      }
    // Caches without the flat views (another layout) prefetch the next
    // tile's key and value rows in the first block, one row per key.
    bool rowPrefetch = !a.blockTable && !spreadPrefetch;
    Value first;
    if (rowPrefetch)
      first = e.cmp(arith::CmpIPredicate::eq, blockNo, e.idx(0));
    if (dotProducts) {
      valuePairsAcross(kt, count, cols, dvs, init, blockNo, slots, first);
      return;
    }
    auto keyLoop =
        scf::ForOp::create(ob, e.loc, e.idx(0), count, e.idx(1), init);
    {
      OpBuilder::InsertionGuard guard(ob);
      ob.setInsertionPointToStart(keyLoop.getBody());
      Value k = keyLoop.getInductionVar();
      if (spreadPrefetch)
        prefetchSpread(valueFlat, valueSpan,
                       e.add(e.mul(blockNo, e.idx(tileKeys)), k), slots);
      // The next tile's key rows (a partial tile is the last one).
      if (overlapWidening)
        widenTileSlot(e, a, b, g, a.key, a.keyScale, keyTile,
                      e.add(kt, e.idx(tileKeys)), lastKey,
                      e.add(e.mul(blockNo, e.idx(tileKeys)), k), slots,
                      tileKeys, plan.headDim, lanes);
      if (rowPrefetch) {
        auto branch = scf::IfOp::create(ob, e.loc, first, false);
        OpBuilder::InsertionGuard inner(ob);
        ob.setInsertionPointToStart(branch.thenBlock());
        prefetchRow(e.add(kt, e.add(e.idx(tileKeys), k)), 3);
      }
      std::pair<Value, Value> key;
      if (!valueTile)
        key = keyAddress(e, a, b, e.add(kt, k));
      SmallVector<Value> p;
      for (int64_t c = 0; c < chunkBlock; ++c)
        p.push_back(e.loadVec(scores, {k, cols[c]}, lanes));
      SmallVector<Value> sums(keyLoop.getRegionIterArgs());
      for (int64_t j = 0; inlineValues && j < n; j += 2) {
        auto [even, odd] = broadcastBF16Pair(a.value, key, dvs[j]);
        for (int64_t c = 0; c < chunkBlock; ++c)
          sums[j * chunkBlock + c] = vector::FMAOp::create(
              ob, e.loc, even, p[c], sums[j * chunkBlock + c]);
        for (int64_t c = 0; c < chunkBlock; ++c)
          sums[(j + 1) * chunkBlock + c] = vector::FMAOp::create(
              ob, e.loc, odd, p[c], sums[(j + 1) * chunkBlock + c]);
      }
      for (int64_t j = 0; j < (inlineValues ? 0 : n); ++j) {
        Value v = e.splat(valueElement(k, key, dvs[j]), lanes);
        for (int64_t c = 0; c < chunkBlock; ++c)
          sums[j * chunkBlock + c] = vector::FMAOp::create(
              ob, e.loc, v, p[c], sums[j * chunkBlock + c]);
      }
      scf::YieldOp::create(ob, e.loc, sums);
    }
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < chunkBlock; ++c)
        e.storeVec(keyLoop.getResult(j * chunkBlock + c), acc,
                   {dvs[j], cols[c]});
  }

  /// valueBlockAcross with dot products (see the file comment): one step
  /// per pair of keys of the tile, Acc^T[dvs, cols] into f32 lanes.
  void valuePairsAcross(Value kt, Value count, ArrayRef<Value> cols,
                        ArrayRef<Value> dvs, ArrayRef<Value> init,
                        Value blockNo, int64_t slots, Value first) {
    int64_t n = dvs.size();
    Value pairs = e.div(e.add(count, e.idx(1)), e.idx(2));
    auto pairLoop =
        scf::ForOp::create(ob, e.loc, e.idx(0), pairs, e.idx(1), init);
    {
      OpBuilder::InsertionGuard guard(ob);
      ob.setInsertionPointToStart(pairLoop.getBody());
      Value j = pairLoop.getInductionVar();
      Value k = e.mul(j, e.idx(2));
      // Both keys' prefetch slots, as the one-key loop would take them.
      for (int64_t part = 0; part < 2; ++part) {
        Value kk = e.add(k, e.idx(part));
        if (spreadPrefetch)
          prefetchSpread(valueFlat, valueSpan,
                         e.add(e.mul(blockNo, e.idx(tileKeys)), kk), slots);
        if (first) {
          auto branch = scf::IfOp::create(ob, e.loc, first, false);
          OpBuilder::InsertionGuard inner(ob);
          ob.setInsertionPointToStart(branch.thenBlock());
          prefetchRow(e.add(kt, e.add(e.idx(tileKeys), kk)), 3);
        }
      }
      SmallVector<Value> p;
      for (Value col : cols)
        p.push_back(loadPairs(probPairs, j, col));
      SmallVector<Value> sums(pairLoop.getRegionIterArgs());
      int64_t chunks = cols.size();
      for (int64_t i = 0; i < n; ++i) {
        Value pair = broadcastWord(pairTile, {j, e.mul(dvs[i], e.idx(2))});
        for (int64_t c = 0; c < chunks; ++c)
          sums[i * chunks + c] = dotBF16(sums[i * chunks + c], pair, p[c]);
      }
      scf::YieldOp::create(ob, e.loc, sums);
    }
    for (int64_t i = 0; i < n; ++i)
      for (size_t c = 0; c < cols.size(); ++c)
        e.storeVec(pairLoop.getResult(i * cols.size() + c), acc,
                   {dvs[i], cols[c]});
  }

  /// pairTile[j, 2 dv + i] = V[kt + 2j + i, dv] and probPairs[j, 2 r + i] =
  /// P[2j + i, r] in bf16 for the pairs of the tile's count keys; the value
  /// row and the probabilities of a missing second key (odd count) are 0
  /// (the cache past the end may hold NaNs, the scores row stale bits).
  void makePairTiles(Value kt, Value count) {
    Value pairs = e.div(e.add(count, e.idx(1)), e.idx(2));
    Type bf16 = ob.getBF16Type();
    auto half = VectorType::get({lanes}, bf16);
    Value zeros = arith::ConstantOp::create(ob, e.loc, ob.getZeroAttr(half));
    SmallVector<int64_t> mask;
    for (int64_t i = 0; i < lanes; ++i)
      mask.append({i, lanes + i});
    e.loop(e.idx(0), pairs, e.idx(1), [&](Value j) {
      Value k = e.mul(j, e.idx(2));
      Value second = e.add(k, e.idx(1));
      Value hasSecond = e.cmp(arith::CmpIPredicate::ult, second, count);
      auto [kb0, kj0] = keyAddress(e, a, b, e.add(kt, k));
      auto [kb1, kj1] = keyAddress(
          e, a, b, e.add(kt, e.select(hasSecond, second, k)));
      for (int64_t c = 0; c < plan.valueDim; c += lanes) {
        Value v0 = vector::LoadOp::create(ob, e.loc, half, a.value,
                                          ValueRange{kb0, g, kj0, e.idx(c)});
        Value v1 = vector::LoadOp::create(ob, e.loc, half, a.value,
                                          ValueRange{kb1, g, kj1, e.idx(c)});
        v1 = arith::SelectOp::create(ob, e.loc, hasSecond, v1, zeros);
        e.storeVec(vector::ShuffleOp::create(ob, e.loc, v0, v1, mask),
                   pairTile, {j, e.idx(2 * c)});
      }
      for (int64_t off = 0; off < paddedRows; off += lanes) {
        auto round = [&](Value key) {
          Value x = e.loadVec(scores, {key, e.idx(off)}, lanes);
          return arith::TruncFOp::create(ob, e.loc, half, x).getResult();
        };
        // A missing second key's scores row is stale or never written
        // (the alloca's bits: maybe NaN, and NaN x 0 is NaN): 0 instead.
        Value p1 = arith::SelectOp::create(ob, e.loc, hasSecond,
                                           round(second), zeros);
        e.storeVec(vector::ShuffleOp::create(ob, e.loc, round(k), p1, mask),
                   probPairs, {j, e.idx(2 * off)});
      }
    });
  }

  /// 2 * lanes bf16 of `pairs` at [row, 2 * col ..]: lanes bf16 pairs.
  Value loadPairs(Value pairs, Value row, Value col) {
    return vector::LoadOp::create(
        ob, e.loc, VectorType::get({2 * lanes}, ob.getBF16Type()), pairs,
        ValueRange{row, e.mul(col, e.idx(2))});
  }

  /// The 32-bit word (two bf16) of `mem` at `at`, in every pair of a
  /// vector of 2 * lanes bf16.
  Value broadcastWord(Value mem, ValueRange at) {
    Value raw = vector::LoadOp::create(
        ob, e.loc, VectorType::get({2}, ob.getBF16Type()), mem, at);
    Value word = vector::BitCastOp::create(
        ob, e.loc, VectorType::get({1}, ob.getI32Type()), raw);
    Value words = vector::BroadcastOp::create(
        ob, e.loc, VectorType::get({lanes}, ob.getI32Type()),
        vector::ExtractOp::create(ob, e.loc, word, 0));
    return vector::BitCastOp::create(
        ob, e.loc, VectorType::get({2 * lanes}, ob.getBF16Type()), words);
  }

  /// acc[i] + x[2i] y[2i] + x[2i+1] y[2i+1] (vdpbf16ps; 16 lanes).
  Value dotBF16(Value accum, Value x, Value y) {
    return LLVM::CallIntrinsicOp::create(
               ob, e.loc, accum.getType(),
               ob.getStringAttr("llvm.x86.avx512bf16.dpbf16ps.512"),
               ValueRange{accum, x, y})
        .getResult(0);
  }

  /// A stack tile of `element`s, aligned like stackTile's.
  Value stackTileOf(Type element, ArrayRef<int64_t> shape) {
    IntegerAttr alignment;
    if (a.tileAlignment > 0)
      alignment = ob.getI64IntegerAttr(a.tileAlignment);
    return memref::AllocaOp::create(ob, e.loc,
                                    MemRefType::get(shape, element),
                                    ValueRange{}, ValueRange{}, alignment)
        .getResult();
  }

  Value chunkOffset(Value c0, int64_t c) {
    return e.add(e.mul(c0, e.idx(lanes)), e.idx(c * lanes));
  }

  /// Probability of key k for row r (periodic layout).
  Value probability(Value k, Value r) {
    return memref::LoadOp::create(
        ob, e.loc, scores,
        ValueRange{e.add(e.mul(k, e.idx(paddedRows)), r)});
  }

  /// periodicProbPairs = the tile's probabilities (scores, key-major,
  /// row-minor) as bf16, each pair of keys interleaved per row: element
  /// (2j Gp + 2r + s) is key 2j + s of row r. A static shuffle per vector.
  void makeProbPairsPeriodic() {
    SmallVector<int64_t> mask;
    for (int64_t l = 0; l < lanes; ++l) {
      int64_t block = l / (2 * paddedRows), w = l % (2 * paddedRows);
      mask.push_back(block * 2 * paddedRows + (w % 2) * paddedRows + w / 2);
    }
    auto half = VectorType::get({lanes}, ob.getBF16Type());
    for (int64_t at = 0; at < tileKeys * paddedRows; at += lanes) {
      Value p = arith::TruncFOp::create(
          ob, e.loc, half, e.loadVec(scores, {e.idx(at)}, lanes));
      e.storeVec(vector::ShuffleOp::create(ob, e.loc, p, p, mask),
                 periodicProbPairs, {e.idx(at)});
    }
  }

  /// Acc = Acc * alpha + P^T V over the keys of the tile, in blocks of
  /// valueRowBlock rows x valueChunkBlock value chunks.
  void accumulateValues(Value kt, Value count) {
    int64_t chunkDims = valueChunkBlock * lanes;
    int64_t mainRows = group / valueRowBlock * valueRowBlock;
    bool spread = !a.blockTable && !spreadPrefetch;
    int64_t columnBlocks = (plan.valueDim + chunkDims - 1) / chunkDims;
    int64_t mainBlocks = mainRows / valueRowBlock;
    // Without spreadPrefetch, the next tile's rows are prefetched one key
    // row per key iteration of the first value block (key and value rows)
    // or of the first two (key rows, then value rows).
    int64_t blocksWithPrefetch =
        spread ? std::min<int64_t>(2, columnBlocks * std::max<int64_t>(
                                                         mainBlocks, 1))
               : 0;
    int64_t blockNo = 0;
    auto maskFor = [&](int64_t n) -> int {
      if (n >= blocksWithPrefetch)
        return 0;
      if (blocksWithPrefetch == 1)
        return 3;
      return n == 0 ? 1 : 2;
    };
    int64_t allBlocks = (mainBlocks + (mainRows < group ? 1 : 0)) * columnBlocks;
    auto columns = [&](Value r0, int64_t rows, bool first) {
      for (int64_t dv = 0; dv < plan.valueDim; dv += chunkDims) {
        if (spreadPrefetch) {
          spreadSlots = allBlocks * tileKeys;
          spreadBlock = e.add(e.mul(e.div(r0, e.idx(valueRowBlock)),
                                    e.idx(columnBlocks)),
                              e.idx(dv / chunkDims));
        }
        accumulateValueBlock(
            kt, count, r0, rows, dv,
            std::min(chunkDims, plan.valueDim - dv) / lanes,
            first ? maskFor(blockNo++) : 0);
      }
    };
    // Row blocks that prefetch are peeled off the loop.
    int64_t peeled = 0;
    while (peeled < mainBlocks && blockNo < blocksWithPrefetch) {
      columns(e.idx(peeled * valueRowBlock), valueRowBlock, true);
      ++peeled;
    }
    if (peeled < mainBlocks)
      e.loop(e.idx(peeled * valueRowBlock), e.idx(mainRows),
             e.idx(valueRowBlock),
             [&](Value r0) { columns(r0, valueRowBlock, false); });
    if (mainRows < group)
      columns(e.idx(mainRows), group - mainRows, blockNo < blocksWithPrefetch);
  }

  /// Prefetches key row `row` (clamped to the cache's last row) of the key
  /// cache (mask & 1) and of the value cache (mask & 2) into L2, one
  /// prefetch per cache line.
  void prefetchRow(Value row, int mask) {
    for (Value cache : {a.key, a.value}) {
      if (!(mask & (cache == a.key ? 1 : 2)))
        continue;
      Type element = cast<MemRefType>(cache.getType()).getElementType();
      int64_t perLine = 512 / element.getIntOrFloatBitWidth();
      int64_t dims = cache == a.key ? plan.headDim : plan.valueDim;
      Value j = e.min(row, e.sub(e.dim(cache, 2), e.idx(1)));
      for (int64_t d = 0; d < dims; d += perLine)
        memref::PrefetchOp::create(ob, e.loc, cache,
                                   ValueRange{b, g, j, e.idx(d)},
                                   /*isWrite=*/false, /*localityHint=*/2,
                                   /*isDataCache=*/true);
    }
  }


  /// Where the next tile's rows of `cache` start in its flat view, and its
  /// last element in that view (the end of the (b, g) plane).
  std::pair<Value, Value> nextTileSpan(Value cache, int64_t dims, Value kt) {
    Value rows = e.dim(cache, 2);
    Value plane = e.mul(e.add(e.mul(b, e.dim(cache, 1)), g), rows);
    Value start = e.mul(e.add(plane, e.add(kt, e.idx(tileKeys))),
                        e.idx(dims));
    Value last = e.sub(e.mul(e.add(plane, rows), e.idx(dims)), e.idx(1));
    return {start, last};
  }

  /// keyRowLoop: the lines kRowPrefetchBytes past the start of row `key`
  /// of `cache` (its flat view; no further than the (b, g) plane's last
  /// element, span.second), into L2, one prefetch per line of a row.
  void prefetchRowAhead(Value flat, std::pair<Value, Value> span, Value cache,
                        int64_t dims, std::pair<Value, Value> key) {
    Type element = cast<MemRefType>(flat.getType()).getElementType();
    int64_t width = element.getIntOrFloatBitWidth() / 8;
    int64_t perLine = 64 / width;
    Value rows = e.dim(cache, 2);
    Value plane = e.mul(e.add(e.mul(key.first, e.dim(cache, 1)), g), rows);
    Value start = e.add(e.mul(e.add(plane, key.second), e.idx(dims)),
                        e.idx(kRowPrefetchBytes / width));
    for (int64_t d = 0; d < dims; d += perLine) {
      Value at = e.min(e.add(start, e.idx(d)), span.second);
      memref::PrefetchOp::create(ob, e.loc, flat, ValueRange{at},
                                 /*isWrite=*/false, /*localityHint=*/2,
                                 /*isDataCache=*/true);
    }
  }

  /// Prefetch slot u of `slots` per tile: the lines of the next tile's rows
  /// of a cache (its flat view and span) spread evenly over the slots, in
  /// address order, into L2. Slots past the tile's last line run on into
  /// the tile after it (prefetched again, then from L2); nothing past the
  /// end of the (b, g) plane.
  void prefetchSpread(Value flat, std::pair<Value, Value> span, Value u,
                      int64_t slots) {
    Type element = cast<MemRefType>(flat.getType()).getElementType();
    int64_t perLine = 512 / element.getIntOrFloatBitWidth();
    int64_t dims = flat == keyFlat ? plan.headDim : plan.valueDim;
    int64_t lines = tileKeys * ((dims + perLine - 1) / perLine);
    int64_t perSlot = (lines + slots - 1) / slots;
    if (lines < slots) {
      // Fewer lines than slots (the rows-across layout on half caches):
      // `lines` of the slots, evenly spread, prefetch one line each. (One
      // prefetch per slot ran 2.7 tiles ahead on bf16 keys, and the surplus
      // prefetches, L2 hits, still queued for the line fill buffers: ~10%
      // of the samples stalled right after a prefetch.)
      Value x = e.mul(u, e.idx(lines));
      Value fire = e.cmp(arith::CmpIPredicate::ult, e.rem(x, e.idx(slots)),
                         e.idx(lines));
      auto branch = scf::IfOp::create(ob, e.loc, fire, false);
      OpBuilder::InsertionGuard guard(ob);
      ob.setInsertionPointToStart(branch.thenBlock());
      Value line = e.div(x, e.idx(slots));
      Value at = e.min(e.add(span.first, e.mul(line, e.idx(perLine))),
                       span.second);
      memref::PrefetchOp::create(ob, e.loc, flat, ValueRange{at},
                                 /*isWrite=*/false, /*localityHint=*/2,
                                 /*isDataCache=*/true);
      return;
    }
    for (int64_t i = 0; i < perSlot; ++i) {
      Value line = e.add(e.mul(u, e.idx(perSlot)), e.idx(i));
      Value at = e.min(e.add(span.first, e.mul(line, e.idx(perLine))),
                       span.second);
      memref::PrefetchOp::create(ob, e.loc, flat, ValueRange{at},
                                 /*isWrite=*/false, /*localityHint=*/2,
                                 /*isDataCache=*/true);
    }
  }

  void accumulateValueBlock(Value kt, Value count, Value r0, int64_t rows,
                            int64_t dv0, int64_t chunks, int prefetchMask) {
    SmallVector<Value> rowIdx, cols, init;
    for (int64_t r = 0; r < rows; ++r)
      rowIdx.push_back(e.add(r0, e.idx(r)));
    for (int64_t c = 0; c < chunks; ++c)
      cols.push_back(e.idx(dv0 + c * lanes));
    for (int64_t r = 0; r < rows; ++r) {
      Value scaleBy = e.splat(
          memref::LoadOp::create(ob, e.loc, alpha, rowIdx[r]), lanes);
      for (int64_t c = 0; c < chunks; ++c)
        init.push_back(arith::MulFOp::create(
            ob, e.loc, e.loadVec(acc, {rowIdx[r], cols[c]}, lanes), scaleBy));
    }
    // Key k's prefetches and its FMAs into `sums`.
    auto prefetchKey = [&](Value k) {
      if (prefetchMask)
        prefetchRow(e.add(kt, e.add(e.idx(tileKeys), k)), prefetchMask);
      if (spreadPrefetch && !keyRowLoop)
        prefetchSpread(valueFlat, valueSpan,
                       e.add(e.mul(spreadBlock, e.idx(tileKeys)), k),
                       spreadSlots);
    };
    auto fmaKey = [&](Value k, SmallVector<Value> &sums) {
      prefetchKey(k);
      std::pair<Value, Value> key = keyAddress(e, a, b, e.add(kt, k));
      if (keyRowLoop)
        prefetchRowAhead(valueFlat, valueSpan, a.value, plan.valueDim, key);
      SmallVector<Value> p;
      for (int64_t r = 0; r < rows; ++r)
        p.push_back(e.splat(probability(k, rowIdx[r]), lanes));
      SmallVector<Value> v;
      for (int64_t c = 0; c < chunks; ++c) {
        if (!splitValues) {
          v.push_back(readCache(a.value, a.valueScale, key.first, key.second,
                                cols[c]));
        } else if (c % 2 == 0) {
          // Chunks c and c + 1 keep the even and the odd elements of the
          // block of 2 * lanes at cols[c].
          auto [even, odd] =
              readBF16Split(a.value, key.first, key.second, cols[c]);
          v.push_back(even);
          v.push_back(odd);
        }
      }
      for (int64_t c = 0; c < chunks; ++c)
        for (int64_t r = 0; r < rows; ++r)
          sums[r * chunks + c] = vector::FMAOp::create(ob, e.loc, p[r], v[c],
                                                       sums[r * chunks + c]);
    };
    // Keys 2j and 2j + 1 as vdpbf16ps (periodicValueDot): per block of
    // 2 * lanes value elements, the two rows' 32-bit words w0, w1 give the
    // even pairs (w0 & 0xffff) | (w1 << 16) and the odd ones
    // (w0 >> 16) | (w1 & 0xffff0000): lane i of chunk c (c + 1) holds
    // element 2i (2i + 1) of both rows, the split order of the FMA form.
    auto dotPair = [&](Value j, SmallVector<Value> &sums) {
      Value k = e.mul(j, e.idx(2)), k1 = e.add(k, e.idx(1));
      prefetchKey(k);
      prefetchKey(k1);
      std::pair<Value, Value> key0 = keyAddress(e, a, b, e.add(kt, k));
      std::pair<Value, Value> key1 = keyAddress(e, a, b, e.add(kt, k1));
      SmallVector<Value> p;
      for (int64_t r = 0; r < rows; ++r)
        p.push_back(broadcastWord(
            periodicProbPairs, {e.add(e.mul(j, e.idx(2 * paddedRows)),
                                      e.mul(rowIdx[r], e.idx(2)))}));
      auto i32Vec = VectorType::get({lanes}, ob.getI32Type());
      auto pairVec = VectorType::get({2 * lanes}, ob.getBF16Type());
      auto constant = [&](int32_t v) -> Value {
        return arith::ConstantOp::create(
            ob, e.loc,
            DenseElementsAttr::get(i32Vec, ob.getI32IntegerAttr(v)));
      };
      Value low = constant(0xffff), high = constant(int32_t(0xffff0000u)),
            sixteen = constant(16);
      for (int64_t c = 0; c + 1 < chunks; c += 2) {
        Value w0 = readWords(a.value, key0.first, key0.second, cols[c]);
        Value w1 = readWords(a.value, key1.first, key1.second, cols[c]);
        Value even = vector::BitCastOp::create(
            ob, e.loc, pairVec,
            arith::OrIOp::create(
                ob, e.loc, arith::AndIOp::create(ob, e.loc, w0, low),
                arith::ShLIOp::create(ob, e.loc, w1, sixteen)));
        Value odd = vector::BitCastOp::create(
            ob, e.loc, pairVec,
            arith::OrIOp::create(
                ob, e.loc, arith::ShRUIOp::create(ob, e.loc, w0, sixteen),
                arith::AndIOp::create(ob, e.loc, w1, high)));
        for (int64_t r = 0; r < rows; ++r) {
          sums[r * chunks + c] = dotBF16(sums[r * chunks + c], even, p[r]);
          sums[r * chunks + c + 1] =
              dotBF16(sums[r * chunks + c + 1], odd, p[r]);
        }
      }
    };
    SmallVector<Value> results(init);
    Value firstKey = e.idx(0);
    if (periodicValueDot) {
      Value pairs = e.div(count, e.idx(2));
      auto pairLoop =
          scf::ForOp::create(ob, e.loc, e.idx(0), pairs, e.idx(1), results);
      {
        OpBuilder::InsertionGuard guard(ob);
        ob.setInsertionPointToStart(pairLoop.getBody());
        SmallVector<Value> sums(pairLoop.getRegionIterArgs());
        dotPair(pairLoop.getInductionVar(), sums);
        scf::YieldOp::create(ob, e.loc, sums);
      }
      results.assign(pairLoop.getResults().begin(),
                     pairLoop.getResults().end());
      firstKey = e.mul(pairs, e.idx(2)); // an odd count's last key
    }
    auto keyLoop =
        scf::ForOp::create(ob, e.loc, firstKey, count, e.idx(1), results);
    {
      OpBuilder::InsertionGuard guard(ob);
      ob.setInsertionPointToStart(keyLoop.getBody());
      SmallVector<Value> sums(keyLoop.getRegionIterArgs());
      fmaKey(keyLoop.getInductionVar(), sums);
      scf::YieldOp::create(ob, e.loc, sums);
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < chunks; ++c)
        e.storeVec(keyLoop.getResult(r * chunks + c), acc,
                   {rowIdx[r], cols[c]});
  }

  /// scratch[b, g, t, s, r] = (Acc[r, 0..Dv), 0 padding, m[r], l[r]) for
  /// the G real rows (lane r of the periodic state is row r).
  void writePartial(Value scratch) {
    e.loop(0, group, [&](Value r) {
      // Rows across: Acc^T, its rows in the value tile's order.
      if (rowsAcross)
        e.loop(0, plan.valueDim, [&](Value dv) {
          Value at = splitValueTile ? splitPosition(dv) : dv;
          memref::StoreOp::create(
              ob, e.loc,
              memref::LoadOp::create(ob, e.loc, acc, ValueRange{at, r}),
              scratch, ValueRange{b, g, t, s, r, dv});
        });
      int64_t step = splitValues ? 2 * lanes : lanes;
      for (int64_t c = 0; c < (rowsAcross ? 0 : plan.valueDim); c += step) {
        Value x = e.loadVec(acc, {r, e.idx(c)}, lanes);
        if (!splitValues) {
          e.storeVec(x, scratch, {b, g, t, s, r, e.idx(c)});
          continue;
        }
        // Even and odd elements back in order.
        Value y = e.loadVec(acc, {r, e.idx(c + lanes)}, lanes);
        SmallVector<int64_t> lo, hi;
        for (int64_t i = 0; i < lanes / 2; ++i) {
          lo.append({i, lanes + i});
          hi.append({lanes / 2 + i, lanes + lanes / 2 + i});
        }
        e.storeVec(vector::ShuffleOp::create(ob, e.loc, x, y, lo), scratch,
                   {b, g, t, s, r, e.idx(c)});
        e.storeVec(vector::ShuffleOp::create(ob, e.loc, x, y, hi), scratch,
                   {b, g, t, s, r, e.idx(c + lanes)});
      }
      auto store = [&](Value x, int64_t col) {
        memref::StoreOp::create(ob, e.loc, x, scratch,
                                ValueRange{b, g, t, s, r, e.idx(col)});
      };
      for (int64_t dv = plan.valueDim; dv < plan.paddedValue; ++dv)
        store(e.f32(0.0), dv);
      store(memref::LoadOp::create(ob, e.loc, runMax, r), plan.paddedValue);
      store(memref::LoadOp::create(ob, e.loc, runSum, r),
            plan.paddedValue + 1);
    });
  }

  Emitter &e;
  OpBuilder &ob;
  const FlashAttention &a;
  const Plan &plan;
  Value b, g, t, s;
  int64_t lanes, group, paddedRows, chunkBlock, keyBlock, tileKeys;
  int64_t valueChunkBlock = 1, valueRowBlock = 1; ///< periodic layout only
  bool rowsAcross;
  /// Key rows read whole, in order, in tiles of 64 keys (keyRowsInOrder).
  bool inOrder = false;
  /// In order on contiguous f32 caches: the score loop runs over the keys
  /// (KeyRowLoop.cpp) and each key (value) step prefetches the row
  /// kRowPrefetchBytes ahead instead of spreading the next tile's lines.
  bool keyRowLoop = false;
  Value rowSums; ///< [tileKeys * lanes] per-key partial sums (keyRowLoop)
  /// The next tile's rows prefetched line by line over the steps of the
  /// score and value loops (caches with the identity layout).
  bool spreadPrefetch = false;
  /// bf16 keys / values read as even/odd vector pairs (periodic layout).
  bool splitKeys = false, splitValues = false;
  /// bf16 key / value tiles (rows across) widened even/odd split: Q^T's
  /// rows and Acc^T's rows follow the tiles' order.
  bool splitKeyTile = false, splitValueTile = false;
  /// Rows across on a bf16 cache with a.inlineBF16Widening: no f32 tile;
  /// the FMA loops take two elements per 32-bit word broadcast from the
  /// cache (`<< 16`, `& 0xffff0000`), in order, so Q^T and Acc^T keep the
  /// natural row order.
  bool inlineKeys = false, inlineValues = false;
  /// vdpbf16ps for Q.K and P.V (a.bf16DotProducts; see the file comment):
  /// Q^T as bf16 pairs [D / 2, 2 rows], the tile's value rows and
  /// probabilities as pairs of keys [keys / 2, 2 Dv] and [keys / 2, 2 rows].
  bool dotProducts = false;
  Value dotQueries, pairTile, probPairs;
  /// vdpbf16ps for the periodic layout's Q.K (GQA on a bf16 key cache,
  /// a.bf16DotProducts; see the file comment): the scaled queries as bf16
  /// rows [Gp, D] in natural order, a key row's 32 elements one operand.
  bool periodicDot = false;
  Value periodicQueries;
  /// The periodic layout's P.V as vdpbf16ps as well (periodicDot with a
  /// bf16 value cache read even/odd split): the tile's probabilities as
  /// bf16 pairs of keys [tileKeys / 2, Gp, 2] (periodicProbPairs), the
  /// value rows of two keys interleaved in registers.
  bool periodicValueDot = false;
  Value periodicProbPairs;
  Value queries, acc, scores, runMax, runSum, alpha;
  /// Rows across: the tile's score maximum per row, made by the score loop.
  Value tileMax;
  Value spreadBlock;
  Value keyFlat, valueFlat; ///< 1-D views of the caches (spreadPrefetch)
  std::pair<Value, Value> keySpan, valueSpan; ///< of the next tile
  int64_t spreadSlots = 1;
  Value keyTile; ///< f32 copy of a non-f32 key tile (rows across only)
  /// The key tile widened during the previous tile's value loop, the value
  /// tile during the score loop (a.overlapTileWidening; TileWidening.cpp).
  bool overlapWidening = false;
  Value lastKey; ///< the work item's last key
  Value valueTile; ///< f32 copy of a non-f32 value tile (rows across only)
};

} // namespace

bool mlir::attn::useGroupedDecodeKernel(const FlashAttention &a,
                                        const Plan &plan) {
  return groupedLanes(a, plan) != 0;
}

int64_t mlir::attn::groupedDecodeTileKeys(const FlashAttention &a,
                                          const Plan &plan) {
  int64_t lanes = groupedLanes(a, plan);
  return tileShape(lanes, plan.group,
                   tileTarget(a, lanes, plan.group,
                              keyRowsInOrder(a, lanes, plan.group)))
      .tileKeys;
}

void mlir::attn::buildGroupedDecodePartial(Emitter &e, const FlashAttention &a,
                                           const Plan &plan, ValueRange item,
                                           Value keyBegin, Value keyEnd,
                                           Value scratch) {
  GroupedDecodeKernel(e, a, plan, item).build(keyBegin, keyEnd, scratch);
}
