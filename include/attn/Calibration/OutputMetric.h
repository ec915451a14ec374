//===- OutputMetric.h - the joint fit's error in a weighted metric -*- C++ -*-===//
//
// --share-kv-output-metric: the fits measure the attention output's error
// in a metric M of its hidden dimensions (||(Y - T) L||^2 with M = L L^T)
// instead of with equal weights: the model reads those dimensions very
// unequally. The fit itself is unchanged: it runs on T L and on the output
// projection O L (the ridge toward O_start L is then M-weighted too), and
// its O' maps back as O' L^-1.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_OUTPUTMETRIC_H
#define ATTN_CALIBRATION_OUTPUTMETRIC_H

#include "attn/Calibration/JointFit.h"

#include <cstdint>
#include <vector>

namespace attn::calib {

/// M = L L^T and L^-1, [width, width] row-major.
struct OutputMetric {
  int64_t width = 0;
  std::vector<double> factor, inverse;
  bool empty() const { return width == 0; }
};

/// M = I / width + alpha S / trace(S) for a positive semidefinite
/// sensitivity S [width, width] (its eigenvectors scaled by the roots of
/// M's eigenvalues give L); alpha = 0 or trace(S) = 0: M = I / width.
OutputMetric outputMetric(const std::vector<double> &sensitivity,
                          int64_t width, double alpha);

/// `rows` [n, width] times `matrix` [width, width] (L or L^-1).
std::vector<float> timesMetric(const std::vector<float> &rows,
                               const std::vector<double> &matrix,
                               int64_t width);
std::vector<double> timesMetric(const std::vector<double> &rows,
                                const std::vector<double> &matrix,
                                int64_t width);

/// S = G W W^T G (or G W^T W G with `widthFirst` false) for a weight W
/// read by a linear map of the hidden vector: [width, n] when
/// `widthFirst`, else [n, width]; G = diag(gain) (empty: the identity).
/// Added to `sensitivity` ([width, width], resized if empty).
void addReadoutSensitivity(const std::vector<double> &weight, int64_t width,
                           bool widthFirst, const std::vector<double> &gain,
                           std::vector<double> &sensitivity);

} // namespace attn::calib

#endif // ATTN_CALIBRATION_OUTPUTMETRIC_H
