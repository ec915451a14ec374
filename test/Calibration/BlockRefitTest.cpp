//===- BlockRefitTest.cpp - checks the down projection's ridge refit ------===//
//
// refitLinear on random mixed features: the result satisfies the ridge problem's
// optimality condition Z^T (Z delta - E) + lambda delta = 0 (checked in
// f64, independently of the Cholesky solve), recovers a planted change when
// the data determine it, lowers the error (never raises it), and adds
// Z delta as its correction.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/BlockRefit.h"

#include <cmath>
#include <cstdio>
#include <random>

using namespace attn::calib;

namespace {

bool check(const char *what, bool ok) {
  std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
  return ok;
}

} // namespace

int main() {
  std::mt19937 gen(3);
  std::normal_distribution<float> normal;
  const int64_t tokens = 700, f = 96, m = 40;
  const double ridge = 1e-3;
  // Mixed features: Z = X A, A near the identity.
  std::vector<float> x(tokens * f), a(f * f), z(tokens * f, 0.0f);
  for (float &v : x)
    v = normal(gen);
  for (int64_t i = 0; i < f; ++i)
    for (int64_t j = 0; j < f; ++j)
      a[i * f + j] = (i == j ? 1.0f : 0.0f) + 0.5f * normal(gen) / std::sqrt(float(f));
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t k = 0; k < f; ++k)
      for (int64_t j = 0; j < f; ++j)
        z[t * f + j] += x[t * f + k] * a[k * f + j];
  // E = Z D + noise.
  std::vector<double> planted(f * m);
  for (double &v : planted)
    v = 0.1 * normal(gen);
  std::vector<float> e(tokens * m);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < m; ++c) {
      double s = 0.01 * normal(gen);
      for (int64_t k = 0; k < f; ++k)
        s += z[t * f + k] * planted[k * m + c];
      e[t * m + c] = static_cast<float>(s);
    }
  DownRefit r = refitLinear(z, tokens, f, e, m, ridge);
  bool ok = check("the system is solved", r.solved);
  if (!r.solved)
    return 1;
  // Optimality: g = Z^T (Z delta - E) + lambda delta, relative to Z^T E.
  double trace = 0.0;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t k = 0; k < f; ++k)
      trace += double(z[t * f + k]) * z[t * f + k];
  double lambda = ridge * trace / f;
  std::vector<double> resid(tokens * m);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t c = 0; c < m; ++c) {
      double s = -double(e[t * m + c]);
      for (int64_t k = 0; k < f; ++k)
        s += z[t * f + k] * r.delta[k * m + c];
      resid[t * m + c] = s;
    }
  double gnorm = 0.0, bnorm = 0.0, worstCorr = 0.0;
  for (int64_t k = 0; k < f; ++k)
    for (int64_t c = 0; c < m; ++c) {
      double g = lambda * r.delta[k * m + c], b = 0.0;
      for (int64_t t = 0; t < tokens; ++t) {
        g += z[t * f + k] * resid[t * m + c];
        b += z[t * f + k] * double(e[t * m + c]);
      }
      gnorm += g * g;
      bnorm += b * b;
    }
  for (int64_t t = 0; t < tokens * m; ++t) // correction = Z delta
    worstCorr = std::max(worstCorr, std::abs(double(r.correction[t]) -
                                             (resid[t] + e[t])));
  double rel = std::sqrt(gnorm / bnorm);
  std::printf("optimality residual %.2e, correction max error %.2e\n", rel,
              worstCorr);
  ok &= check("delta solves the ridge normal equations", rel < 1e-4);
  ok &= check("the correction is Z delta", worstCorr < 1e-3);
  // With a tiny ridge the data determine the planted change.
  DownRefit loose = refitLinear(z, tokens, f, e, m, 1e-7);
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < f * m && loose.solved; ++i) {
    diff += (loose.delta[i] - planted[i]) * (loose.delta[i] - planted[i]);
    norm += planted[i] * planted[i];
  }
  std::printf("planted change recovered to %.3f (relative)\n",
              std::sqrt(diff / norm));
  ok &= check("the planted change is recovered", loose.solved && std::sqrt(diff / norm) < 0.1);
  std::printf("error %.4e -> %.4e\n", r.errorBefore, r.errorAfter);
  ok &= check("the refit lowers the error", r.errorAfter < 0.2 * r.errorBefore);
  // E orthogonal to everything Z can reach: delta stays (near) zero and the
  // error does not grow.
  std::vector<float> zero(tokens * m, 0.0f);
  DownRefit none = refitLinear(z, tokens, f, zero, m, ridge);
  double dmax = 0.0;
  for (double v : none.delta)
    dmax = std::max(dmax, std::abs(v));
  ok &= check("no error, no change", none.solved && dmax == 0.0 &&
                                         none.errorAfter == 0.0);
  return ok ? 0 : 1;
}
