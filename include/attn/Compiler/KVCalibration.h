//===- KVCalibration.h - calibrate KV sharing on sample inputs -*- C++ -*-===//

#ifndef ATTN_COMPILER_KVCALIBRATION_H
#define ATTN_COMPILER_KVCALIBRATION_H

#include "attn/Calibration/KVSharing.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <map>
#include <string>
#include <vector>

namespace attn::rt {
struct Array;
} // namespace attn::rt

namespace mlir::attn::compile {

/// Relative output error of one attention's sharing on the calibration data.
struct SharingErrors {
  std::string name;
  double mean = 0.0, calibrated = 0.0;
};

/// Runs `module` (attention raised, not yet shared) on the inputs in
/// `calibrationPath` (npz by graph input name) through a probe library that
/// `buildLibrary` compiles, fits calibrated sharing to `newHeads` KV heads
/// for every attention with more, and attaches the weights and head maps
/// that `attn-share-kv{method=calibrated}` reads (with `aligned`, the
/// RoPE-commuting alignment and the mixes of `method=aligned` instead).
/// With `refitPasses` > 0 (aligned only), the output projection of every
/// attention is then refitted by ridge least squares on the converted
/// model's own activations (`attn.share_output_weight`), `refitPasses`
/// times, each pass on the model converted with the previous fits.
/// `errors` gets mean-pooling and fitted output errors per attention;
/// `samples`, when given, each fitted attention's operands (in walk order).
/// With `extraValue`, the probe also returns, per fitted attention of the
/// probe's copy of the model, the value `extraValue` picks there (e.g. the
/// projection input); `extras` gets them in walk order. `weighting`: the
/// aligned conversion's row weighting (alignedWeights).
LogicalResult calibrateKVSharing(
    ModuleOp module, int64_t newHeads, bool aligned, int refitPasses,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<SharingErrors> &errors, std::string &error,
    std::vector<::attn::calib::AttentionSample> *samples = nullptr,
    function_ref<Value(AttentionOp)> extraValue = nullptr,
    std::vector<::attn::rt::Array> *extras = nullptr,
    const ::attn::calib::AlignedWeighting &weighting = {});

/// The function a probe copy runs: the model's public, defined function.
func::FuncOp probeEntry(ModuleOp probe);

/// A copy of the model that a calibration runs: the attentions it reads
/// (walk order) and the function that runs them.
struct Probe {
  OwningOpRef<ModuleOp> module;
  SmallVector<AttentionOp> ops;
  func::FuncOp entry;
};

/// Clones `module` into a probe of the attentions `pick` selects; fails
/// (with `error`) unless the copy has a model function and `count` of them
/// (the model's own attentions the caller picked the same way).
FailureOr<Probe> cloneProbe(ModuleOp module,
                            function_ref<bool(AttentionOp)> pick,
                            size_t count, std::string &error);

/// Makes the probe return the operands of its attentions instead of the
/// model's outputs: query, key and value (with `maskAndLens`, also the mask
/// and kv_seq_lens of those that have them), named
/// `<prefix>_<i>_{q,k,v,mask,lens}`, then `extras` (values of the probe)
/// as `<prefix>_<i>_extra`. The model's own results (the logits)
/// become dead, so neither compiled nor run. Fails (with `error`) on an
/// attention in a nested region.
LogicalResult returnOperands(Probe &probe, StringRef prefix, bool maskAndLens,
                             std::string &error,
                             ArrayRef<Value> extras = {});

/// Makes `entry` return `results` (named by `names`, the output names the
/// probe's outputs are looked up by) instead of the model's outputs; what
/// only those needed becomes dead in the probe.
void returnNamed(func::FuncOp entry, ArrayRef<Value> results,
                 ArrayRef<std::string> names);

/// Copies the discardable attributes starting with `prefix` from each
/// attention of `from` (the calibration-sized model) to the corresponding
/// one of `to` (walk order); fails when the attentions do not correspond.
LogicalResult copyAttentionAttributes(ModuleOp from, ModuleOp to,
                                      StringRef prefix, std::string &error);

/// Reads the calibration inputs (an .npz file); the error names the file.
LogicalResult readCalibrationInputs(const std::string &path,
                                    std::vector<::attn::rt::Array> &inputs,
                                    std::string &error);

/// Compiles `probe` with `buildLibrary` into a temporary library, runs it
/// on the arrays of `inputs` (matched by input name, dtype and size) and
/// returns its outputs by name. The calibrations' probes all run this way.
LogicalResult runProbe(
    ModuleOp probe, const std::vector<::attn::rt::Array> &inputs,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::map<std::string, ::attn::rt::Array> &outputs, std::string &error);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_KVCALIBRATION_H
