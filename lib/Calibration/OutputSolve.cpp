//===- OutputSolve.cpp - the joint fit's output projection in closed form -===//
//
// include/attn/Calibration/OutputSolve.h: the normal equations of the
// output projection's ridge least squares, their products in f32 (GEMM
// speed), their Cholesky solve in f64.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/OutputSolve.h"

#include "attn/Calibration/FloatGemm.h"
#include "attn/Calibration/SpdSolve.h"

#include <ctime>

using namespace attn::calib;

namespace {

double threadSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

} // namespace

OutputSolver::OutputSolver(const float *target, int64_t tokens, int64_t width,
                           int64_t out, const float *start, double mu)
    : target(target), start(start), tokens(tokens), width(width), out(out),
      mu(mu), gram(width * width), rhs(width * out), system(width * width),
      x(width * out) {}

bool OutputSolver::solve(const float *contexts, float *output) {
  double t0 = threadSeconds();
  sgemmParallel(true, false, width, width, tokens, contexts, width, contexts,
                width, gram.data(), width);
  sgemmParallel(true, false, width, out, tokens, contexts, width, target, out,
                rhs.data(), out);
  double t1 = threadSeconds();
  // mu I keeps the system definite where C has fewer rows than columns; a
  // floor at 1e-9 of the mean diagonal covers mu = 0.
  double trace = 0.0;
  for (int64_t i = 0; i < width; ++i)
    trace += gram[i * width + i];
  double shift = mu > 0.0 ? mu : 1e-9 * trace / double(width);
  for (int64_t i = 0; i < width; ++i)
    for (int64_t j = i; j < width; ++j) // solveSpd reads the upper triangle
      system[i * width + j] = gram[i * width + j] + (i == j ? shift : 0.0);
  for (int64_t i = 0; i < width * out; ++i)
    x[i] = double(rhs[i]) + mu * double(start[i]);
  bool ok = solveSpd(system, width, x, out);
  if (ok)
    for (int64_t i = 0; i < width * out; ++i)
      output[i] = static_cast<float>(x[i]);
  double t2 = threadSeconds();
  productSeconds += t1 - t0;
  solveSeconds += t2 - t1;
  ++solves;
  return ok;
}
