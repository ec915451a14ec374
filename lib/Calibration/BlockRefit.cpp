//===- BlockRefit.cpp - ridge refit of a block's MLP down projection ------===//
//
// The closed-form step of `--share-kv-block-refit` (include/attn/
// Calibration/BlockRefit.h): the Gram matrix of the down projection's input
// by the f32 GEMM, the ridge system solved in f64 (SpdSolve.h).
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/BlockRefit.h"

#include "attn/Calibration/FloatGemm.h"
#include "attn/Calibration/SpdSolve.h"

using namespace attn::calib;

namespace {

double sumSquares(const std::vector<float> &x) {
  double s = 0.0;
  for (float v : x)
    s += double(v) * v;
  return s;
}

} // namespace

DownRefit attn::calib::refitLinear(const std::vector<float> &z, int64_t tokens,
                                   int64_t features,
                                   const std::vector<float> &e, int64_t width,
                                   double ridge) {
  int64_t f = features, m = width;
  DownRefit r;
  r.errorBefore = r.errorAfter = sumSquares(e);
  std::vector<float> gram(f * f), zte(f * m);
  sgemmParallel(true, false, f, f, tokens, z.data(), f, z.data(), f,
                gram.data(), f);
  sgemmParallel(true, false, f, m, tokens, z.data(), f, e.data(), m,
                zte.data(), m);
  std::vector<double> g(f * f);
  double trace = 0.0;
  for (int64_t i = 0; i < f; ++i) {
    trace += gram[i * f + i];
    for (int64_t j = 0; j < f; ++j) // symmetrise the f32 sums
      g[i * f + j] = 0.5 * (double(gram[i * f + j]) + gram[j * f + i]);
  }
  double lambda = ridge * trace / static_cast<double>(f);
  if (!(lambda > 0.0))
    return r;
  for (int64_t i = 0; i < f; ++i)
    g[i * f + i] += lambda;
  r.delta.assign(zte.begin(), zte.end());
  if (!solveSpd(g, f, r.delta, m)) {
    r.delta.clear();
    return r;
  }
  std::vector<float> df(r.delta.begin(), r.delta.end());
  r.correction.resize(tokens * m);
  sgemmParallel(false, false, tokens, m, f, z.data(), f, df.data(), m,
                r.correction.data(), m);
  double after = 0.0;
  for (int64_t i = 0; i < tokens * m; ++i) {
    double d = double(e[i]) - r.correction[i];
    after += d * d;
  }
  r.errorAfter = after;
  r.solved = true;
  return r;
}
