//===- WgmmaBuilder.h - Hopper wgmma helpers for the kernels -*- C++ -*-===//
//
// Private to convert-attn-to-gpu: shared-memory matrix descriptors of the
// 128-byte swizzled layout, warpgroup MMAs (wgmma.mma_async) with both
// operands in shared memory (nvvm.wgmma.mma_async) or A in registers (inline
// PTX: neither nvgpu nor nvvm has that form in MLIR 22), and the fences
// around them.
//
// The 128-byte swizzled layout (PTX "canonical" SWIZZLE_128B): a tile of R
// rows x 64 16-bit elements is R lines of 128 bytes, and 16-byte chunk c of
// line r sits at chunk c ^ (r % 8); wider rows are several such tiles one
// after the other ("column blocks"). An 8-line group (1 KiB) is a swizzle
// atom and must be 1 KiB aligned: the hardware swizzles on the address
// bits.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_WGMMABUILDER_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_WGMMABUILDER_H

#include "KernelBuilder.h"

#include "llvm/ADT/StringExtras.h"

namespace mlir::attn::gpu_kernels {

/// Bytes of one swizzle atom (8 lines of 128 bytes).
constexpr int64_t kSwizzleAtomBytes = 1024;

/// Element offset of 16-byte chunk `chunk` (of 8 16-bit elements) of row
/// `row` in a swizzled tile of `rows` rows (chunks past 8 go to the next
/// column block).
inline Value swizzledOffset(KB &k, Value row, Value chunk, int64_t rows) {
  Value block = k.div(chunk, 8);
  Value c = k.rem(chunk, 8);
  Value swz = arith::XOrIOp::create(k.b, k.loc, c, k.rem(row, 8));
  return k.add(k.mul(block, k.idx(rows * 64)),
               k.add(k.mul(row, k.idx(64)), k.mul(swz, k.idx(8))));
}

/// The 64-bit wgmma matrix descriptor of a SWIZZLE_128B operand at shared
/// byte address `address` (an index, the 32-bit shared-window address):
/// bits 0-13 address / 16, 16-29 leading byte offset / 16, 32-45 stride
/// byte offset / 16, 62-63 the layout (1 = 128-byte swizzle). Offsets from
/// here are added to the result (`address` / 16 + offset / 16 stays below
/// 2^14 in the 228 KiB of shared memory).
inline Value descriptor(KB &k, Value address, int64_t leading,
                        int64_t stride) {
  Type i64 = k.b.getI64Type();
  Value a = arith::IndexCastUIOp::create(k.b, k.loc, i64, address);
  auto c = [&](uint64_t v) {
    return arith::ConstantOp::create(k.b, k.loc, k.b.getI64IntegerAttr(v));
  };
  a = arith::AndIOp::create(
      k.b, k.loc, arith::ShRUIOp::create(k.b, k.loc, a, c(4)), c(0x3FFF));
  uint64_t fixed = (uint64_t(leading >> 4) << 16) |
                   (uint64_t(stride >> 4) << 32) | (uint64_t(1) << 62);
  return arith::OrIOp::create(k.b, k.loc, a, c(fixed));
}

/// `desc` advanced by `bytes` (a multiple of 16).
inline Value advance(KB &k, Value desc, int64_t bytes) {
  if (bytes == 0)
    return desc;
  return arith::AddIOp::create(
      k.b, k.loc, desc,
      arith::ConstantOp::create(k.b, k.loc, k.b.getI64IntegerAttr(bytes >> 4)));
}

/// A struct of `n` f32 (a wgmma accumulator).
inline Type accumulatorType(KB &k, int64_t n) {
  return LLVM::LLVMStructType::getLiteral(
      k.b.getContext(), SmallVector<Type>(n, k.b.getF32Type()));
}

inline Value packStruct(KB &k, ArrayRef<Value> values) {
  Value s = LLVM::UndefOp::create(k.b, k.loc, accumulatorType(k, values.size()));
  for (auto [i, v] : llvm::enumerate(values))
    s = LLVM::InsertValueOp::create(k.b, k.loc, s, v, int64_t(i));
  return s;
}

inline SmallVector<Value> unpackStruct(KB &k, Value s) {
  auto type = cast<LLVM::LLVMStructType>(s.getType());
  SmallVector<Value> out;
  for (int64_t i = 0; i < int64_t(type.getBody().size()); ++i)
    out.push_back(LLVM::ExtractValueOp::create(k.b, k.loc, s, i));
  return out;
}

/// The warpgroup fences and groups.
inline void wgmmaFence(KB &k) { NVVM::WgmmaFenceAlignedOp::create(k.b, k.loc); }
inline void wgmmaCommit(KB &k) {
  NVVM::WgmmaGroupSyncAlignedOp::create(k.b, k.loc);
}
inline void wgmmaWait(KB &k, int64_t pending) {
  NVVM::WgmmaWaitGroupSyncOp::create(k.b, k.loc, pending);
}
/// Orders this thread's generic-proxy writes to shared memory (st.shared,
/// cp.async) before later async-proxy reads of it (wgmma operands).
inline void fenceProxyAsync(KB &k) {
  NVVM::FenceProxyOp::create(
      k.b, k.loc, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(k.b.getContext(), NVVM::SharedSpace::shared_cta));
}

/// Passes `values` through an empty side-effecting asm: reads of a wgmma's
/// results are then ordered after the wgmma.wait_group before it (the
/// compiler sees the wgmma results as ready when it issues).
inline SmallVector<Value> pinAfterWait(KB &k, ArrayRef<Value> values) {
  int64_t n = values.size();
  SmallVector<std::string> cons;
  for (int64_t i = 0; i < n; ++i)
    cons.push_back("=f");
  for (int64_t i = 0; i < n; ++i)
    cons.push_back(std::to_string(i));
  auto asmOp = LLVM::InlineAsmOp::create(
      k.b, k.loc, accumulatorType(k, n), values, "", llvm::join(cons, ","),
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::tailcallkind::TailCallKind::None,
      LLVM::AsmDialectAttr::get(k.b.getContext(), LLVM::AsmDialect::AD_ATT),
      ArrayAttr());
  return unpackStruct(k, asmOp.getResult(0));
}

/// D = A B (+ D unless `zeroInit`), m64nNk16, A and B from shared memory,
/// both K-major (row-major A, B stored as its N x K transpose).
inline Value wgmmaSS(KB &k, Value descA, Value descB, Value acc, int64_t n,
                     Type element, bool zeroInit) {
  MLIRContext *ctx = k.b.getContext();
  auto type = NVVM::WGMMATypesAttr::get(
      ctx, element.isF16() ? NVVM::WGMMATypes::f16 : NVVM::WGMMATypes::bf16);
  return NVVM::WgmmaMmaAsyncOp::create(
      k.b, k.loc, acc.getType(), acc, descA, descB,
      NVVM::MMAShapeAttr::get(ctx, 64, n, 16), type, type,
      NVVM::WGMMATypesAttr::get(ctx, NVVM::WGMMATypes::f32),
      NVVM::WGMMAScaleOutAttr::get(ctx, zeroInit ? NVVM::WGMMAScaleOut::zero
                                                 : NVVM::WGMMAScaleOut::one),
      NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one),
      NVVM::WGMMAScaleInAttr::get(ctx, NVVM::WGMMAScaleIn::one),
      NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::row),
      NVVM::MMALayoutAttr::get(ctx, NVVM::MMALayout::col),
      NVVM::MMAIntOverflowAttr());
}

/// D += A B, m64nNk16, A in registers (four 32-bit registers a thread: the
/// mma.sync m16n8k16 A fragment of its warp's 16 rows), B from shared
/// memory stored N-major (K rows of N contiguous elements: transposed).
/// Inline PTX: the register-A form is in neither nvgpu nor nvvm.
inline SmallVector<Value> wgmmaRS(KB &k, ArrayRef<Value> a, Value descB,
                                  ArrayRef<Value> acc, int64_t n,
                                  Type element) {
  int64_t regs = n / 2;
  assert(int64_t(acc.size()) == regs && a.size() == 4);
  std::string text = "{\n.reg .pred p;\nsetp.ne.b32 p, $" +
                     std::to_string(regs + 5) + ", 0;\n" +
                     "wgmma.mma_async.sync.aligned.m64n" + std::to_string(n) +
                     "k16.f32." + (element.isF16() ? "f16.f16" : "bf16.bf16") +
                     " {";
  for (int64_t i = 0; i < regs; ++i)
    text += (i ? ",$" : "$") + std::to_string(i);
  text += "}, {";
  for (int64_t i = 0; i < 4; ++i)
    text += (i ? ",$" : "$") + std::to_string(regs + i);
  text += "}, $" + std::to_string(regs + 4) + ", p, 1, 1, 1;\n}";
  SmallVector<std::string> cons;
  for (int64_t i = 0; i < regs; ++i)
    cons.push_back("=f");
  for (int64_t i = 0; i < 4; ++i)
    cons.push_back("r");
  cons.push_back("l");
  cons.push_back("r");
  for (int64_t i = 0; i < regs; ++i)
    cons.push_back(std::to_string(i));
  SmallVector<Value> operands(a.begin(), a.end());
  operands.push_back(descB);
  operands.push_back(k.i32(1)); // scale-d: accumulate
  operands.append(acc.begin(), acc.end());
  auto asmOp = LLVM::InlineAsmOp::create(
      k.b, k.loc, accumulatorType(k, regs), operands, text,
      llvm::join(cons, ","), /*has_side_effects=*/true,
      /*is_align_stack=*/false, LLVM::tailcallkind::TailCallKind::None,
      LLVM::AsmDialectAttr::get(k.b.getContext(), LLVM::AsmDialect::AD_ATT),
      ArrayAttr());
  return unpackStruct(k, asmOp.getResult(0));
}

} // namespace mlir::attn::gpu_kernels

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_WGMMABUILDER_H
