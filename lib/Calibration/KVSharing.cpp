//===- KVSharing.cpp - calibrated key/value head sharing ------------------===//

#include "attn/Calibration/KVSharing.h"

#include "SampleSoftmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

using namespace attn::calib;

namespace {

using Vec = std::vector<double>;

/// Keys or values of one batch entry and KV head, as doubles [S, width].
Vec headRows(const std::vector<float> &data, int64_t heads, int64_t length,
             int64_t width, int64_t b, int64_t head) {
  const float *src = data.data() + ((b * heads + head) * length) * width;
  return Vec(src, src + length * width);
}

/// y = m x for `rows` x `cols` row-major m: each y[d] summed over e in
/// order (as one dot product at a time would), eight rows of m at a time
/// so that the eight sums do not wait on each other.
void mapVector(const double *m, const double *x, double *y, int64_t rows,
               int64_t cols) {
  constexpr int64_t kRows = 8;
  int64_t d = 0;
  for (; d + kRows <= rows; d += kRows) {
    double acc[kRows] = {};
    const double *block = m + d * cols;
    for (int64_t e = 0; e < cols; ++e)
#pragma GCC unroll 8
      for (int64_t r = 0; r < kRows; ++r)
        acc[r] += block[r * cols + e] * x[e];
    for (int64_t r = 0; r < kRows; ++r)
      y[d + r] = acc[r];
  }
  for (; d < rows; ++d) {
    double v = 0.0;
    for (int64_t e = 0; e < cols; ++e)
      v += m[d * cols + e] * x[e];
    y[d] = v;
  }
}

/// sum_r w[r] * rows of KV heads first .. first + group, each row first
/// mapped by mixes[first + r] ([heads, width, width]) when given.
Vec combine(const std::vector<float> &data, int64_t heads, int64_t length,
            int64_t width, int64_t b, int64_t first, int64_t group,
            const double *w, const std::vector<double> *mixes = nullptr) {
  Vec out(length * width, 0.0);
  bool mixed = mixes && !mixes->empty();
  for (int64_t r = 0; r < group; ++r) {
    Vec rows = headRows(data, heads, length, width, b, first + r);
    if (mixed) {
      const double *m = mixes->data() + (first + r) * width * width;
      Vec mapped(rows.size(), 0.0);
      for (int64_t j = 0; j < length; ++j)
        mapVector(m, &rows[j * width], &mapped[j * width], width, width);
      rows = std::move(mapped);
    }
    for (size_t i = 0; i < out.size(); ++i)
      out[i] += w[r] * rows[i];
  }
  return out;
}

/// Softmax probabilities of query row i of head h against keys `keys`
/// [Skv, D], the query first mapped by `queryMap` [D, D] when given; all
/// zero when every key is masked.
Vec probabilities(const AttentionSample &s, int64_t b, int64_t h, int64_t i,
                  const Vec &keys, const double *queryMap = nullptr) {
  const float *row =
      s.q.data() + ((b * s.qHeads + h) * s.queryLength + i) * s.headDim;
  Vec q(row, row + s.headDim);
  if (queryMap) {
    Vec mapped(s.headDim, 0.0);
    mapVector(queryMap, q.data(), mapped.data(), s.headDim, s.headDim);
    q = std::move(mapped);
  }
  const float *bias =
      s.bias.data() + ((b * s.qHeads + h) * s.queryLength + i) * s.keyLength;
  Vec p(s.keyLength);
  // The dot products q . key_j: mapVector over the keys (each summed in
  // order of d).
  mapVector(keys.data(), q.data(), p.data(), s.keyLength, s.headDim);
  sampleSoftmax(s, bias, p.data());
  return p;
}

/// p [Skv] times values [Skv, Dv].
Vec mix(const Vec &p, const Vec &values, int64_t width) {
  Vec out(width, 0.0);
  for (size_t j = 0; j < p.size(); ++j)
    if (p[j] != 0.0)
      for (int64_t e = 0; e < width; ++e)
        out[e] += p[j] * values[j * width + e];
  return out;
}

/// Row (b, h, i) of the original attention output.
const double *referenceRow(const AttentionSample &s, int64_t b, int64_t h,
                           int64_t i) {
  if (s.reference.empty()) {
    s.reference.resize(s.batch * s.qHeads * s.queryLength * s.valueDim);
    int64_t qPerKv = s.qHeads / s.kvHeads;
    for (int64_t bb = 0; bb < s.batch; ++bb)
      for (int64_t kv = 0; kv < s.kvHeads; ++kv) {
        Vec k0 = headRows(s.k, s.kvHeads, s.keyLength, s.headDim, bb, kv);
        Vec v0 = headRows(s.v, s.kvHeads, s.keyLength, s.valueDim, bb, kv);
        for (int64_t hh = kv * qPerKv; hh < (kv + 1) * qPerKv; ++hh)
          for (int64_t ii = 0; ii < s.queryLength; ++ii) {
            Vec o = mix(probabilities(s, bb, hh, ii, k0), v0, s.valueDim);
            std::copy(o.begin(), o.end(),
                      s.reference.begin() +
                          ((bb * s.qHeads + hh) * s.queryLength + ii) *
                              s.valueDim);
          }
      }
  }
  return s.reference.data() + ((b * s.qHeads + h) * s.queryLength + i) * s.valueDim;
}

/// Solves the symmetric system G w = c for every right-hand side in `cs`
/// (with a tiny ridge) by Gaussian elimination with partial pivoting,
/// eliminating once for all of them; std::nullopt if G is singular.
std::optional<std::vector<Vec>> solveMany(std::vector<Vec> g,
                                          std::vector<Vec> cs) {
  size_t n = g.size();
  double trace = 0.0;
  for (size_t i = 0; i < n; ++i)
    trace += g[i][i];
  for (size_t i = 0; i < n; ++i)
    g[i][i] += 1e-12 * (trace / n + 1e-30);
  for (size_t col = 0; col < n; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < n; ++r)
      if (std::abs(g[r][col]) > std::abs(g[pivot][col]))
        pivot = r;
    if (std::abs(g[pivot][col]) < 1e-300)
      return std::nullopt;
    std::swap(g[col], g[pivot]);
    for (Vec &c : cs)
      std::swap(c[col], c[pivot]);
    for (size_t r = 0; r < n; ++r) {
      if (r == col)
        continue;
      double f = g[r][col] / g[col][col];
      for (size_t k = col; k < n; ++k)
        g[r][k] -= f * g[col][k];
      for (Vec &c : cs)
        c[r] -= f * c[col];
    }
  }
  for (Vec &c : cs)
    for (size_t i = 0; i < n; ++i)
      c[i] /= g[i][i];
  return cs;
}

/// One right-hand side of solveMany.
std::optional<Vec> solve(std::vector<Vec> g, Vec c) {
  std::optional<std::vector<Vec>> w =
      solveMany(std::move(g), std::vector<Vec>{std::move(c)});
  if (!w)
    return std::nullopt;
  return std::move(w->front());
}

/// Squared output error of the query heads of group `n` with the given
/// key/value weights (and head maps of `maps`, when it has them), and the
/// squared norm of the original outputs.
std::pair<double, double> groupError(const std::vector<AttentionSample> &samples,
                                     int64_t newHeads, int64_t n,
                                     const double *wk, const double *wv,
                                     const SharingWeights *maps = nullptr) {
  double err = 0.0, norm = 0.0;
  for (const AttentionSample &s : samples) {
    int64_t group = s.kvHeads / newHeads;
    int64_t qPerNew = s.qHeads / newHeads;
    for (int64_t b = 0; b < s.batch; ++b) {
      Vec k = combine(s.k, s.kvHeads, s.keyLength, s.headDim, b, n * group,
                      group, wk, maps ? &maps->keyMix : nullptr);
      Vec v = combine(s.v, s.kvHeads, s.keyLength, s.valueDim, b, n * group,
                      group, wv, maps ? &maps->valueMix : nullptr);
      for (int64_t h = n * qPerNew; h < (n + 1) * qPerNew; ++h) {
        const double *queryMap = nullptr, *outputMap = nullptr;
        if (maps && !maps->queryMap.empty()) {
          queryMap = maps->queryMap.data() + h * s.headDim * s.headDim;
          outputMap = maps->outputMap.data() + h * s.valueDim * s.valueDim;
        }
        for (int64_t i = 0; i < s.queryLength; ++i) {
          Vec o = mix(probabilities(s, b, h, i, k, queryMap), v, s.valueDim);
          if (outputMap) {
            Vec mapped(s.valueDim, 0.0);
            mapVector(outputMap, o.data(), mapped.data(), s.valueDim,
                      s.valueDim);
            o = std::move(mapped);
          }
          const double *o0 = referenceRow(s, b, h, i);
          for (int64_t e = 0; e < s.valueDim; ++e) {
            err += (o[e] - o0[e]) * (o[e] - o0[e]);
            norm += o0[e] * o0[e];
          }
        }
      }
    }
  }
  return {err, norm};
}

/// Least-squares key weights of group n: Q_h K'^T close to Q_h K_h^T on
/// the keys that are not masked.
Vec keyWeights(const std::vector<AttentionSample> &samples, int64_t newHeads,
               int64_t n, int64_t group) {
  std::vector<Vec> g(group, Vec(group, 0.0));
  Vec c(group, 0.0);
  for (const AttentionSample &s : samples) {
    int64_t qPerKv = s.qHeads / s.kvHeads, qPerNew = s.qHeads / newHeads;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = n * qPerNew; h < (n + 1) * qPerNew; ++h)
        for (int64_t i = 0; i < s.queryLength; ++i) {
          const float *q = s.q.data() +
                           ((b * s.qHeads + h) * s.queryLength + i) * s.headDim;
          const float *bias = s.bias.data() +
                              ((b * s.qHeads + h) * s.queryLength + i) * s.keyLength;
          for (int64_t j = 0; j < s.keyLength; ++j) {
            if (std::isinf(bias[j]))
              continue;
            Vec basis(group);
            for (int64_t r = 0; r < group; ++r) {
              const float *k = s.k.data() +
                               ((b * s.kvHeads + n * group + r) * s.keyLength + j) *
                                   s.headDim;
              double dot = 0.0;
              for (int64_t d = 0; d < s.headDim; ++d)
                dot += q[d] * k[d];
              basis[r] = dot;
            }
            double target = basis[h / qPerKv - n * group];
            for (int64_t r = 0; r < group; ++r) {
              c[r] += basis[r] * target;
              for (int64_t t = 0; t < group; ++t)
                g[r][t] += basis[r] * basis[t];
            }
          }
        }
  }
  return solve(g, c).value_or(Vec(group, 1.0 / group));
}

/// Least-squares value weights of group n given shared keys from `wk`.
Vec valueWeights(const std::vector<AttentionSample> &samples, int64_t newHeads,
                 int64_t n, int64_t group, const double *wk) {
  std::vector<Vec> g(group, Vec(group, 0.0));
  Vec c(group, 0.0);
  for (const AttentionSample &s : samples) {
    int64_t qPerNew = s.qHeads / newHeads;
    for (int64_t b = 0; b < s.batch; ++b) {
      Vec k = combine(s.k, s.kvHeads, s.keyLength, s.headDim, b, n * group,
                      group, wk);
      std::vector<Vec> values;
      for (int64_t r = 0; r < group; ++r)
        values.push_back(headRows(s.v, s.kvHeads, s.keyLength, s.valueDim, b,
                                  n * group + r));
      for (int64_t h = n * qPerNew; h < (n + 1) * qPerNew; ++h) {
        for (int64_t i = 0; i < s.queryLength; ++i) {
          Vec p = probabilities(s, b, h, i, k);
          const double *target = referenceRow(s, b, h, i);
          std::vector<Vec> basis;
          for (int64_t r = 0; r < group; ++r)
            basis.push_back(mix(p, values[r], s.valueDim));
          for (int64_t r = 0; r < group; ++r)
            for (int64_t e = 0; e < s.valueDim; ++e) {
              c[r] += basis[r][e] * target[e];
              for (int64_t t = 0; t < group; ++t)
                g[r][t] += basis[r][e] * basis[t][e];
            }
        }
      }
    }
  }
  return solve(g, c).value_or(Vec(group, 1.0 / group));
}

} // namespace

SharingWeights attn::calib::meanWeights(int64_t kvHeads, int64_t newHeads) {
  int64_t group = kvHeads / newHeads;
  SharingWeights w{newHeads, group, Vec(kvHeads, 1.0 / group),
                   Vec(kvHeads, 1.0 / group)};
  return w;
}

double attn::calib::outputError(const std::vector<AttentionSample> &samples,
                                const SharingWeights &weights) {
  double err = 0.0, norm = 0.0;
  for (int64_t n = 0; n < weights.newHeads; ++n) {
    auto [e, o] = groupError(samples, weights.newHeads, n,
                             weights.key.data() + n * weights.group,
                             weights.value.data() + n * weights.group, &weights);
    err += e;
    norm += o;
  }
  return norm > 0.0 ? std::sqrt(err / norm) : std::sqrt(err);
}

SharingWeights
attn::calib::calibratedWeights(const std::vector<AttentionSample> &samples,
                               int64_t newHeads) {
  if (samples.empty())
    return {};
  SharingWeights best = meanWeights(samples.front().kvHeads, newHeads);
  int64_t group = best.group;
  for (int64_t n = 0; n < newHeads; ++n) {
    double *wk = best.key.data() + n * group;
    double *wv = best.value.data() + n * group;
    double bestError = groupError(samples, newHeads, n, wk, wv).first;
    Vec meanK(wk, wk + group);
    // Candidates: LS values over mean keys, then LS keys with LS values.
    for (bool lsKeys : {false, true}) {
      Vec k = lsKeys ? keyWeights(samples, newHeads, n, group) : meanK;
      Vec v = valueWeights(samples, newHeads, n, group, k.data());
      double error = groupError(samples, newHeads, n, k.data(), v.data()).first;
      if (error < bestError) {
        bestError = error;
        std::copy(k.begin(), k.end(), wk);
        std::copy(v.begin(), v.end(), wv);
      }
    }
  }
  return best;
}

namespace {

/// The least-squares A [width, width] with rows of `target` ~ rows of
/// `shared` times A, accumulated over `pairs` of (shared, target) blocks,
/// with a ridge toward the identity of weight (width / rows) * mean(diag G):
/// strong when there are about as few rows as unknowns per column (a single
/// decode step of a short cache), negligible for many calibration tokens.
/// Without it the map fits the calibration rows exactly and generalises
/// worse than mean pooling.
Vec fitLinearMap(const std::vector<std::pair<Vec, Vec>> &pairs, int64_t width) {
  std::vector<Vec> g(width, Vec(width, 0.0));
  std::vector<Vec> rhs(width, Vec(width, 0.0));
  int64_t totalRows = 0;
  for (const auto &[shared, target] : pairs) {
    int64_t rows = shared.size() / width;
    totalRows += rows;
    for (int64_t j = 0; j < rows; ++j)
      for (int64_t d = 0; d < width; ++d) {
        double x = shared[j * width + d];
        for (int64_t e = 0; e < width; ++e) {
          g[d][e] += x * shared[j * width + e];
          rhs[e][d] += x * target[j * width + e];
        }
      }
  }
  double meanDiagonal = 0.0;
  for (int64_t d = 0; d < width; ++d)
    meanDiagonal += g[d][d] / width;
  double ridge = meanDiagonal * double(width) /
                 double(std::max<int64_t>(totalRows, width));
  for (int64_t d = 0; d < width; ++d) {
    g[d][d] += ridge;
    rhs[d][d] += ridge;
  }
  Vec map(width * width, 0.0);
  std::optional<std::vector<Vec>> columns = solveMany(g, rhs);
  for (int64_t e = 0; e < width; ++e)
    for (int64_t d = 0; d < width; ++d)
      map[d * width + e] = columns ? (*columns)[e][d] : (d == e ? 1.0 : 0.0);
  return map;
}

} // namespace

void attn::calib::fitHeadMaps(const std::vector<AttentionSample> &samples,
                              SharingWeights &weights) {
  if (samples.empty())
    return;
  const AttentionSample &first = samples.front();
  int64_t hq = first.qHeads, hkv = first.kvHeads, group = weights.group;
  int64_t d = first.headDim, dv = first.valueDim;
  weights.queryMap.assign(hq * d * d, 0.0);
  weights.outputMap.assign(hq * dv * dv, 0.0);
  for (int64_t r = 0; r < hkv; ++r) {
    int64_t n = r / group;
    std::vector<std::pair<Vec, Vec>> keys, values;
    for (const AttentionSample &s : samples)
      for (int64_t b = 0; b < s.batch; ++b) {
        keys.emplace_back(combine(s.k, hkv, s.keyLength, d, b, n * group, group,
                                  weights.key.data() + n * group),
                          headRows(s.k, hkv, s.keyLength, d, b, r));
        values.emplace_back(combine(s.v, hkv, s.keyLength, dv, b, n * group,
                                    group, weights.value.data() + n * group),
                            headRows(s.v, hkv, s.keyLength, dv, b, r));
      }
    Vec a = fitLinearMap(keys, d);   // K_r ~ K' A: query map A
    Vec c = fitLinearMap(values, dv); // V_r ~ V' C: output map C^T
    int64_t qPerKv = hq / hkv;
    for (int64_t h = r * qPerKv; h < (r + 1) * qPerKv; ++h) {
      std::copy(a.begin(), a.end(), weights.queryMap.begin() + h * d * d);
      for (int64_t i = 0; i < dv; ++i)
        for (int64_t j = 0; j < dv; ++j)
          weights.outputMap[h * dv * dv + i * dv + j] = c[j * dv + i];
    }
  }
}
