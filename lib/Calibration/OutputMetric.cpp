//===- OutputMetric.cpp - the joint fit's error in a weighted metric -----===//
//
// include/attn/Calibration/OutputMetric.h: the metric's factor from a
// sensitivity matrix, and the sensitivity of a linear readout.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/OutputMetric.h"

#include "attn/Calibration/FloatGemm.h"
#include "attn/Calibration/SymmetricEigen.h"

#include <cmath>

using namespace attn::calib;

OutputMetric attn::calib::outputMetric(const std::vector<double> &sensitivity,
                                       int64_t width, double alpha) {
  double trace = 0.0;
  for (int64_t i = 0; i < width; ++i)
    trace += sensitivity[i * width + i];
  double weight = alpha > 0.0 && trace > 0.0 ? alpha / trace : 0.0;
  std::vector<double> m(width * width);
  for (int64_t i = 0; i < width; ++i)
    for (int64_t j = 0; j < width; ++j)
      m[i * width + j] = weight * 0.5 *
                             (sensitivity[i * width + j] +
                              sensitivity[j * width + i]) +
                         (i == j ? 1.0 / double(width) : 0.0);
  // M = V diag(w) V^T: L = V diag(sqrt w), L^-1 = diag(1 / sqrt w) V^T.
  auto [values, vectors] = symmetricEigenTridiagonal(m, width);
  OutputMetric metric;
  metric.width = width;
  metric.factor.resize(width * width);
  metric.inverse.resize(width * width);
  for (int64_t k = 0; k < width; ++k) {
    // S is semidefinite: rounding cannot take w below the 1 / width floor
    // by much.
    double root = std::sqrt(std::max(values[k], 0.5 / double(width)));
    for (int64_t i = 0; i < width; ++i) {
      double v = vectors[i * width + k];
      metric.factor[i * width + k] = v * root;
      metric.inverse[k * width + i] = v / root;
    }
  }
  return metric;
}

std::vector<double>
attn::calib::timesMetric(const std::vector<double> &rows,
                         const std::vector<double> &matrix, int64_t width) {
  int64_t n = static_cast<int64_t>(rows.size()) / width;
  std::vector<double> out(rows.size(), 0.0);
  for (int64_t r = 0; r < n; ++r) {
    const double *x = rows.data() + r * width;
    double *y = out.data() + r * width;
    for (int64_t i = 0; i < width; ++i) {
      const double *mi = matrix.data() + i * width;
      for (int64_t j = 0; j < width; ++j)
        y[j] += x[i] * mi[j];
    }
  }
  return out;
}

std::vector<float> attn::calib::timesMetric(const std::vector<float> &rows,
                                            const std::vector<double> &matrix,
                                            int64_t width) {
  int64_t n = static_cast<int64_t>(rows.size()) / width;
  std::vector<float> m(matrix.begin(), matrix.end()), out(rows.size());
  // One thread: the fits call it from their worker threads.
  sgemm(false, false, n, width, width, rows.data(), width, m.data(), width,
        out.data(), width);
  return out;
}

void attn::calib::addReadoutSensitivity(const std::vector<double> &weight,
                                        int64_t width, bool widthFirst,
                                        const std::vector<double> &gain,
                                        std::vector<double> &sensitivity) {
  int64_t n = static_cast<int64_t>(weight.size()) / width;
  std::vector<float> w(weight.begin(), weight.end()), s(width * width);
  if (widthFirst) // W [width, n]: W W^T
    sgemmParallel(false, true, width, width, n, w.data(), n, w.data(), n,
                  s.data(), width);
  else // W [n, width]: W^T W
    sgemmParallel(true, false, width, width, n, w.data(), width, w.data(),
                  width, s.data(), width);
  sensitivity.resize(width * width, 0.0);
  for (int64_t i = 0; i < width; ++i)
    for (int64_t j = 0; j < width; ++j)
      sensitivity[i * width + j] +=
          double(s[i * width + j]) * (gain.empty() ? 1.0 : gain[i] * gain[j]);
}
