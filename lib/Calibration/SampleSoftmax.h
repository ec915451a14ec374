//===- SampleSoftmax.h - one softmax row of a calibration sample -*- C++ -*-===//
//
// Internal to lib/Calibration: the attention probabilities of one query row
// from its dot products, as the sample's attention computes them (scale,
// optional softcap, additive bias), for KVSharing.cpp and AlignedSharing.cpp.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CALIBRATION_SAMPLESOFTMAX_H
#define ATTN_LIB_CALIBRATION_SAMPLESOFTMAX_H

#include "attn/Calibration/KVSharing.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attn::calib {

/// p[j] holds q . k_j on entry (any value where bias[j] is -inf) and the
/// probability of key j on return: softmax over j of scale * p[j]
/// (softcapped when the sample has a softcap) + bias[j]; all zero when
/// every key is masked.
inline void sampleSoftmax(const AttentionSample &s, const float *bias,
                          double *p) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < s.keyLength; ++j) {
    double logit = s.scale * p[j];
    if (s.softcap)
      logit = *s.softcap * std::tanh(logit / *s.softcap);
    p[j] = logit + bias[j];
    max = std::max(max, p[j]);
  }
  if (std::isinf(max)) {
    std::fill(p, p + s.keyLength, 0.0);
    return;
  }
  double sum = 0.0;
  for (int64_t j = 0; j < s.keyLength; ++j)
    sum += (p[j] = std::exp(p[j] - max));
  for (int64_t j = 0; j < s.keyLength; ++j)
    p[j] /= sum;
}

} // namespace attn::calib

#endif // ATTN_LIB_CALIBRATION_SAMPLESOFTMAX_H
