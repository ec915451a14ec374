//===- CpuTarget.h - the CPU a pipeline generates code for -----*- C++ -*-===//
//
// The one place that turns `--mcpu`/`--mattr` into what code generation
// needs: the LLVM CPU name and feature string (for the TargetMachine) and the
// f32 vector width (for convert-attn-to-loops and
// convert-contraction-to-vectors). Only `mcpu=native` looks at the host.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_PIPELINES_CPUTARGET_H
#define ATTN_PIPELINES_CPUTARGET_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>

namespace mlir::attn {

/// A resolved CPU target.
struct CpuTarget {
  std::string triple;   ///< the host triple (code runs in this process's ABI)
  std::string cpu;      ///< an LLVM CPU name, never "native"
  std::string features; ///< LLVM feature string ("+avx2,-avx512f,...")
  int64_t f32Lanes = 8; ///< f32 lanes of the widest vector to emit: 8 or 16
  /// bf16 caches widened inside the decode kernel's FMA loops (a 32-bit
  /// broadcast, a shift and a mask per two elements) instead of once per
  /// tile into an f32 copy: AMD Zen 4 and later with AVX-512, whose 512-bit
  /// FMAs run one per cycle and leave the vector ALU ops beside them free
  /// (measured on Zen 4: the in-loop form at the FMA peak from L1). Intel
  /// cores with two 512-bit FMA ports issue shifts on the same ports.
  bool inlineBF16Widening = false;
  /// Decode on bf16 caches with AVX512_BF16 dot products (Q.K and P.V of
  /// MQA and GQA) (vdpbf16ps; convert-attn-to-loops{bf16-dot-products}): --bf16-dot-
  /// products=on, or auto on AMD Zen 4/5 with avx512bf16 (see CpuTarget.cpp).
  bool bf16DotProducts = false;
  /// The f32 key and value tiles of MQA-like decode on f16 caches widened
  /// during the other phase's FMA loop (vcvtph2ps and a store per FMA-loop
  /// step beside the FMAs) instead of in loops of their own: AMD Zen 4 and
  /// later with AVX-512 (a C model of the kernel 2-7% faster; on the kernel
  /// within the noise of a loaded machine: bench/RESULTS.md, branch
  /// cpu-decode-mqa6). Intel cores were not measured: they keep the form
  /// with the separate loops.
  bool overlapTileWidening = false;
  /// Decode with few query heads per KV head (the periodic layout) reads
  /// each key row whole, in address order: AMD Zen 4's prefetchers lose
  /// the column-wise reads (a line of 16 rows per step) of the default.
  bool keyRowsInOrder = false;
  /// Keys per online-softmax tile of GQA decode with 4 or more query heads
  /// per KV head on f16 key caches (convert-attn-to-loops{f16-grouped-tile-
  /// keys}; 0: the kernel's 32). No target takes longer tiles for every
  /// cache (the pass option grouped-tile-keys): on the idle Zen 4 they were
  /// slower on f16 and f32 caches and mixed on bf16 (bench/RESULTS.md). 128
  /// here on Zen 4: since then the kernel changed, and there that decode
  /// is bound by the FP pipes on one thread (vcvtph2ps and the score
  /// fold's shuffles compete with the FMAs), and longer tiles spread the
  /// per-tile softmax and accumulator traffic over more keys (1.05-1.12x on
  /// one thread, 0.97-0.98x on two, memory bound; G 2 0.97x, so not for
  /// G 2; bf16 and f32 caches lose with them: bench/RESULTS.md, 2026-12-05
  /// 07:30-).
  int64_t f16GroupedTileKeys = 0;
  /// Threads claim the work items of attention and decode from a shared
  /// counter (convert-attn-to-loops{claim-work-items}) instead of equal
  /// static blocks: true on every target. What it fixes belongs to the
  /// machine (threads of one step finishing apart: unequal memory speed per
  /// vCPU, other jobs), not to the ISA, and it costs an atomic add per
  /// item. 2-thread decode, interleaved A/B with the timed steps under
  /// SCHED_FIFO (bench/RESULTS.md): on a Zen 4 VM the barrier wait fell
  /// 2.5-8x; on an Emerald Rapids VM the static split's median wall time
  /// per step was 0.94-1.42x the claimed items' (>= 1 in 9 of 10 runs).
  bool claimWorkItems = true;
  /// Decode matvecs stream whole weight rows in memory order and split K
  /// between threads (convert-contraction-to-vectors{row-streaming}): AMD
  /// Zen 4's prefetchers lose the tiled kernel's strided pieces of rows
  /// (10-12 GB/s against 21-28 GB/s in order).
  bool rowStreamMatVec = false;
  /// The constant weights of decode matvecs (one row) stored transposed,
  /// [N, K], at compile time (attn-transpose-matvec-weights), so that each
  /// output is a dot product over a contiguous weight row: AMD Zen 4 with
  /// AVX-512, where that form reads four distant rows per step without the
  /// row-streaming form's loads and stores of partial outputs (see
  /// DotMatVec.cpp and bench/RESULTS.md).
  bool transposeMatVecWeights = false;
  /// Constant [N, K] weights (ONNX Gemm with transB) of contractions with
  /// more rows than the dot-product form takes stored [K, N] at compile
  /// time (attn-transpose-matvec-weights{blocked-rows=17}): every target,
  /// for the tiled kernel's row blocks (a prefill of SmolLM2's 576 x 576
  /// with transB: scalar loops before).
  bool blockedMatmulWeights = true;
  /// Alignment in bytes of the decode kernels' stack tiles
  /// (convert-attn-to-loops{tile-alignment}; 0: the element's): one f32
  /// vector on every target (64 with AVX-512, 32 with AVX2), so that no
  /// vector load or store of a tile straddles two cache lines (a split
  /// access: two L1 accesses). Without it the allocas were `align 4` and
  /// landed where the frame and the stack's random offset put them. On the
  /// loaded Emerald Rapids host (interleaved A/B, CPU time under SCHED_FIFO)
  /// MQA's median step was 1.21-1.33x faster on f16 / bf16 caches, f32 and
  /// GQA-4 within the noise (bench/RESULTS.md, branch cpu-decode-intel).
  /// Zen 4 was not measured with it; there it changes the allocas'
  /// alignment only (the loops are the same).
  int64_t tileAlignment = 0;
};

/// Resolves `mcpu` ("native" or "": the host CPU and its features; else an
/// LLVM CPU name such as x86-64-v3) plus `mattr` (comma-separated +feature /
/// -feature, applied last). Fails with `error` for an unknown CPU or feature.
/// `bf16DotProducts` ("auto", "on" or "off") sets CpuTarget::bf16DotProducts;
/// "on" for a target without AVX512_BF16 fails.
FailureOr<CpuTarget> resolveCpuTarget(llvm::StringRef mcpu,
                                      llvm::StringRef mattr,
                                      std::string &error,
                                      llvm::StringRef bf16DotProducts = "auto");

} // namespace mlir::attn

#endif // ATTN_PIPELINES_CPUTARGET_H
