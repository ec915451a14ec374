//===- LatentCalibration.h - calibrate the latent (MLA) form ----*- C++ -*-===//

#ifndef ATTN_COMPILER_LATENTCALIBRATION_H
#define ATTN_COMPILER_LATENTCALIBRATION_H

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::attn::compile {

/// Runs `module` (attention raised) on the inputs in `calibrationPath` (npz
/// by graph input name) through a probe library that `buildLibrary`
/// compiles, fits the latent form of rank `rank` and rotary key `ropeDim`
/// (-1: half a head) of every attention not yet latent, and attaches the
/// maps that `attn-share-kv-latent` reads. `log` gets one line per op with
/// the relative error of its rebuilt keys and values.
LogicalResult calibrateLatent(
    ModuleOp module, int64_t rank, int64_t ropeDim,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::string &log, std::string &error);

/// Copies the latent maps from the ops of `from` to the corresponding ops
/// of `to` (same model imported at other sizes).
LogicalResult copyLatentAttributes(ModuleOp from, ModuleOp to,
                                   std::string &error);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_LATENTCALIBRATION_H
