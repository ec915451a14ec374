//===- ProbeLibrary.h - calibration probes as loaded libraries --*- C++ -*-===//
//
// A calibration probe is a copy of the model compiled to a temporary shared
// library and run in this process. ProbeLibrary owns one such library;
// ReusableProbe keeps it across the passes of the joint calibration, whose
// probes differ only in the converted attentions' projection weights: those
// become inputs of the probe, so that one compile serves every pass.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_PROBELIBRARY_H
#define ATTN_COMPILER_PROBELIBRARY_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Runtime/Npz.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <map>
#include <string>
#include <vector>

struct AttnModel;

namespace mlir::attn::compile {

using BuildLibrary =
    function_ref<LogicalResult(ModuleOp, const std::string &)>;

/// A probe compiled into a temporary library and loaded. The library and
/// its parameter file are removed, and the library unloaded, on
/// destruction.
class ProbeLibrary {
public:
  ProbeLibrary() = default;
  ProbeLibrary(const ProbeLibrary &) = delete;
  ProbeLibrary &operator=(const ProbeLibrary &) = delete;
  ~ProbeLibrary();

  /// Compiles `probe` with `buildLibrary` and loads it (replacing any
  /// library held before).
  LogicalResult build(ModuleOp probe, BuildLibrary buildLibrary,
                      std::string &error);
  /// Runs the library on the arrays of `inputs` (matched by input name,
  /// dtype and size) and returns its outputs by name.
  LogicalResult run(const std::vector<::attn::rt::Array> &inputs,
                    std::map<std::string, ::attn::rt::Array> &outputs,
                    std::string &error) const;
  bool loaded() const { return model != nullptr; }

private:
  void release();

  std::string path;
  AttnModel *model = nullptr;
};

/// Replaces the constant weights (and biases) of the Q, K, V and output
/// projections of the attentions `shared` in `entry` by new arguments of
/// `entry`, named `__probe_weight_<j>` in order, and appends their values to
/// `weights` under those names. Fails when a projection does not match or
/// its constant cannot be read.
LogicalResult projectionWeightsToArguments(
    func::FuncOp entry, ArrayRef<AttentionOp> shared,
    std::vector<::attn::rt::Array> &weights, std::string &error);

/// Whether `a` and `b` are the same program: the same operations, in the
/// same order, with the same operands, types and attributes (constants
/// compared by value), locations and the informative
/// `attn.kv_projections` ignored.
bool sameProgram(ModuleOp a, ModuleOp b);

/// The joint calibration's probe, compiled once: run() turns the converted
/// attentions' projection weights into inputs and reruns the library it
/// holds when the rest of the probe is the program it was compiled from;
/// otherwise it compiles (and keeps) the new one.
class ReusableProbe {
public:
  /// Runs `probe`, whose converted attentions are `shared` (`probe` is
  /// changed: their weights become its arguments), on `inputs`.
  LogicalResult run(ModuleOp probe, ArrayRef<AttentionOp> shared,
                    const std::vector<::attn::rt::Array> &inputs,
                    BuildLibrary buildLibrary,
                    std::map<std::string, ::attn::rt::Array> &outputs,
                    std::string &error);
  /// Compiles `probe` (changed as by run()) without running it, for a
  /// later run() of the same program with other weights.
  LogicalResult prepare(ModuleOp probe, ArrayRef<AttentionOp> shared,
                        BuildLibrary buildLibrary, std::string &error);
  /// Whether the last run() reused the library of an earlier one, and
  /// whether that library was prepare()'s, never run before.
  bool reused() const { return lastReused; }
  bool compiledAhead() const { return lastAhead; }

private:
  OwningOpRef<ModuleOp> compiled; ///< what `library` was compiled from
  ProbeLibrary library;
  bool lastReused = false, lastAhead = false, ahead = false;
};

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_PROBELIBRARY_H
