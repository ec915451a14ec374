//===- GpuKernels.h - the attention kernels of convert-attn-to-gpu -*- C++ -*-===//
//
// One attn.attention / attn.decode becomes up to three kernels, specialised
// on its static shapes and element types:
//   append  (decode only) writes the new keys/values into the caches;
//   partial flash-decoding: block (split, batch * KV head * head chunk, query
//           row) reads its share of the keys once for all the query heads of
//           its chunk of the group, with an online softmax in f32; on CUDA
//           cores, or on tensor cores for GQA/MQA (TensorCoreDecode.cpp);
//   merge   (splits > 1) combines the splits' partial results.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_GPUKERNELS_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_GPUKERNELS_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <optional>

namespace mlir::attn::gpu_kernels {

/// Whether `v` is a memref of static shape and identity layout: what the
/// kernels are specialised on.
inline bool isStatic(Value v) {
  auto type = dyn_cast<MemRefType>(v.getType());
  return type && type.hasStaticShape() && type.getLayout().isIdentity();
}
inline int64_t dimOf(Value v, int64_t d) {
  return cast<MemRefType>(v.getType()).getDimSize(d);
}
inline Type elementOf(Value v) {
  return cast<MemRefType>(v.getType()).getElementType();
}
/// The error of an operand that is not static (attn.attention, and the
/// queries, new keys and output of attn.decode).
constexpr StringLiteral kNeedsStatic = "the cuda target needs static shapes "
                                       "and identity layouts; operand of type ";
/// Fails, with the error "`what`<type> is not" at `op`, on the first of
/// `operands` that is not static.
inline LogicalResult requireStatic(Operation *op, ValueRange operands,
                                   StringRef what) {
  for (Value v : operands)
    if (!isStatic(v))
      return op->emitError(what) << v.getType() << " is not";
  return success();
}

/// Threads of a partial block (warps * 32).
constexpr int64_t kWarps = 4;
constexpr int64_t kThreads = kWarps * 32;
/// Keys a warp takes per iteration of the tensor-core kernel (two n-tiles
/// of the score mma, one k-step of the value mma).
constexpr int64_t kTensorCoreKeys = 16;

/// Static description of one op and how its kernels are tiled.
struct AttentionPlan {
  // Shapes: query [B, Hq, Sq, D], keys [B, Hkv, Skv, D] (the cache's
  // capacity for decode), values [B, Hkv, Skv, Dv].
  int64_t batch, qHeads, kvHeads, group, queryLen, keyLen, headDim, valueDim;
  Type queryType, keyType, valueType, outType; // element types

  double scale;
  std::optional<double> softcap;
  /// attn.attention: key j visible to row i iff j <= i + causalOffset.
  std::optional<int64_t> causalOffset;
  /// attn.decode: row i of batch row b stands at pos[b] + newKeys -
  /// queryLen + i; `rowPositions`: pos is a [B] integer buffer (one
  /// position per batch row), else one position for the batch.
  bool decode = false, decodeCausal = false, rowPositions = false;
  int64_t newKeys = 0;
  /// Paged caches (attn.decode with block_table): the caches are pools
  /// [numPages, Hkv, pageSize, *] and key j of batch row b is slot
  /// j % pageSize of page table[b, j / pageSize]; keyLen is then the
  /// capacity maxPages * pageSize.
  bool paged = false;
  int64_t pageSize = 0, maxPages = 0, numPages = 0;
  /// 8-bit caches (i8 or f8E4M3FN codes) with [B, Hkv] f32 scales: the
  /// append quantises, the partial kernel dequantises (CUDA cores only).
  bool quantized = false;
  /// Ring caches (attn.decode `ring`, a causal window(L, 0) layer): the
  /// caches hold keyLen = W slots and absolute position j lives in slot
  /// j % W; positions have no upper bound (only a negative one is an
  /// error).
  bool ring = false;
  /// window(left, right): the query at position p sees keys
  /// [p - left, p + right]; nullopt: that side is unbounded.
  std::optional<int64_t> windowLeft, windowRight;

  // Tiling.
  int64_t vec;          // elements per vector load (16 bytes at most)
  int64_t lanesPerKey;  // L: lanes sharing one key row (power of two <= 32)
  int64_t keyChunks, valueChunks;   // D / vec, Dv / vec
  int64_t keyPerLane, valuePerLane; // ceil(chunks / L)
  int64_t headsPerBlock, headChunks; // query heads per block, blocks per group
  int64_t unroll;       // keys per lane per loop iteration
  int64_t splits;       // blocks along the keys (1: no merge kernel)
  /// Blocks a multiprocessor holds (registers are capped for them,
  /// `nvvm.minctasm`); the splits fill one wave of them.
  int64_t blocksPerSM = 4;
  /// The group's query heads are the rows of mma.sync m16n8k16 (16 a
  /// block, padded), each warp takes 16 keys an iteration
  /// (TensorCoreDecode.cpp); the CUDA-core fields above are unused then.
  bool tensorCores = false;

  /// The most keys one block (one query row) can see.
  int64_t keySpan() const {
    bool rightBounded = windowRight || decodeCausal || causalOffset;
    if (!windowLeft || !rightBounded)
      return keyLen;
    int64_t right = windowRight ? *windowRight : 0;
    if (decodeCausal || causalOffset)
      right = std::min<int64_t>(right, 0);
    return std::min(keyLen, *windowLeft + right + 1);
  }
  int64_t keysPerStep() const { return kWarps * (32 / lanesPerKey); }
  int64_t keysPerIteration() const {
    return tensorCores ? kWarps * kTensorCoreKeys : unroll * keysPerStep();
  }
};

/// Static shared memory of a partial block, and its limit.
int64_t sharedBytes(int64_t valueDim, int64_t headsPerBlock);
constexpr int64_t kMaxSharedBytes = 48 * 1024;

/// Whether the tensor-core partial kernel covers `plan`: a group of 4 or
/// more query heads, f16 or bf16 queries/keys/values of one type, D a
/// multiple of 32 up to 128, Dv 64 or 128.
bool useTensorCores(const AttentionPlan &plan);

/// Fills the tiling fields of `plan` from its shapes (and 132 SMs).
void chooseTiling(AttentionPlan &plan, int64_t multiprocessors = 132);

/// Kernel argument positions of the partial kernel; -1 when absent.
struct PartialArgs {
  int query = 0, key = 1, value = 2, mask = -1, kvLens = -1, position = -1;
  /// Decode: the block table (paged), the key/value scales (8-bit caches)
  /// and the run's error record (ServingKernels.cpp), whose first word,
  /// set by the check kernel, makes the step write nothing and give NaN.
  int table = -1, keyScale = -1, valueScale = -1, error = -1;
  /// Decode with a draft tree: the tree mask [Sn, Sn] or [B or 1, Sn, Sn]
  /// (i1 or i8) over the new tokens.
  int tree = -1;
  int result = -1; // the output (splits == 1) or the workspace
};

/// The workspace of the split results: [splits, B, Hq, Sq, Dv + 2] f32
/// (the accumulator, then the running max and sum in log2 units).
MemRefType workspaceType(MLIRContext *ctx, const AttentionPlan &plan);

/// Adds the kernels to `module`; `argTypes` are the types of the launch
/// arguments in the order of `args`.
gpu::GPUFuncOp buildPartialKernel(OpBuilder &b, Location loc,
                                  gpu::GPUModuleOp module, StringRef name,
                                  const AttentionPlan &plan,
                                  TypeRange argTypes, const PartialArgs &args);
/// Arguments: workspace, out.
gpu::GPUFuncOp buildMergeKernel(OpBuilder &b, Location loc,
                                gpu::GPUModuleOp module, StringRef name,
                                const AttentionPlan &plan, TypeRange argTypes);
/// Kernel argument positions of the append and check kernels of a decode
/// step; -1 when absent.
struct DecodeArgs {
  int key = 0, value = 1, keyCache = 2, valueCache = 3, position = 4;
  int table = -1, keyScale = -1, valueScale = -1, error = -1;
};
/// Writes the new keys/values into the caches (into their pages when
/// paged, their ring slots when `ring`, quantised for 8-bit caches) unless
/// the run's error record is set.
/// The position is an index, a rank-0 or, with `rowPositions`, a [B]
/// integer buffer.
gpu::GPUFuncOp buildAppendKernel(OpBuilder &b, Location loc,
                                 gpu::GPUModuleOp module, StringRef name,
                                 const AttentionPlan &plan, TypeRange argTypes,
                                 const DecodeArgs &args);

/// What the check kernel reports into the run's error record: the buffer
/// ids (host function argument numbers, -1 when unknown) named in the
/// message of attn_rt_report_position_error.
struct CheckReport {
  int64_t positionBuffer = -1, tableBuffer = -1;
};
/// One block that checks every row's position against the capacity and,
/// when paged, every table entry the rows reach against the pool, and
/// records the first bad one (rows in order, as the CPU reports it) in the
/// run's error record (ServingKernels.cpp).
gpu::GPUFuncOp buildCheckKernel(OpBuilder &b, Location loc,
                                gpu::GPUModuleOp module, StringRef name,
                                const AttentionPlan &plan, TypeRange argTypes,
                                const DecodeArgs &args,
                                const CheckReport &report);
/// Threads of the check kernel.
constexpr int64_t kCheckThreads = 256;

} // namespace mlir::attn::gpu_kernels

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_GPUKERNELS_H
