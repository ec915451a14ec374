//===- CpuTarget.cpp - resolve --mcpu/--mattr through LLVM's registry -----===//

#include "attn/Pipelines/CpuTarget.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/TargetParser/Triple.h"

#include <memory>

using namespace mlir;
using namespace mlir::attn;

FailureOr<CpuTarget> mlir::attn::resolveCpuTarget(llvm::StringRef mcpu,
                                                  llvm::StringRef mattr,
                                                  std::string &error,
                                                  llvm::StringRef bf16Dot) {
  llvm::InitializeNativeTarget();
  CpuTarget result;
  result.triple = llvm::sys::getProcessTriple();
  llvm::Triple triple(result.triple);
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return failure();

  llvm::SubtargetFeatures features;
  if (mcpu.empty() || mcpu == "native") {
    result.cpu = llvm::sys::getHostCPUName().str();
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      features.AddFeature(feature.first(), feature.second);
  } else {
    result.cpu = mcpu.str();
  }
  std::unique_ptr<llvm::MCSubtargetInfo> probe(
      target->createMCSubtargetInfo(triple, "", ""));
  if (!probe || !probe->isCPUStringValid(result.cpu)) {
    error = "unknown CPU '" + result.cpu + "' for " + triple.str() +
            " (try 'native' or e.g. 'x86-64-v3')";
    return failure();
  }
  // Check the features here: MCSubtargetInfo only warns on stderr.
  SmallVector<llvm::StringRef> requested;
  mattr.split(requested, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (llvm::StringRef feature : requested) {
    feature = feature.trim();
    llvm::StringRef name = feature.drop_front();
    bool known = llvm::any_of(probe->getAllProcessorFeatures(),
                              [&](const llvm::SubtargetFeatureKV &kv) {
                                return name == kv.Key;
                              });
    if ((!feature.starts_with("+") && !feature.starts_with("-")) || !known) {
      error = "unknown CPU feature '" + feature.str() + "' in --mattr for " +
              triple.str() + " (expected +NAME or -NAME, e.g. +avx512f)";
      return failure();
    }
    features.AddFeature(feature);
  }
  result.features = features.getString();

  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      target->createMCSubtargetInfo(triple, result.cpu, result.features));
  // 512-bit f32 vectors where the target has AVX-512F; 256-bit otherwise
  // (AVX2, and what LLVM legalises well on other targets).
  result.f32Lanes = subtarget && subtarget->checkFeatures("+avx512f") ? 16 : 8;
  result.inlineBF16Widening =
      result.f32Lanes == 16 && llvm::StringRef(result.cpu).starts_with("znver");
  // vdpbf16ps for decode on bf16 caches: 32 multiply-adds per instruction
  // at the 512-bit FMA rate on AMD Zen 4/5 (MQA bf16 1.5-1.8x faster; GQA-4
  // 1.17-1.25x on 1 thread, bench/RESULTS.md); on Intel (half the FMA rate) an
  // earlier MQA form was 1.7x slower, so auto is Zen 4/5 only.
  bool hasBF16 = subtarget && subtarget->checkFeatures("+avx512bf16");
  if (bf16Dot != "auto" && bf16Dot != "on" && bf16Dot != "off") {
    error = "unknown --bf16-dot-products value '" + bf16Dot.str() +
            "' (expected auto, on or off)";
    return failure();
  }
  if (bf16Dot == "on" && !hasBF16) {
    error = "--bf16-dot-products=on needs a target with AVX512_BF16 "
            "(vdpbf16ps); CPU '" + result.cpu +
            "' with the given --mattr has none";
    return failure();
  }
  llvm::StringRef cpuName(result.cpu);
  result.bf16DotProducts =
      bf16Dot == "on" ||
      (bf16Dot == "auto" && hasBF16 &&
       (cpuName == "znver4" || cpuName == "znver5"));
  result.keyRowsInOrder = result.inlineBF16Widening;
  result.overlapTileWidening = result.inlineBF16Widening;
  // 128-key GQA tiles for every cache (grouped-tile-keys) are not the
  // default anywhere: on the idle Zen 4 they were 0.78-0.95x on f16 caches,
  // 0.85-1.03x on f32 and 0.91-1.10x on bf16 against 32-key tiles; since
  // the kernel changed, G >= 4 on f16 caches gains 1.05-1.12x on one thread
  // with them (bench/RESULTS.md, 2026-12-05 07:30-).
  result.f16GroupedTileKeys = result.keyRowsInOrder ? 128 : 0;
  result.rowStreamMatVec =
      result.f32Lanes == 16 && llvm::StringRef(result.cpu).starts_with("znver");
  result.transposeMatVecWeights = result.rowStreamMatVec;
  // One vector: no vector access of a tile straddles two cache lines.
  result.tileAlignment = result.f32Lanes * 4;
  return result;
}
