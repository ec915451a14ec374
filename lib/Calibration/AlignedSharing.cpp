//===- AlignedSharing.cpp - RoPE-commuting alignment of shared KV heads ---===//
//
// The activation-level form of bench/share_kv_trained.py's `aligned`
// conversion: keys are combined plane by plane with complex weights (which
// commute with RoPE, so pooling rotated keys equals rotating pooled keys),
// values through their principal subspace, and per-query-head maps undo
// each head's share of the combination.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/KVSharing.h"
#include "attn/Calibration/SymmetricEigen.h"

#include "SampleSoftmax.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <numeric>

using namespace attn::calib;

namespace {

using Vec = std::vector<double>;

/// Eigenvectors of the symmetric `a` [n, n] as columns sorted by decreasing
/// eigenvalue: Jacobi (the tolerance these fits were measured with) for
/// the key planes' small matrices, tridiagonal QL for the values' Gram
/// (n = group x Dv: cyclic Jacobi took ~0.2 CPU-s per attention at 192,
/// a third of SmolLM2-135M's aligned start).
Vec topEigenvectors(Vec a, int64_t n) {
  if (n > 16)
    return symmetricEigenTridiagonal(a, n).second;
  return symmetricEigen(std::move(a), n, /*tolerance=*/1e-26).second;
}

/// Whether key j of batch entry b is visible to some query row (of head
/// 0): padding beyond a cache's length is not calibration data.
bool keyVisible(const AttentionSample &s, int64_t b, int64_t j) {
  for (int64_t i = 0; i < s.queryLength; ++i)
    if (!std::isinf(s.bias[(b * s.qHeads * s.queryLength + i) * s.keyLength + j]))
      return true;
  return false;
}

const float *row(const std::vector<float> &data, int64_t heads, int64_t length,
                 int64_t width, int64_t b, int64_t h, int64_t j) {
  return data.data() + ((b * heads + h) * length + j) * width;
}

/// The original attention's probabilities of query row i of head h
/// (against its own KV head's keys) into `p` [Skv]; all zero when every key
/// is masked.
void originalProbabilities(const AttentionSample &s, int64_t b, int64_t h,
                           int64_t i, Vec &p) {
  int64_t kv = h / (s.qHeads / s.kvHeads);
  const float *q = row(s.q, s.qHeads, s.queryLength, s.headDim, b, h, i);
  const float *bias =
      s.bias.data() + ((b * s.qHeads + h) * s.queryLength + i) * s.keyLength;
  p.assign(s.keyLength, 0.0);
  for (int64_t j = 0; j < s.keyLength; ++j) {
    if (std::isinf(bias[j]))
      continue; // masked: its dot product is never read
    const float *k = row(s.k, s.kvHeads, s.keyLength, s.headDim, b, kv, j);
    for (int64_t e = 0; e < s.headDim; ++e)
      p[j] += double(q[e]) * k[e];
  }
  sampleSoftmax(s, bias, p.data());
}

} // namespace

SharingWeights
attn::calib::alignedWeights(const std::vector<AttentionSample> &samples,
                            int64_t newHeads,
                            const AlignedWeighting &weighting) {
  if (samples.empty())
    return {};
  const AttentionSample &first = samples.front();
  int64_t hq = first.qHeads, hkv = first.kvHeads;
  int64_t d = first.headDim, dv = first.valueDim, half = d / 2;
  int64_t group = hkv / newHeads, qPerKv = hq / hkv;
  SharingWeights w;
  w.newHeads = newHeads;
  w.group = group;
  w.key.assign(hkv, 1.0);
  w.value.assign(hkv, 1.0);
  w.keyMix.assign(hkv * d * d, 0.0);
  w.valueMix.assign(hkv * dv * dv, 0.0);
  w.queryMap.assign(hq * d * d, 0.0);
  w.outputMap.assign(hq * dv * dv, 0.0);

  // Mean query energy per head and plane, over every query row.
  Vec energy(hq * half, 0.0);
  int64_t queryRows = 0;
  for (const AttentionSample &s : samples) {
    queryRows += s.batch * s.queryLength;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = 0; h < hq; ++h)
        for (int64_t i = 0; i < s.queryLength; ++i) {
          const float *q = row(s.q, hq, s.queryLength, d, b, h, i);
          for (int64_t p = 0; p < half; ++p)
            energy[h * half + p] += q[p] * q[p] + q[p + half] * q[p + half];
        }
  }
  for (double &e : energy)
    e /= double(std::max<int64_t>(queryRows, 1));

  using Complex = std::complex<double>;
  for (int64_t n = 0; n < newHeads; ++n) {
    int64_t base = n * group;
    // sqrt of the query energy reading KV head base + r, per plane.
    Vec root(half * group);
    for (int64_t p = 0; p < half; ++p)
      for (int64_t r = 0; r < group; ++r) {
        double alpha = 1e-12;
        for (int64_t h = (base + r) * qPerKv; h < (base + r + 1) * qPerKv; ++h)
          alpha += energy[h * half + p];
        root[p * group + r] = std::sqrt(alpha);
      }
    // Per plane, the Hermitian Gram of the weighted key planes and, for
    // the values, the Gram of the concatenated heads.
    std::vector<Complex> gram(half * group * group, 0.0);
    int64_t width = group * dv;
    Vec valueGram(width * width, 0.0), attendedGram(width * width, 0.0);
    std::vector<Complex> z(group);
    Vec y(width), probs, mass, mixed(width);
    std::vector<Vec> rows; // the group's concatenated value rows of a batch
    for (const AttentionSample &s : samples)
      for (int64_t b = 0; b < s.batch; ++b) {
        bool weighted = weighting.values > 0.0 || weighting.keys;
        if (weighted) {
          // The group's attention outputs on the concatenated values, and
          // each key's attention mass.
          rows.assign(s.keyLength, Vec(width));
          for (int64_t j = 0; j < s.keyLength; ++j)
            for (int64_t r = 0; r < group; ++r) {
              const float *v = row(s.v, hkv, s.keyLength, dv, b, base + r, j);
              std::copy(v, v + dv, rows[j].begin() + r * dv);
            }
          mass.assign(s.keyLength, 0.0);
          for (int64_t h = base * qPerKv; h < (base + group) * qPerKv; ++h)
            for (int64_t i = 0; i < s.queryLength; ++i) {
              originalProbabilities(s, b, h, i, probs);
              std::fill(mixed.begin(), mixed.end(), 0.0);
              for (int64_t j = 0; j < s.keyLength; ++j) {
                if (probs[j] == 0.0)
                  continue;
                mass[j] += probs[j];
                for (int64_t x = 0; x < width; ++x)
                  mixed[x] += probs[j] * rows[j][x];
              }
              if (weighting.values > 0.0) // upper triangle, mirrored below
                for (int64_t x = 0; x < width; ++x)
                  for (int64_t t = x; t < width; ++t)
                    attendedGram[x * width + t] += mixed[x] * mixed[t];
            }
        }
        for (int64_t j = 0; j < s.keyLength; ++j) {
          if (!keyVisible(s, b, j))
            continue;
          double keyWeight = weighting.keys ? mass[j] : 1.0;
          for (int64_t p = 0; p < half; ++p) {
            for (int64_t r = 0; r < group; ++r) {
              const float *k = row(s.k, hkv, s.keyLength, d, b, base + r, j);
              z[r] = Complex(k[p], k[p + half]) * root[p * group + r];
            }
            for (int64_t r = 0; r < group; ++r)
              for (int64_t t = 0; t < group; ++t)
                gram[(p * group + r) * group + t] +=
                    keyWeight * std::conj(z[r]) * z[t];
          }
          if (weighting.values >= 1.0)
            continue;
          for (int64_t r = 0; r < group; ++r) {
            const float *v = row(s.v, hkv, s.keyLength, dv, b, base + r, j);
            std::copy(v, v + dv, y.begin() + r * dv);
          }
          for (int64_t x = 0; x < width; ++x)
            for (int64_t t = 0; t < width; ++t)
              valueGram[x * width + t] += y[x] * y[t];
        }
      }

    if (weighting.values > 0.0) {
      for (int64_t x = 0; x < width; ++x)
        for (int64_t t = 0; t < x; ++t)
          attendedGram[x * width + t] = attendedGram[t * width + x];
      // Each Gram normalised by its trace, then mixed.
      double plain = 0.0, attended = 0.0;
      for (int64_t x = 0; x < width; ++x) {
        plain += valueGram[x * width + x];
        attended += attendedGram[x * width + x];
      }
      double a = attended > 0.0 ? weighting.values / attended : 0.0;
      double p = plain > 0.0 && weighting.values < 1.0
                     ? (1.0 - weighting.values) / plain
                     : 0.0;
      for (size_t x = 0; x < valueGram.size(); ++x)
        valueGram[x] = p * valueGram[x] + a * attendedGram[x];
    }

    // Keys: the top eigenvector u of each plane's Gram (through its real
    // form [[Re, -Im], [Im, Re]]) gives shared = sum_r root_r u_r z_r and
    // z_r ~ conj(u_r) / root_r * shared.
    for (int64_t p = 0; p < half; ++p) {
      int64_t m = 2 * group;
      Vec real(m * m);
      for (int64_t r = 0; r < group; ++r)
        for (int64_t t = 0; t < group; ++t) {
          Complex g = gram[(p * group + r) * group + t];
          real[r * m + t] = real[(r + group) * m + t + group] = g.real();
          real[r * m + t + group] = -g.imag();
          real[(r + group) * m + t] = g.imag();
        }
      Vec vectors = topEigenvectors(std::move(real), m);
      for (int64_t r = 0; r < group; ++r) {
        Complex u(vectors[r * m], vectors[(r + group) * m]);
        double sa = root[p * group + r];
        Complex c = sa * u, beta = std::conj(u) / sa;
        // Shared plane += c * z_r: row form of the complex product.
        double *mix = w.keyMix.data() + (base + r) * d * d;
        mix[p * d + p] = mix[(p + half) * d + p + half] = c.real();
        mix[p * d + p + half] = -c.imag();
        mix[(p + half) * d + p] = c.imag();
        // Query q of a head over KV head r reads conj(beta) * q against
        // the shared key (Re(q conj(k)) with k = beta * shared).
        for (int64_t h = (base + r) * qPerKv; h < (base + r + 1) * qPerKv; ++h) {
          double *map = w.queryMap.data() + h * d * d;
          map[p * d + p] = map[(p + half) * d + p + half] = beta.real();
          map[p * d + p + half] = beta.imag();
          map[(p + half) * d + p] = -beta.imag();
        }
      }
    }

    // Values: the top dv principal directions B = [B_0; ...; B_g-1] of the
    // concatenated heads; V' = sum_r V_r B_r, V_r ~ V' B_r^T.
    Vec basis = topEigenvectors(std::move(valueGram), width);
    for (int64_t r = 0; r < group; ++r) {
      // B_r[e][c] = basis[(r * dv + e) * width + c], c < dv.
      double *mix = w.valueMix.data() + (base + r) * dv * dv;
      for (int64_t c = 0; c < dv; ++c)
        for (int64_t e = 0; e < dv; ++e)
          mix[c * dv + e] = basis[(r * dv + e) * width + c];
      for (int64_t h = (base + r) * qPerKv; h < (base + r + 1) * qPerKv; ++h) {
        double *map = w.outputMap.data() + h * dv * dv;
        for (int64_t e = 0; e < dv; ++e)
          for (int64_t c = 0; c < dv; ++c)
            map[e * dv + c] = basis[(r * dv + e) * width + c];
      }
    }
  }
  return w;
}
