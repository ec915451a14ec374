//===- SolveOutput.h - how the joint fit treats O ---------------*- C++ -*-===//
//
// A header of its own so that the compile options (CompileOptions.h) name
// the joint fit's choice without including the fit.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_SOLVEOUTPUT_H
#define ATTN_CALIBRATION_SOLVEOUTPUT_H

namespace attn::calib {

/// How fitJoint treats the output projection O: fitted by L-BFGS with Q, K
/// and V (Lbfgs), solved in closed form for every line-search trial, L-BFGS
/// over Q, K and V alone (Exact, variable projection), or solved only at
/// the accepted points, the trials between them reading the last accepted
/// point's O (Accepted; --share-kv-solve-output).
enum class SolveOutput { Lbfgs, Exact, Accepted };

} // namespace attn::calib

#endif // ATTN_CALIBRATION_SOLVEOUTPUT_H
