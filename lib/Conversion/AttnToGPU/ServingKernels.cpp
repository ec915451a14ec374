//===- ServingKernels.cpp - paged, 8-bit and checked decode on the GPU ----===//
//
// The parts of the decode kernels that serve inference servers' caches:
//  - the check kernel: one block that validates every row's position (and,
//    paged, every block-table entry the rows reach) before the append and
//    the attention run, and records the first bad one in the run's error
//    record, a small device buffer of the runtime (attn_rt_cuda_error_record
//    in CudaRuntime.cpp) that the runtime reads once after the run and
//    turns into the CPU's error message;
//  - page addressing through the block table (reads and writes in place);
//  - the 8-bit cache codecs: the append quantises as the CPU does
//    (AttnToLoops/QuantizedCache.cpp), the kernels dequantise to f32;
//  - the draft tree of a speculative decode step (AttnToLoops/TreeMask.cpp
//    on the CPU): one load of the small tree table per score of a new
//    token. Ring slots are addressed in PartialBuilder::cacheRow and the
//    append.
//
// The record is six i64: [0] set (0: clear), [1] buffer, [2] row,
// [3] value, [4] new entries, [5] limit: the arguments of
// attn_rt_report_position_error.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilder.h"

#include "attn/Conversion/CacheCodes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::gpu_kernels;

namespace {

/// A constant of `like`'s shape (scalar or 1-D vector) and element type.
Value constantLike(KB &k, Type like, Type element, double value) {
  Attribute scalar = isa<FloatType>(element)
                         ? Attribute(k.b.getFloatAttr(element, value))
                         : Attribute(k.b.getIntegerAttr(element,
                                                        int64_t(value)));
  if (auto vt = dyn_cast<VectorType>(like))
    return arith::ConstantOp::create(
        k.b, k.loc,
        DenseElementsAttr::get(VectorType::get(vt.getShape(), element),
                               scalar));
  return arith::ConstantOp::create(k.b, k.loc, cast<TypedAttr>(scalar));
}

/// f32 values of E4M3FN codes (scalar or vector of f8E4M3FN): s eeee mmm,
/// bias 7, 0x7f/0xff NaN. A normal code's eeee mmm moves to the top of the
/// f32 exponent and mantissa, rebiased by 127 - 7; subnormals are mmm 2^-9.
Value decodeFp8(KB &k, Value codes) {
  OpBuilder &b = k.b;
  Type type = codes.getType();
  Type i8 = withElementType(type, b.getI8Type());
  Type i32 = withElementType(type, b.getI32Type());
  Type f32 = withElementType(type, b.getF32Type());
  auto c32 = [&](int64_t v) { return constantLike(k, type, b.getI32Type(), v); };
  Value u = arith::ExtUIOp::create(
      b, k.loc, i32, arith::BitcastOp::create(b, k.loc, i8, codes));
  Value sign = arith::ShLIOp::create(
      b, k.loc, arith::AndIOp::create(b, k.loc, u, c32(0x80)), c32(24));
  Value em = arith::AndIOp::create(b, k.loc, u, c32(0x7f));
  Value normal = arith::AddIOp::create(
      b, k.loc, arith::ShLIOp::create(b, k.loc, em, c32(20)), c32(120 << 23));
  Value sub = arith::MulFOp::create(
      b, k.loc, arith::SIToFPOp::create(b, k.loc, f32, em),
      constantLike(k, type, b.getF32Type(), 1.0 / 512.0));
  Value isSub =
      arith::CmpIOp::create(b, k.loc, arith::CmpIPredicate::ult, em, c32(8));
  Value isNaN =
      arith::CmpIOp::create(b, k.loc, arith::CmpIPredicate::eq, em, c32(0x7f));
  Value magnitude = arith::SelectOp::create(
      b, k.loc, isNaN, c32(0x7fc00000),
      arith::SelectOp::create(
          b, k.loc, isSub, arith::BitcastOp::create(b, k.loc, i32, sub),
          normal));
  return arith::BitcastOp::create(
      b, k.loc, f32, arith::OrIOp::create(b, k.loc, magnitude, sign));
}

/// Element `i` of the record as an !llvm.ptr.
Value recordWord(KB &k, Value record, int64_t i) {
  if (i == 0)
    return record;
  return LLVM::GEPOp::create(k.b, k.loc, record.getType(), k.b.getI64Type(),
                             record, ArrayRef<LLVM::GEPArg>{int32_t(i)});
}

Value toI64(KB &k, Value v) {
  Type i64 = k.b.getI64Type();
  if (v.getType() == i64)
    return v;
  if (v.getType().isIndex())
    return arith::IndexCastOp::create(k.b, k.loc, i64, v);
  return arith::ExtSIOp::create(k.b, k.loc, i64, v);
}

/// Sets the record unless an earlier report of the run did (the first
/// report wins, as on the CPU).
void report(KB &k, Value record, int64_t buffer, Value row, Value value,
            Value entries, Value limit) {
  OpBuilder &b = k.b;
  Value zero = arith::ConstantOp::create(b, k.loc, b.getI64IntegerAttr(0));
  Value one = arith::ConstantOp::create(b, k.loc, b.getI64IntegerAttr(1));
  Value exchange = LLVM::AtomicCmpXchgOp::create(
      b, k.loc, record, zero, one, LLVM::AtomicOrdering::acq_rel,
      LLVM::AtomicOrdering::monotonic);
  Value won = LLVM::ExtractValueOp::create(b, k.loc, exchange, 1);
  auto ifWon = scf::IfOp::create(b, k.loc, won, /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifWon.getThenRegion().front());
  Value fields[] = {
      arith::ConstantOp::create(b, k.loc, b.getI64IntegerAttr(buffer)),
      toI64(k, row), toI64(k, value), toI64(k, entries), toI64(k, limit)};
  for (auto [i, v] : llvm::enumerate(fields))
    LLVM::StoreOp::create(b, k.loc, v, recordWord(k, record, int64_t(i) + 1));
}

} // namespace

Value mlir::attn::gpu_kernels::errorRecordClear(KB &k, Value record) {
  Value set = LLVM::LoadOp::create(k.b, k.loc, k.b.getI64Type(), record);
  Value zero = arith::ConstantOp::create(k.b, k.loc, k.b.getI64IntegerAttr(0));
  return k.cmp(arith::CmpIPredicate::eq, set, zero);
}

Value mlir::attn::gpu_kernels::pageOf(KB &k, Value table, Value batch,
                                      Value position, const AttentionPlan &p) {
  Value page = k.toIndex(k.load(table, {batch, k.div(position, p.pageSize)}));
  return k.min(k.max(page, k.idx(0)), k.idx(p.numPages - 1));
}

Value PartialBuilder::keptByTree(Value j) {
  Value tree = arg(at.tree);
  auto type = cast<MemRefType>(tree.getType());
  // Query row `row` stands at pos[b] + row (Sq == Sn); keys before pos[b]
  // are the cache's, which the tree does not restrict.
  Value old = k.lt(j, rowStart);
  // Indices stay in the table for old keys and for keys past the row's end
  // (their entry is not used).
  Value t = k.min(k.select(old, k.idx(0), k.sub(j, rowStart)),
                  k.idx(p.newKeys - 1));
  SmallVector<Value> indices;
  if (type.getRank() == 3)
    indices.push_back(type.getDimSize(0) == 1 ? k.idx(0) : batch);
  indices.append({row, t});
  Value entry = k.load(tree, indices);
  Value keep = entry;
  if (!entry.getType().isInteger(1))
    keep = k.cmp(arith::CmpIPredicate::ne, entry,
                 arith::ConstantOp::create(k.b, k.loc,
                                           k.b.getZeroAttr(entry.getType())));
  return arith::OrIOp::create(k.b, k.loc, old, keep);
}

Value mlir::attn::gpu_kernels::loadCacheVec(KB &k, Value memref,
                                            ValueRange indices, int64_t n) {
  Type element = cast<MemRefType>(memref.getType()).getElementType();
  if (!element.isInteger(8) && !isa<Float8E4M3FNType>(element))
    return k.loadVec(memref, indices, n);
  Value codes = vector::LoadOp::create(
      k.b, k.loc, VectorType::get({n}, element), memref, indices,
      /*nontemporal=*/false, llvm::MaybeAlign(std::min<int64_t>(16, n)));
  if (element.isInteger(8))
    return arith::SIToFPOp::create(
        k.b, k.loc, VectorType::get({n}, k.b.getF32Type()), codes);
  return decodeFp8(k, codes);
}

Value mlir::attn::gpu_kernels::loadCodesAs(KB &k, Value memref,
                                           ValueRange indices, int64_t n,
                                           Type element) {
  Type code = cast<MemRefType>(memref.getType()).getElementType();
  Value codes = vector::LoadOp::create(
      k.b, k.loc, VectorType::get({n}, code), memref, indices,
      /*nontemporal=*/false, llvm::MaybeAlign(std::min<int64_t>(16, n)));
  auto type = VectorType::get({n}, element);
  if (code.isInteger(8))
    return arith::SIToFPOp::create(k.b, k.loc, type, codes);
  return arith::TruncFOp::create(k.b, k.loc, type, decodeFp8(k, codes));
}

Value mlir::attn::gpu_kernels::encodeCacheElement(KB &k, Value x,
                                                  Type element) {
  return encodeCacheCode(k.b, k.loc, x, element);
}

gpu::GPUFuncOp mlir::attn::gpu_kernels::buildCheckKernel(
    OpBuilder &b, Location loc, gpu::GPUModuleOp module, StringRef name,
    const AttentionPlan &p, TypeRange argTypes, const DecodeArgs &at,
    const CheckReport &ids) {
  // smem[0]: the first bad row, smem[1]: the first bad table entry (row *
  // maxPages + column); INT32_MAX: none.
  auto smemType = MemRefType::get(
      {2}, b.getI32Type(), MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup));
  gpu::GPUFuncOp func =
      createKernel(b, loc, module, name, argTypes, TypeRange{smemType});
  func.setKnownBlockSize(b.getDenseI32ArrayAttr({int32_t(kCheckThreads), 1, 1}));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&func.getBody().front());
  KB k{b, loc};
  Value smem = func.getWorkgroupAttributions().front();
  Value positions = func.getArgument(at.position);
  Value record = func.getArgument(at.error);
  Value none = k.i32(std::numeric_limits<int32_t>::max());
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value first = k.cmp(arith::CmpIPredicate::eq, tid, k.idx(0));
  auto eq = [&](Value x, Value y) {
    return k.cmp(arith::CmpIPredicate::eq, x, y);
  };
  auto inThen = [&](scf::IfOp op) {
    b.setInsertionPointToStart(&op.getThenRegion().front());
  };
  {
    auto init = scf::IfOp::create(b, loc, first, false);
    OpBuilder::InsertionGuard g(b);
    inThen(init);
    k.store(none, smem, {k.idx(0)});
    k.store(none, smem, {k.idx(1)});
  }
  gpu::BarrierOp::create(b, loc);
  Value capacity = k.idx(p.keyLen);
  auto positionBad = [&](Value pos) -> Value {
    // A ring has no end: only a negative position is bad.
    if (p.ring)
      return k.lt(pos, k.idx(0));
    return arith::OrIOp::create(b, loc, k.lt(pos, k.idx(0)),
                                k.cmp(arith::CmpIPredicate::sgt,
                                      k.add(pos, k.idx(p.newKeys)), capacity));
  };
  // Threads stride over the rows; the smallest bad one wins.
  int64_t rows = p.rowPositions ? p.batch : 1;
  {
    auto loop = scf::ForOp::create(b, loc, tid, k.idx(rows),
                                   k.idx(kCheckThreads));
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(loop.getBody());
    Value r = loop.getInductionVar();
    auto bad = scf::IfOp::create(
        b, loc, positionBad(readPosition(k, positions, r)), false);
    inThen(bad);
    memref::AtomicRMWOp::create(
        b, loc, arith::AtomicRMWKind::mins,
        arith::IndexCastOp::create(b, loc, b.getI32Type(), r), smem,
        ValueRange{k.idx(0)});
  }
  gpu::BarrierOp::create(b, loc);
  Value badRow = k.load(smem, {k.idx(0)});
  if (p.paged) {
    // Only when every position fits (the CPU's order of checks): the
    // entries of the pages covering [0, pos[b] + Sn) of every row.
    Value table = func.getArgument(at.table);
    auto scan = scf::IfOp::create(b, loc, eq(badRow, none), false);
    {
      OpBuilder::InsertionGuard g(b);
      inThen(scan);
      auto loop = scf::ForOp::create(b, loc, tid,
                                     k.idx(p.batch * p.maxPages),
                                     k.idx(kCheckThreads));
      b.setInsertionPointToStart(loop.getBody());
      Value e = loop.getInductionVar();
      Value r = k.div(e, p.maxPages), c = k.rem(e, p.maxPages);
      Value end = k.add(readPosition(k, positions, r), k.idx(p.newKeys));
      Value used = k.ceilDiv(end, k.idx(p.pageSize));
      auto reached = scf::IfOp::create(b, loc, k.lt(c, used), false);
      inThen(reached);
      Value page = k.toIndex(k.load(table, {r, c}));
      Value bad = arith::OrIOp::create(
          b, loc, k.lt(page, k.idx(0)),
          k.cmp(arith::CmpIPredicate::sge, page, k.idx(p.numPages)));
      auto ifBad = scf::IfOp::create(b, loc, bad, false);
      inThen(ifBad);
      memref::AtomicRMWOp::create(
          b, loc, arith::AtomicRMWKind::mins,
          arith::IndexCastOp::create(b, loc, b.getI32Type(), e), smem,
          ValueRange{k.idx(1)});
    }
    gpu::BarrierOp::create(b, loc);
  }
  // Thread 0 reports the first bad position, else the first bad entry.
  auto reporter = scf::IfOp::create(b, loc, first, false);
  inThen(reporter);
  auto anyRow = scf::IfOp::create(
      b, loc, k.cmp(arith::CmpIPredicate::ne, badRow, none), /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g(b);
    inThen(anyRow);
    Value r = k.toIndex(badRow);
    report(k, record, ids.positionBuffer, p.rowPositions ? r : k.idx(-1),
           readPosition(k, positions, r), k.idx(p.newKeys), capacity);
  }
  if (p.paged) {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&anyRow.getElseRegion().front());
    Value badEntry = k.load(smem, {k.idx(1)});
    auto anyEntry = scf::IfOp::create(
        b, loc, k.cmp(arith::CmpIPredicate::ne, badEntry, none), false);
    inThen(anyEntry);
    Value e = k.toIndex(badEntry);
    Value r = k.div(e, p.maxPages), c = k.rem(e, p.maxPages);
    // The hook's new-entry count -(column + 1) marks a table entry.
    report(k, record, ids.tableBuffer, r,
           k.load(func.getArgument(at.table), {r, c}),
           k.sub(k.idx(-1), c), k.idx(p.numPages));
  }
  b.setInsertionPointToEnd(&func.getBody().front());
  gpu::ReturnOp::create(b, loc);
  return func;
}
