//===- ProbeSharing.h - share the KV heads of a calibration probe -*- C++ -*-===//
//
// The refit (aligned-fit) and joint calibrations both run the model
// converted with their fits so far: one helper converts the probe copy.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_PROBESHARING_H
#define ATTN_COMPILER_PROBESHARING_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>

namespace mlir::attn::compile {

/// Runs attn-share-kv{kv-heads=newHeads, method=aligned} alone (no
/// cleanup) on `probe`, whose attentions carry the calibration's
/// attributes, and checks that `entry`'s arguments kept their types: the
/// probe runs on the calibration inputs as they are, which a decode step's
/// shrinking KV-cache inputs no longer fit. `what` names the probe in the
/// errors ("refit", "joint-fit"); `mismatch` is the error for changed
/// arguments.
LogicalResult shareProbeKVHeads(ModuleOp probe, func::FuncOp entry,
                                int64_t newHeads, StringRef what,
                                StringRef mismatch, std::string &error);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_PROBESHARING_H
