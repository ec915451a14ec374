//===- KVSharingTest.cpp - checks calibrated KV sharing against mean ------===//
//
// Builds attention samples whose KV heads differ in known ways and prints
// the output error of mean pooling and of calibrated sharing, failing when
// calibrated sharing is worse than mean pooling or misses an exact answer.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/KVSharing.h"
#include "attn/Calibration/SymmetricEigen.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <utility>

using namespace attn::calib;

namespace {

/// q, k, v random; KV head r of each group is `scale(r)` times the group's
/// first head plus `noise` times fresh noise; the last query row of every
/// head masks its first key.
AttentionSample makeSample(unsigned seed, int64_t hq, int64_t hkv,
                           int64_t group, double noise, bool scaled) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  AttentionSample s{2, hq, hkv, 3, 12, 8, 8, {}, {}, {}, {}, 0.35, {}};
  s.q.resize(s.batch * hq * s.queryLength * s.headDim);
  for (float &x : s.q)
    x = normal(gen);
  for (std::vector<float> *data : {&s.k, &s.v}) {
    data->resize(s.batch * hkv * s.keyLength * s.headDim);
    int64_t headSize = s.keyLength * s.headDim;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = 0; h < hkv; ++h) {
        float factor = scaled ? 1.0f + 0.5f * (h % group) : 1.0f;
        float *head = data->data() + (b * hkv + h) * headSize;
        float *first = data->data() + (b * hkv + h / group * group) * headSize;
        for (int64_t i = 0; i < headSize; ++i) {
          float base = h % group == 0 ? normal(gen) : first[i] / 1.0f;
          head[i] = (h % group == 0 ? base : factor * base) +
                    (h % group == 0 ? 0.0f : static_cast<float>(noise) * normal(gen));
        }
      }
  }
  s.bias.assign(s.batch * hq * s.queryLength * s.keyLength, 0.0f);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < hq; ++h)
      s.bias[((b * hq + h) * s.queryLength + s.queryLength - 1) * s.keyLength] =
          -std::numeric_limits<float>::infinity();
  return s;
}

int failures = 0;

void check(const char *name, bool ok) {
  std::printf("%s: %s\n", ok ? "PASS" : "FAIL", name);
  failures += !ok;
}

/// max |a - b| over two same-size matrices.
double maxDiff(const std::vector<double> &a, const std::vector<double> &b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i)
    d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

/// The output refit: the converted context F is the original one O mixed
/// by a known invertible A (F = O A) plus nothing else, so the projection
/// that maps F onto O W is A^-1 W, which least squares must find with a
/// negligible ridge; a huge ridge keeps the starting weight.
void checkRefit() {
  std::mt19937 gen(21);
  std::normal_distribution<double> normal;
  const int64_t tokens = 300, n = 6, m = 4;
  std::vector<double> a(n * n), w(n * m), start(n * m, 0.0);
  for (double &x : w)
    x = normal(gen);
  // A = I + 0.3 * upper-triangular noise: invertible, A^-1 by back
  // substitution below.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      a[i * n + j] = i == j ? 1.0 : (j > i ? 0.3 * normal(gen) : 0.0);
  std::vector<float> o(tokens * n), f(tokens * n);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t i = 0; i < n; ++i)
      o[t * n + i] = static_cast<float>(normal(gen));
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i)
        sum += o[t * n + i] * a[i * n + j];
      f[t * n + j] = static_cast<float>(sum);
    }
  }
  // want = A^-1 W: solve A X = W (A upper triangular, unit diagonal).
  std::vector<double> want = w;
  for (int64_t i = n - 1; i >= 0; --i)
    for (int64_t k = i + 1; k < n; ++k)
      for (int64_t j = 0; j < m; ++j)
        want[i * m + j] -= a[i * n + k] * want[k * m + j];
  std::vector<double> fit =
      refitOutputProjection(f, o, tokens, n, w, start, m, /*ridge=*/1e-9);
  double err = maxDiff(fit, want);
  std::printf("refit max error %.3g\n", err);
  check("output refit recovers the projection", err < 1e-4);
  std::vector<double> held =
      refitOutputProjection(f, o, tokens, n, w, w, m, /*ridge=*/1e9);
  check("a large ridge keeps the starting weight", maxDiff(held, w) < 1e-6);
}

} // namespace

/// The tridiagonal (QL) eigensolver against Jacobi on random symmetric
/// matrices, Gram matrices as the aligned fit builds them (rank-deficient
/// for n above the sample count): the same eigenvalues, each vector the
/// same up to sign, and A v = lambda v.
/// The value subspace's reconstruction errors of `w` (aligned's valueMix:
/// per group the basis B [group * Dv, Dv]) on the samples: of the
/// concatenated value rows y (plain) and of the attention outputs P_h Y of
/// the group's query heads (attended; P the original probabilities).
std::pair<double, double> valueErrors(const std::vector<AttentionSample> &samples,
                                      const SharingWeights &w) {
  double plain = 0.0, attended = 0.0;
  for (const AttentionSample &s : samples) {
    int64_t group = w.group, dv = s.valueDim, width = group * dv;
    int64_t qPerKv = s.qHeads / s.kvHeads;
    auto residual = [&](int64_t n, const std::vector<double> &y) {
      // ||y - B B^T y||^2 with B from valueMix of the group's heads.
      std::vector<double> c(dv, 0.0);
      auto basis = [&](int64_t x, int64_t col) {
        int64_t r = n * group + x / dv, e = x % dv;
        return w.valueMix[r * dv * dv + col * dv + e];
      };
      for (int64_t col = 0; col < dv; ++col)
        for (int64_t x = 0; x < width; ++x)
          c[col] += basis(x, col) * y[x];
      double err = 0.0;
      for (int64_t x = 0; x < width; ++x) {
        double back = 0.0;
        for (int64_t col = 0; col < dv; ++col)
          back += basis(x, col) * c[col];
        err += (y[x] - back) * (y[x] - back);
      }
      return err;
    };
    auto value = [&](int64_t b, int64_t h, int64_t j) {
      return &s.v[((b * s.kvHeads + h) * s.keyLength + j) * dv];
    };
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t n = 0; n < w.newHeads; ++n) {
        std::vector<double> y(width);
        for (int64_t j = 0; j < s.keyLength; ++j) {
          for (int64_t x = 0; x < width; ++x)
            y[x] = value(b, n * group + x / dv, j)[x % dv];
          plain += residual(n, y);
        }
        for (int64_t h = n * group * qPerKv; h < (n + 1) * group * qPerKv; ++h)
          for (int64_t i = 0; i < s.queryLength; ++i) {
            int64_t kv = h / qPerKv;
            std::vector<double> p(s.keyLength);
            double max = -std::numeric_limits<double>::infinity(), sum = 0.0;
            for (int64_t j = 0; j < s.keyLength; ++j) {
              double dot = 0.0;
              for (int64_t e = 0; e < s.headDim; ++e)
                dot += double(s.q[((b * s.qHeads + h) * s.queryLength + i) *
                                      s.headDim + e]) *
                       s.k[((b * s.kvHeads + kv) * s.keyLength + j) *
                               s.headDim + e];
              p[j] = s.scale * dot +
                     s.bias[((b * s.qHeads + h) * s.queryLength + i) *
                                s.keyLength + j];
              max = std::max(max, p[j]);
            }
            for (double &x : p)
              sum += (x = std::exp(x - max));
            std::fill(y.begin(), y.end(), 0.0);
            for (int64_t j = 0; j < s.keyLength; ++j)
              for (int64_t x = 0; x < width; ++x)
                y[x] += p[j] / sum * value(b, n * group + x / dv, j)[x % dv];
            attended += residual(n, y);
          }
      }
  }
  return {plain, attended};
}

/// --share-kv-aligned-weighting: each weighting's value subspace is the
/// principal one of its own Gram, so it has the lowest error of its kind;
/// a mix lies between; key weighting alone leaves the values as they are;
/// no weighting is the default bit for bit.
void checkAlignedWeighting() {
  std::vector<AttentionSample> samples;
  for (unsigned seed = 21; seed <= 23; ++seed)
    samples.push_back(makeSample(seed, 4, 4, 2, 0.3, /*scaled=*/true));
  SharingWeights plainW = alignedWeights(samples, 2);
  SharingWeights valuesW = alignedWeights(samples, 2, {1.0, false});
  SharingWeights halfW = alignedWeights(samples, 2, {0.5, false});
  SharingWeights keysW = alignedWeights(samples, 2, {0.0, true});
  SharingWeights noneW = alignedWeights(samples, 2, {0.0, false});
  auto [pp, pa] = valueErrors(samples, plainW);
  auto [vp, va] = valueErrors(samples, valuesW);
  auto [hp, ha] = valueErrors(samples, halfW);
  std::printf("aligned weighting: plain rows error none %.6f values %.6f "
              "half %.6f; attention outputs error none %.6f values %.6f "
              "half %.6f\n",
              pp, vp, hp, pa, va, ha);
  check("attention-weighted values: lowest attention-output error",
        va < pa * (1.0 - 1e-3) && va <= ha * (1.0 + 1e-12));
  check("plain values: lowest value-row error", pp < vp && pp <= hp);
  check("half the attention Gram: between the two",
        ha <= pa && hp <= vp && ha >= va * (1.0 - 1e-12));
  check("key weighting alone keeps the values, moves the keys",
        keysW.valueMix == plainW.valueMix && keysW.keyMix != plainW.keyMix);
  check("no weighting is the default",
        noneW.keyMix == plainW.keyMix && noneW.valueMix == plainW.valueMix &&
            noneW.queryMap == plainW.queryMap &&
            noneW.outputMap == plainW.outputMap);
}

void checkEigen() {
  std::mt19937 gen(11);
  std::normal_distribution<double> normal;
  double valueErr = 0.0, vectorErr = 0.0, residual = 0.0;
  for (int64_t n : {1, 2, 6, 40, 192}) {
    for (int64_t samples : {n / 2 + 1, 3 * n}) {
      std::vector<double> x(samples * n), a(n * n, 0.0);
      for (double &v : x)
        v = normal(gen) * (1.0 + 0.1 * double(&v - x.data()) / n);
      for (int64_t t = 0; t < samples; ++t)
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j)
            a[i * n + j] += x[t * n + i] * x[t * n + j];
      auto [lj, vj] = symmetricEigen(a, n, 1e-28);
      auto [lq, vq] = symmetricEigenTridiagonal(a, n);
      double scale = std::max(1e-300, std::abs(lj[0]));
      for (int64_t c = 0; c < n; ++c) {
        valueErr = std::max(valueErr, std::abs(lj[c] - lq[c]) / scale);
        double r = 0.0;
        for (int64_t i = 0; i < n; ++i) {
          double av = 0.0;
          for (int64_t k = 0; k < n; ++k)
            av += a[i * n + k] * vq[k * n + c];
          r = std::max(r, std::abs(av - lq[c] * vq[i * n + c]));
        }
        residual = std::max(residual, r / scale);
        // Vectors of well separated eigenvalues (the top ones) agree up
        // to sign.
        if (c + 1 < n && c < n / 4 + 1 &&
            lq[c] - lq[c + 1] > 1e-3 * scale &&
            (c == 0 || lq[c - 1] - lq[c] > 1e-3 * scale)) {
          double dot = 0.0;
          for (int64_t i = 0; i < n; ++i)
            dot += vj[i * n + c] * vq[i * n + c];
          vectorErr = std::max(vectorErr, 1.0 - std::abs(dot));
        }
      }
    }
  }
  std::printf("eigen: values %.2e, top vectors 1-|cos| %.2e, residual %.2e\n",
              valueErr, vectorErr, residual);
  check("the tridiagonal eigensolver matches Jacobi",
        valueErr < 1e-10 && vectorErr < 1e-8 && residual < 1e-10);
}

int main() {
  // MHA 4 heads -> 2 shared heads; heads of a group are scaled copies plus
  // noise, which mean pooling averages away and least squares undoes.
  std::vector<AttentionSample> samples;
  for (unsigned seed = 1; seed <= 3; ++seed)
    samples.push_back(makeSample(seed, 4, 4, 2, 0.3, /*scaled=*/true));
  double mean = outputError(samples, meanWeights(4, 2));
  SharingWeights cal = calibratedWeights(samples, 2);
  double calibrated = outputError(samples, cal);
  std::printf("mha->gqa mean_error=%.6f calibrated_error=%.6f\n", mean,
              calibrated);
  check("calibrated beats mean on scaled heads", calibrated < mean);
  fitHeadMaps(samples, cal);
  double mapped = outputError(samples, cal);
  std::printf("mha->gqa with head maps error=%.6f\n", mapped);
  check("head maps recover most of the lost accuracy", mapped < 0.5 * mean);

  // GQA 8 query heads over 4 KV heads -> MQA.
  samples.clear();
  for (unsigned seed = 4; seed <= 5; ++seed)
    samples.push_back(makeSample(seed, 8, 4, 4, 0.5, /*scaled=*/true));
  mean = outputError(samples, meanWeights(4, 1));
  calibrated = outputError(samples, calibratedWeights(samples, 1));
  std::printf("gqa->mqa mean_error=%.6f calibrated_error=%.6f\n", mean,
              calibrated);
  check("calibrated never worse than mean (gqa->mqa)", calibrated <= mean);

  // Identical heads: both are lossless.
  samples.clear();
  samples.push_back(makeSample(9, 4, 4, 2, 0.0, /*scaled=*/false));
  mean = outputError(samples, meanWeights(4, 2));
  calibrated = outputError(samples, calibratedWeights(samples, 2));
  std::printf("identical mean_error=%.3g calibrated_error=%.3g\n", mean,
              calibrated);
  check("identical heads share losslessly", mean < 1e-6 && calibrated < 1e-6);

  // Aligned: KV head 1 is head 0 with each rotary plane (dims p, p + 4)
  // turned by its own angle and scaled, values a scaled copy. Mean pooling
  // loses them; the plane-wise complex weights and the value subspace
  // recover them exactly.
  samples.clear();
  for (unsigned seed = 10; seed <= 11; ++seed) {
    AttentionSample s = makeSample(seed, 4, 2, 2, 0.0, /*scaled=*/true);
    int64_t headSize = s.keyLength * s.headDim, half = s.headDim / 2;
    for (int64_t b = 0; b < s.batch; ++b) {
      float *k0 = s.k.data() + (b * 2) * headSize, *k1 = k0 + headSize;
      for (int64_t j = 0; j < s.keyLength; ++j)
        for (int64_t p = 0; p < half; ++p) {
          float re = k0[j * s.headDim + p], im = k0[j * s.headDim + p + half];
          double angle = 0.7 * double(p + 1);
          k1[j * s.headDim + p] = 1.3 * (std::cos(angle) * re - std::sin(angle) * im);
          k1[j * s.headDim + p + half] = 1.3 * (std::sin(angle) * re + std::cos(angle) * im);
        }
    }
    samples.push_back(std::move(s));
  }
  mean = outputError(samples, meanWeights(2, 1));
  double aligned = outputError(samples, alignedWeights(samples, 1));
  std::printf("rotated planes mean_error=%.6f aligned_error=%.3g\n", mean,
              aligned);
  check("aligned shares plane-rotated heads losslessly",
        aligned < 1e-5 && mean > 1e-2);

  // Noisy scaled heads: aligned is at least as good as mean pooling.
  samples.clear();
  for (unsigned seed = 1; seed <= 3; ++seed)
    samples.push_back(makeSample(seed, 4, 4, 2, 0.3, /*scaled=*/true));
  mean = outputError(samples, meanWeights(4, 2));
  aligned = outputError(samples, alignedWeights(samples, 2));
  std::printf("noisy mha->gqa mean_error=%.6f aligned_error=%.6f\n", mean,
              aligned);
  check("aligned beats mean on noisy scaled heads", aligned < mean);

  // Fully masked rows must not produce NaN errors.
  check("errors are finite", std::isfinite(mean) && std::isfinite(calibrated));
  checkRefit();
  checkEigen();
  checkAlignedWeighting();
  return failures == 0 ? 0 : 1;
}
