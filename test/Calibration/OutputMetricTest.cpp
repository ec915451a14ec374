//===- OutputMetricTest.cpp - checks the joint fit's output metric --------===//
//
// --share-kv-output-metric's math against direct references: the factor L
// of M = I / D + alpha S / trace(S) (L L^T = M, L L^-1 = I), the fit's
// objective on T L and O L against the M-weighted objective computed from
// the attention's plain output, the output solve on T L mapped back by
// L^-1 against the M-weighted ridge least squares solved over all of O's
// entries at once (its Kronecker normal equations), and the readout
// sensitivity against G W W^T G summed in double.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/JointFit.h"
#include "attn/Calibration/OutputMetric.h"
#include "attn/Calibration/OutputSolve.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>

using namespace attn::calib;

namespace {

int failures = 0;

void check(bool ok, const char *what) {
  std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
  failures += !ok;
}

std::vector<double> randomPsd(std::mt19937 &gen, int64_t n, int64_t rank) {
  std::normal_distribution<double> normal;
  std::vector<double> a(rank * n), s(n * n, 0.0);
  for (double &x : a)
    x = normal(gen);
  for (int64_t r = 0; r < rank; ++r)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        s[i * n + j] += a[r * n + i] * a[r * n + j];
  return s;
}

std::vector<double> metricMatrix(const std::vector<double> &s, int64_t n,
                                 double alpha) {
  double trace = 0.0;
  for (int64_t i = 0; i < n; ++i)
    trace += s[i * n + i];
  std::vector<double> m(n * n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      m[i * n + j] = alpha * s[i * n + j] / trace + (i == j ? 1.0 / n : 0.0);
  return m;
}

/// tr(A M B^T) for A, B [rows, n].
double weighted(const std::vector<double> &a, const std::vector<double> &b,
                const std::vector<double> &m, int64_t n) {
  int64_t rows = static_cast<int64_t>(a.size()) / n;
  double sum = 0.0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        sum += a[r * n + i] * m[i * n + j] * b[r * n + j];
  return sum;
}

void checkFactor(std::mt19937 &gen) {
  const int64_t n = 9;
  std::vector<double> s = randomPsd(gen, n, 3), m = metricMatrix(s, n, 2.0);
  OutputMetric metric = outputMetric(s, n, 2.0);
  double worstM = 0.0, worstI = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double llt = 0.0, lli = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        llt += metric.factor[i * n + k] * metric.factor[j * n + k];
        lli += metric.factor[i * n + k] * metric.inverse[k * n + j];
      }
      worstM = std::max(worstM, std::abs(llt - m[i * n + j]));
      worstI = std::max(worstI, std::abs(lli - (i == j ? 1.0 : 0.0)));
    }
  std::printf("metric factor: |L L^T - M| %.1e, |L L^-1 - I| %.1e\n", worstM,
              worstI);
  check(worstM < 1e-12 && worstI < 1e-10,
        "the metric's factor gives L L^T = M and its inverse");
}

JointLayer makeLayer(std::mt19937 &gen) {
  std::normal_distribution<float> normal;
  JointLayer l;
  l.batch = 2;
  l.length = 5;
  l.inputWidth = 8;
  l.qHeads = 2;
  l.headDim = 4;
  l.valueDim = 4;
  l.outWidth = 6;
  l.scale = 0.5;
  l.input.resize(l.batch * l.length * l.inputWidth);
  for (float &x : l.input)
    x = normal(gen);
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t b = 0; b < l.batch; ++b)
    for (int64_t h = 0; h < l.qHeads; ++h)
      for (int64_t i = 0; i < l.length; ++i)
        for (int64_t j = 0; j < l.length; ++j)
          l.bias.push_back(j > i ? -inf : 0.0f);
  return l;
}

JointWeights randomWeights(std::mt19937 &gen, const JointLayer &l,
                           int64_t kvHeads) {
  std::normal_distribution<double> normal;
  JointWeights w;
  w.kvHeads = kvHeads;
  auto fill = [&](std::vector<double> &m, int64_t n) {
    m.resize(n);
    for (double &x : m)
      x = 0.5 * normal(gen);
  };
  fill(w.query, l.qHeads * l.headDim * l.inputWidth);
  fill(w.key, kvHeads * l.headDim * l.inputWidth);
  fill(w.value, kvHeads * l.valueDim * l.inputWidth);
  fill(w.output, l.qHeads * l.valueDim * l.outWidth);
  return w;
}

double squaredDistance(const std::vector<double> &a,
                       const std::vector<double> &b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i)
    s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

double squaredNorm(const std::vector<double> &a) {
  double s = 0.0;
  for (double x : a)
    s += x * x;
  return s;
}

/// jointObjective on T L with O_start L and O L against
/// tr((Y - T) M (Y - T)^T) / tr(T M T^T) + ridge (Q, K, V's plain terms and
/// O's M-weighted one).
void checkObjective(std::mt19937 &gen) {
  JointLayer l = makeLayer(gen);
  int64_t w = l.outWidth;
  JointWeights original = randomWeights(gen, l, 2),
               start = randomWeights(gen, l, 1), at = randomWeights(gen, l, 1);
  std::vector<double> s = randomPsd(gen, w, 2), m = metricMatrix(s, w, 3.0);
  OutputMetric metric = outputMetric(s, w, 3.0);
  std::vector<float> t = jointOutput(l, original), y = jointOutput(l, at);
  const double ridge = 0.05;
  JointWeights startL = start, atL = at;
  startL.output = timesMetric(start.output, metric.factor, w);
  atL.output = timesMetric(at.output, metric.factor, w);
  double inMetric = jointObjective(l, timesMetric(t, metric.factor, w),
                                   startL, atL, JointRidge(ridge));
  std::vector<double> td(t.begin(), t.end()), e(y.size());
  for (size_t i = 0; i < y.size(); ++i)
    e[i] = double(y[i]) - t[i];
  std::vector<double> dOut(at.output.size());
  for (size_t i = 0; i < dOut.size(); ++i)
    dOut[i] = at.output[i] - start.output[i];
  double direct = weighted(e, e, m, w) / weighted(td, td, m, w) +
                  ridge * (squaredDistance(at.query, start.query) /
                               squaredNorm(start.query) +
                           squaredDistance(at.key, start.key) /
                               squaredNorm(start.key) +
                           squaredDistance(at.value, start.value) /
                               squaredNorm(start.value) +
                           weighted(dOut, dOut, m, w) /
                               weighted(start.output, start.output, m, w));
  double relative = std::abs(inMetric - direct) / direct;
  std::printf("objective in the metric %.6f, direct %.6f\n", inMetric, direct);
  check(relative < 1e-5,
        "the fit's objective on T L and O L is the M-weighted objective");
}

/// The output solve on T L (start O_0 L) mapped back by L^-1 against
/// argmin tr((C O - T) M (C O - T)^T) + mu tr((O - O_0) M (O - O_0)^T)
/// solved over vec(O) by Gaussian elimination.
void checkSolve(std::mt19937 &gen) {
  const int64_t tokens = 7, width = 5, out = 4;
  const double mu = 0.7;
  std::normal_distribution<float> normal;
  std::vector<float> c(tokens * width), t(tokens * out);
  std::vector<double> o0(width * out);
  for (float &x : c)
    x = normal(gen);
  for (float &x : t)
    x = normal(gen);
  for (double &x : o0)
    x = normal(gen);
  std::vector<double> s = randomPsd(gen, out, 1), m = metricMatrix(s, out, 4.0);
  OutputMetric metric = outputMetric(s, out, 4.0);
  std::vector<float> tl = timesMetric(t, metric.factor, out);
  std::vector<double> o0l = timesMetric(o0, metric.factor, out);
  std::vector<float> startL(o0l.begin(), o0l.end()), solved(width * out);
  OutputSolver solver(tl.data(), tokens, width, out, startL.data(), mu);
  bool ok = solver.solve(c.data(), solved.data());
  std::vector<double> o = timesMetric(
      std::vector<double>(solved.begin(), solved.end()), metric.inverse, out);
  // (C^T C + mu I) O M = (C^T T + mu O_0) M, unknowns O[i][j] at i out + j.
  int64_t n = width * out;
  std::vector<double> a(n * n, 0.0), b(n, 0.0), gram(width * width, 0.0),
      rhs(width * out, 0.0);
  for (int64_t p = 0; p < tokens; ++p)
    for (int64_t i = 0; i < width; ++i) {
      for (int64_t k = 0; k < width; ++k)
        gram[i * width + k] += double(c[p * width + i]) * c[p * width + k];
      for (int64_t j = 0; j < out; ++j)
        rhs[i * out + j] += double(c[p * width + i]) * t[p * out + j];
    }
  for (int64_t i = 0; i < width; ++i)
    for (int64_t j = 0; j < out; ++j)
      for (int64_t k = 0; k < width; ++k)
        for (int64_t q = 0; q < out; ++q) {
          double g = gram[i * width + k] + (i == k ? mu : 0.0);
          a[(i * out + j) * n + k * out + q] += g * m[q * out + j];
          if (i == k)
            b[i * out + j] +=
                (rhs[i * out + q] + mu * o0[i * out + q]) * m[q * out + j];
        }
  for (int64_t col = 0; col < n; ++col) { // elimination, partial pivoting
    int64_t pivot = col;
    for (int64_t r = col + 1; r < n; ++r)
      if (std::abs(a[r * n + col]) > std::abs(a[pivot * n + col]))
        pivot = r;
    for (int64_t k = 0; k < n; ++k)
      std::swap(a[col * n + k], a[pivot * n + k]);
    std::swap(b[col], b[pivot]);
    for (int64_t r = col + 1; r < n; ++r) {
      double f = a[r * n + col] / a[col * n + col];
      for (int64_t k = col; k < n; ++k)
        a[r * n + k] -= f * a[col * n + k];
      b[r] -= f * b[col];
    }
  }
  std::vector<double> x(n);
  for (int64_t r = n - 1; r >= 0; --r) {
    double v = b[r];
    for (int64_t k = r + 1; k < n; ++k)
      v -= a[r * n + k] * x[k];
    x[r] = v / a[r * n + r];
  }
  double err = std::sqrt(squaredDistance(o, x) / squaredNorm(x));
  std::printf("solve in the metric against the weighted normal equations: "
              "relative difference %.1e\n",
              err);
  check(ok && err < 1e-4,
        "the output solve on T L, mapped back, is the M-weighted ridge solve");
}

void checkSensitivity(std::mt19937 &gen) {
  const int64_t width = 6, n = 11;
  std::normal_distribution<double> normal;
  std::vector<double> w(n * width), gain(width);
  for (double &x : w)
    x = normal(gen);
  for (double &x : gain)
    x = 1.0 + 0.5 * normal(gen);
  // W stored [n, width] (W^T W), and its transpose [width, n] (W W^T).
  std::vector<double> wt(width * n), s1, s2;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t i = 0; i < width; ++i)
      wt[i * n + r] = w[r * width + i];
  addReadoutSensitivity(w, width, /*widthFirst=*/false, gain, s1);
  addReadoutSensitivity(wt, width, /*widthFirst=*/true, gain, s2);
  double worst = 0.0;
  for (int64_t i = 0; i < width; ++i)
    for (int64_t j = 0; j < width; ++j) {
      double ref = 0.0;
      for (int64_t r = 0; r < n; ++r)
        ref += w[r * width + i] * w[r * width + j];
      ref *= gain[i] * gain[j];
      worst = std::max({worst, std::abs(s1[i * width + j] - ref) / (1 + std::abs(ref)),
                        std::abs(s2[i * width + j] - ref) / (1 + std::abs(ref))});
    }
  std::printf("readout sensitivity: worst relative difference %.1e\n", worst);
  check(worst < 1e-5, "the readout sensitivity is G W^T W G in both layouts");
}

} // namespace

int main() {
  // f32 products in the fit's objective (the default bf16 ones round at
  // 1e-3, far above what this compares).
  setenv("ATTN_FIT_BF16", "none", /*overwrite=*/1);
  std::mt19937 gen(5);
  checkFactor(gen);
  checkObjective(gen);
  checkSolve(gen);
  checkSensitivity(gen);
  return failures ? 1 : 0;
}
