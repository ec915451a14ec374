//===- KernelBuilder.h - helpers shared by the attention kernels -*- C++ -*-===//
//
// Private to convert-attn-to-gpu and attn-linalg-to-gpu: a builder with a
// fixed location and short names for the arith/vector/gpu ops the kernels
// are made of, the mma.sync / ldmatrix fragment helpers of the tensor-core
// kernels (TensorCorePrefill.cpp, TensorCoreDecode.cpp, LinalgToGPU's
// TensorCoreGemm.cpp), and the partial kernel's builder (GpuKernels.cpp,
// TensorCoreDecode.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_KERNELBUILDER_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_KERNELBUILDER_H

#include "GpuKernels.h"

#include "attn/Conversion/FloatWidening.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"

#include <limits>

namespace mlir::attn::gpu_kernels {

constexpr double kLog2e = 1.4426950408889634;
constexpr double kInf = std::numeric_limits<double>::infinity();

/// Builder helpers with a fixed location.
struct KB {
  OpBuilder &b;
  Location loc;

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
  }
  Value i32(int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, int64_t y) {
    return arith::DivUIOp::create(b, loc, x, idx(y));
  }
  Value rem(Value x, int64_t y) {
    return arith::RemUIOp::create(b, loc, x, idx(y));
  }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value ceilDiv(Value x, Value y) {
    return arith::CeilDivSIOp::create(b, loc, x, y);
  }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value lt(Value x, Value y) { return cmp(arith::CmpIPredicate::slt, x, y); }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value fmax(Value x, Value y) {
    return arith::MaximumFOp::create(b, loc, x, y);
  }
  Value fma(Value x, Value y, Value z) {
    return vector::FMAOp::create(b, loc, x, y, z);
  }
  Value exp2(Value x) {
    return math::Exp2Op::create(b, loc, x, arith::FastMathFlags::afn);
  }
  Value isNegInf(Value x) {
    return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, x,
                                 f32(-kInf));
  }
  Value toF32(Value v) { return extendToF32(b, loc, v); }
  Value fromF32(Value v, Type element) {
    return truncateFromF32(b, loc, v, element);
  }
  Value toIndex(Value v) {
    if (v.getType().isIndex())
      return v;
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  }
  Value splat(Value scalar, int64_t n) {
    return vector::BroadcastOp::create(
        b, loc, VectorType::get({n}, scalar.getType()), scalar);
  }
  Value zeros(int64_t n) { return splat(f32(0), n); }
  /// A 16-byte (at most) vector load, widened to f32.
  Value loadVec(Value memref, ValueRange indices, int64_t n) {
    Type element = cast<MemRefType>(memref.getType()).getElementType();
    // 16 bytes at most: wider vectors are split into 16-byte accesses.
    int64_t bytes = std::min<int64_t>(16, n * element.getIntOrFloatBitWidth() / 8);
    Value v = vector::LoadOp::create(b, loc, VectorType::get({n}, element),
                                     memref, indices, /*nontemporal=*/false,
                                     llvm::MaybeAlign(bytes));
    return toF32(v);
  }
  void storeVec(Value v, Value memref, ValueRange indices) {
    Type element = cast<MemRefType>(memref.getType()).getElementType();
    Value narrow = fromF32(v, element);
    int64_t n = cast<VectorType>(v.getType()).getNumElements();
    int64_t bytes = std::min<int64_t>(16, n * element.getIntOrFloatBitWidth() / 8);
    vector::StoreOp::create(b, loc, narrow, memref, indices,
                            /*nontemporal=*/false, llvm::MaybeAlign(bytes));
  }
  Value load(Value memref, ValueRange indices) {
    return memref::LoadOp::create(b, loc, memref, indices);
  }
  void store(Value v, Value memref, ValueRange indices) {
    memref::StoreOp::create(b, loc, v, memref, indices);
  }
  Value reduceAdd(Value v) {
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, v);
  }
  Value shuffleXor(Value v, int64_t offset) {
    return gpu::ShuffleOp::create(b, loc, v, int32_t(offset), int32_t(32),
                                  gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }
  /// softcap * tanh(x / softcap), with tanh(y) = 1 - 2 / (exp(2y) + 1)
  /// (exact at both infinities, no libdevice call).
  Value softcap(Value x, double cap) {
    Value t = exp2(fmul(x, f32(2.0 * kLog2e / cap)));
    Value tanh = fsub(f32(1), fdiv(f32(2), fadd(t, f32(1))));
    return fmul(tanh, f32(cap));
  }
};

/// mma.sync m16n8k16 on f16 or bf16 operands with f32 accumulators, and the
/// fragments it takes (lane = 4 g + t): A rows g, g + 8 x columns 2t, 2t + 1
/// (+ 8); B column g x rows 2t, 2t + 1 (+ 8); accumulators rows g, g + 8 x
/// columns 2t, 2t + 1. An operand register holds two elements (bf16 pairs
/// go to nvvm.mma.sync as i32).
struct MmaSync {
  KB &k;
  Type element; // f16 or bf16

  /// One operand register from a vector<2> of `element`.
  Value operand(Value pair) {
    if (element.isF16())
      return pair;
    Value w = vector::BitCastOp::create(
        k.b, k.loc, VectorType::get({1}, k.b.getI32Type()), pair);
    return vector::ExtractOp::create(k.b, k.loc, w, 0);
  }
  /// One operand register: elements i of `a` and j of `b` (j counts from
  /// a's size, as in vector.shuffle).
  Value pair(Value a, Value b, int64_t i, int64_t j) {
    return operand(vector::ShuffleOp::create(k.b, k.loc, a, b,
                                             ArrayRef<int64_t>{i, j}));
  }
  /// Two f32 values rounded to one operand register.
  Value pack(Value x, Value y) {
    Value v = vector::FromElementsOp::create(
        k.b, k.loc, VectorType::get({2}, k.b.getF32Type()), ValueRange{x, y});
    return operand(k.fromF32(v, element));
  }
  /// d = a b + c: four A, two B registers, four f32 accumulators.
  SmallVector<Value> mma(ArrayRef<Value> a, ArrayRef<Value> bOp,
                         ArrayRef<Value> c) {
    Type f32 = k.b.getF32Type();
    auto result = LLVM::LLVMStructType::getLiteral(k.b.getContext(),
                                                   {f32, f32, f32, f32});
    NVVM::MMATypes type =
        element.isF16() ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
    Value d = NVVM::MmaOp::create(
        k.b, k.loc, result, a, bOp, c, ArrayRef<int64_t>{16, 8, 16},
        std::nullopt, std::nullopt, std::array<NVVM::MMATypes, 2>{type, type},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    SmallVector<Value> res;
    for (int64_t e = 0; e < 4; ++e)
      res.push_back(LLVM::ExtractValueOp::create(k.b, k.loc, d, e));
    return res;
  }
  /// ldmatrix x4 of shared-memory `tile` at `indices` (of this lane's
  /// matrix row): four operand registers, matrix i from the rows lanes
  /// 8i..8i+7 address.
  SmallVector<Value> ldmatrix(Value tile, ValueRange indices, bool transpose) {
    Value m = nvgpu::LdMatrixOp::create(
        k.b, k.loc, VectorType::get({4, 2}, element), tile, indices,
        k.b.getBoolAttr(transpose), k.b.getI32IntegerAttr(4));
    SmallVector<Value> regs;
    for (int64_t i = 0; i < 4; ++i)
      regs.push_back(operand(vector::ExtractOp::create(k.b, k.loc, m, i)));
    return regs;
  }
};

/// The online-softmax state (running max and sum in log2 units, and the
/// accumulator chunks) of one query head.
struct HeadState {
  Value max, sum;
  SmallVector<Value> acc;
};

/// Merges `other` into `into` (the same head's state from other keys).
inline void combine(KB &k, HeadState &into, const HeadState &other) {
  Value m = k.fmax(into.max, other.max);
  Value safe = k.select(k.isNegInf(m), k.f32(0), m);
  Value a = k.exp2(k.fsub(into.max, safe));
  Value c = k.exp2(k.fsub(other.max, safe));
  into.sum = k.fadd(k.fmul(into.sum, a), k.fmul(other.sum, c));
  for (auto [acc, o] : llvm::zip(into.acc, other.acc)) {
    int64_t n = cast<VectorType>(acc.getType()).getNumElements();
    acc = k.fma(k.splat(c, n), o, k.fmul(acc, k.splat(a, n)));
  }
  into.max = m;
}

/// One online-softmax step on row h (0: g, 1: g + 8) of a score tile in
/// mma.sync accumulator fragments (TensorCorePrefill.cpp, WgmmaPrefill.cpp):
/// s[j][2h + e] is key 8j + 2t + e of the tile. The scores go to log2 units
/// (through the softcap, if any; `raw` leaves them unscaled and folds the
/// scale into the exp2's fma, as FA2 does), `mask(x, j, e)` drops or shifts
/// each one, the row's four lanes share its max, and the scores become
/// their exp2 weights in place.
struct FragmentRowStep {
  Value max, sum, alpha; // running max and sum after the tile; O's factor
};
inline FragmentRowStep
fragmentRowSoftmax(KB &k, MutableArrayRef<SmallVector<Value>> s, int64_t h,
                   Value max, Value sum, const AttentionPlan &p, bool raw,
                   function_ref<Value(Value, int64_t, int64_t)> mask) {
  double c = p.scale * kLog2e;
  int64_t sTiles = s.size();
  for (int64_t j = 0; j < sTiles; ++j)
    for (int64_t e = 0; e < 2; ++e) {
      Value &x = s[j][2 * h + e];
      if (p.softcap)
        x = k.fmul(k.softcap(k.fmul(x, k.f32(p.scale)), *p.softcap),
                   k.f32(kLog2e));
      else if (!raw)
        x = k.fmul(x, k.f32(c));
      x = mask(x, j, e);
    }
  Value mNew;
  for (int64_t j = 0; j < sTiles; ++j)
    for (int64_t e = 0; e < 2; ++e)
      mNew = mNew ? k.fmax(mNew, s[j][2 * h + e]) : s[j][2 * h + e];
  for (int64_t off = 1; off < 4; off *= 2)
    mNew = k.fmax(mNew, k.shuffleXor(mNew, off));
  if (raw)
    mNew = k.fmul(mNew, k.f32(c));
  // The running max in log2 units.
  mNew = k.fmax(max, mNew);
  // A row that has seen no key yet keeps -inf: subtract 0 instead.
  Value safe = k.select(k.isNegInf(mNew), k.f32(0), mNew);
  Value alpha = k.exp2(k.fsub(max, safe));
  Value l = k.fmul(sum, alpha);
  Value negSafe = k.fsub(k.f32(0), safe);
  for (int64_t j = 0; j < sTiles; ++j)
    for (int64_t e = 0; e < 2; ++e) {
      Value &x = s[j][2 * h + e];
      x = k.exp2(raw ? math::FmaOp::create(k.b, k.loc, x, k.f32(c), negSafe)
                     : k.fsub(x, safe));
      l = k.fadd(l, x);
    }
  return {mNew, l, alpha};
}

/// Stores rows rows[0] (g) and rows[1] (g + 8) of an mma.sync accumulator
/// into out[batch, head, row, :], those before `queryLen`, divided by their
/// sums: state is (m0, m1, l0, l1, then 4 registers per 8-column tile),
/// each l this lane's part of its row's sum; a fully masked row (sum 0)
/// gives 0.
inline void storeFragmentRows(KB &k, ValueRange state, ArrayRef<Value> rows,
                              int64_t queryLen, int64_t oTiles, Value t,
                              Value out, Value batch, Value head) {
  for (int64_t h = 0; h < 2; ++h) {
    Value l = state[2 + h];
    for (int64_t off = 1; off < 4; off *= 2)
      l = k.fadd(l, k.shuffleXor(l, off));
    Value zero = arith::CmpFOp::create(k.b, k.loc, arith::CmpFPredicate::OEQ,
                                       l, k.f32(0));
    Value inv = k.select(zero, k.f32(0), k.fdiv(k.f32(1), l));
    auto ifOp = scf::IfOp::create(k.b, k.loc, k.lt(rows[h], k.idx(queryLen)),
                                  /*withElse=*/false);
    OpBuilder::InsertionGuard guard(k.b);
    k.b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    for (int64_t i = 0; i < oTiles; ++i) {
      Value v = vector::FromElementsOp::create(
          k.b, k.loc, VectorType::get({2}, k.b.getF32Type()),
          ValueRange{k.fmul(state[4 + 4 * i + 2 * h], inv),
                     k.fmul(state[4 + 4 * i + 2 * h + 1], inv)});
      Value col = k.add(k.mul(t, k.idx(2)), k.idx(8 * i));
      k.storeVec(v, out, {batch, head, rows[h], col});
    }
  }
}

/// The position of batch row `batch` in a decode step: a kernel argument
/// that is an index, a rank-0 integer memref (the model's `cache_position`)
/// or a [B] integer memref (per-row positions), read on the device.
inline Value readPosition(KB &k, Value arg, Value batch) {
  if (arg.getType().isIndex())
    return arg;
  if (cast<MemRefType>(arg.getType()).getRank() == 0)
    return k.toIndex(k.load(arg, {}));
  return k.toIndex(k.load(arg, {batch}));
}

/// Creates a kernel `name` with `argTypes` (and workgroup buffers) in
/// `module`; the builder stays where it was.
inline gpu::GPUFuncOp createKernel(OpBuilder &b, Location loc,
                                   gpu::GPUModuleOp module, StringRef name,
                                   TypeRange argTypes,
                                   TypeRange workgroup = {}) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(b, loc, name,
                                     b.getFunctionType(argTypes, {}), workgroup);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  return func;
}

// Decode serving forms (ServingKernels.cpp).

/// Whether the run's error record (an !llvm.ptr kernel argument, see
/// attn_rt_cuda_error_record) is clear: no decode step of the run so far
/// met a bad position or table entry. As on the CPU, a bad row makes the
/// whole step write no cache entry and give NaN.
Value errorRecordClear(KB &k, Value record);

/// The page holding key `position` of batch row `batch`: table[batch,
/// position / pageSize], clamped into the pool (the check kernel reports an
/// entry outside it; the clamp only keeps the loads of a failed step and of
/// the padding keys past the end in bounds).
Value pageOf(KB &k, Value table, Value batch, Value position,
             const AttentionPlan &p);

/// An n-element load of a cache row, widened to f32: floats are extended,
/// int8 codes converted, fp8 E4M3 codes decoded (the scale is applied by
/// the caller).
Value loadCacheVec(KB &k, Value memref, ValueRange indices, int64_t n);

/// n 8-bit cache codes (i8 or f8E4M3FN) as a vector of the float type
/// `element` (f16 or bf16, which hold every code's value exactly).
Value loadCodesAs(KB &k, Value memref, ValueRange indices, int64_t n,
                  Type element);

/// The f32 scalar `x` (already divided by the scale) as an element of
/// `element`: int8 clamp(roundeven(x), -127, 127), fp8 E4M3 rounded to
/// nearest even and saturated to +-448, other floats truncated: the CPU's
/// rounding (AttnToLoops/QuantizedCache.cpp).
Value encodeCacheElement(KB &k, Value x, Type element);

/// Builds the partial kernel's body: the block's indices and key range,
/// the loop over its keys (CUDA cores, or tensor cores for groups of 4 or
/// more), the merge of the warps through shared memory.
class PartialBuilder {
public:
  PartialBuilder(OpBuilder &b, Location loc, const AttentionPlan &plan,
                 ValueRange args, const PartialArgs &at)
      : k{b, loc}, p(plan), args(args), at(at) {}

  void build(Value smem) {
    setup();
    if (p.tensorCores)
      buildTensorCores(smem);
    else
      buildCudaCores(smem);
    finish(smem);
  }

private:
  KB k;
  const AttentionPlan &p;
  ValueRange args;
  const PartialArgs &at;

  // Per-block values.
  Value tid, lane, warp, split, batch, kvHead, headChunk, row;
  Value firstHead, lastHead;
  Value inRange;  // decode: every row's position fits in the cache
  Value rowStart; // decode: pos[b], the position of the first new token
  SmallVector<Value> heads; // per local head: its Hq index (clamped)

  Value arg(int i) { return args[i]; }
  /// The first three indices of key j (a position, >= 0; keys past the
  /// row's end, whose scores are dropped, are clamped into the cache) in
  /// the caches: (batch, kvHead, j), in a ring (batch, kvHead, j % W) or,
  /// paged, (page, kvHead, slot).
  SmallVector<Value> cacheRow(Value j) {
    if (p.ring)
      return {batch, kvHead, k.rem(j, p.keyLen)};
    j = k.min(j, k.idx(p.keyLen - 1));
    if (!p.paged)
      return {batch, kvHead, j};
    return {pageOf(k, arg(at.table), batch, j, p), kvHead,
            k.rem(j, p.pageSize)};
  }
  static SmallVector<Value> withColumn(ArrayRef<Value> row, Value column) {
    SmallVector<Value> indices(row);
    indices.push_back(column);
    return indices;
  }
  /// Whether the tree mask keeps key j for this block's query row: a key
  /// of the cache (before pos[b]) or a new token t = j - pos[b] whose
  /// entry [b, row, t] is nonzero.
  Value keptByTree(Value j);
  /// Whether key j (of the split's keys, before `stop`) counts for this
  /// block's query row, for all its heads: in range and kept by the tree.
  Value visible(Value j, Value stop);
  /// Block and thread indices, the block's query heads.
  void setup();
  /// The keys [begin, end) visible to this block's query row: causal
  /// limit, key lengths, window, the row's own prefix of the cache.
  std::pair<Value, Value> keyRange();
  /// This split's keys [begin, stop): keyRange() cut into `splits` pieces,
  /// each a multiple of `perIteration` long (so a window costs O(window)).
  std::pair<Value, Value> splitRange(int64_t perIteration);
  Value score(Value dot, Value head, Value j, Value valid);
  /// Fill smem[warp][local head][0..Dv) with the warp's accumulator, [Dv]
  /// with its running max and [Dv + 1] with its sum.
  void buildCudaCores(Value smem);
  void buildTensorCores(Value smem); // TensorCoreDecode.cpp
  /// Merges the warps' states from smem and writes the output or the
  /// workspace.
  void finish(Value smem);
};

} // namespace mlir::attn::gpu_kernels

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_KERNELBUILDER_H
