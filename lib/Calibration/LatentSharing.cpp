//===- LatentSharing.cpp - fit the latent (MLA) form of attention ---------===//
//
// The activation-level form of bench/share_kv_mla.py: a shared rotary key
// from the complex principal components of the key planes across heads,
// and a latent from the joint principal subspace of the rest of the keys
// and the values.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/LatentSharing.h"
#include "attn/Calibration/SymmetricEigen.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numeric>

using namespace attn::calib;

namespace {

using Vec = std::vector<double>;
using Complex = std::complex<double>;


/// Orthonormal eigenvectors of the Hermitian `c` [n, n] by decreasing
/// eigenvalue, through its real form [[Re, -Im], [Im, Re]], whose
/// eigenvalues come in pairs ([x; y] and [-y; x] are one complex vector
/// x + iy up to a phase): one of each pair is kept.
std::vector<std::pair<double, std::vector<Complex>>>
hermitianEigen(const std::vector<Complex> &c, int64_t n) {
  int64_t m = 2 * n;
  Vec real(m * m);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      Complex x = c[i * n + j];
      real[i * m + j] = real[(n + i) * m + n + j] = x.real();
      real[i * m + n + j] = -x.imag();
      real[(n + i) * m + j] = x.imag();
    }
  auto [values, vectors] = symmetricEigen(real, m);
  std::vector<std::pair<double, std::vector<Complex>>> out;
  for (int64_t k = 0; k < m && static_cast<int64_t>(out.size()) < n; ++k) {
    std::vector<Complex> u(n);
    for (int64_t i = 0; i < n; ++i)
      u[i] = Complex(vectors[i * m + k], vectors[(n + i) * m + k]);
    for (auto &[unused, w] : out) {
      Complex dot = 0.0;
      for (int64_t i = 0; i < n; ++i)
        dot += std::conj(w[i]) * u[i];
      for (int64_t i = 0; i < n; ++i)
        u[i] -= dot * w[i];
    }
    double norm = 0.0;
    for (Complex x : u)
      norm += std::norm(x);
    if (norm < 0.25) // the partner of a vector already kept
      continue;
    for (Complex &x : u)
      x /= std::sqrt(norm);
    out.push_back({std::max(values[k], 0.0), std::move(u)});
  }
  return out;
}

} // namespace

std::optional<LatentMaps>
attn::calib::fitLatentMaps(const std::vector<AttentionSample> &samples,
                           int64_t rank, int64_t rope, std::string &error) {
  const AttentionSample &first = samples.front();
  const int64_t hq = first.qHeads, hkv = first.kvHeads, d = first.headDim,
                dv = first.valueDim, half = d / 2, group = hq / hkv;
  const int64_t nk = hkv * d, nv = hkv * dv, n = nk + nv;
  if (d % 2 != 0 || rope % 2 != 0 || rope > nk) {
    error = "the rotary key pairs dims i and i + D/2 of a head: it needs an "
            "even head size (" + std::to_string(d) + ") and an even rope "
            "dim of at most Hkv * D = " + std::to_string(nk) + " (got " +
            std::to_string(rope) + ")";
    return std::nullopt;
  }
  if (rank > nv + nk) {
    error = "rank " + std::to_string(rank) + " exceeds the " +
            std::to_string(n) + " floats of the keys and values";
    return std::nullopt;
  }

  // Query energy per KV head and plane: how much each key plane matters.
  Vec alpha(hkv * half, 0.0);
  double rows = 0.0;
  for (const AttentionSample &s : samples) {
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t h = 0; h < hq; ++h)
        for (int64_t i = 0; i < s.queryLength; ++i) {
          const float *q = &s.q[((b * hq + h) * s.queryLength + i) * d];
          for (int64_t j = 0; j < half; ++j)
            alpha[(h / group) * half + j] +=
                double(q[j]) * q[j] + double(q[j + half]) * q[j + half];
        }
    rows += double(s.batch) * s.queryLength;
  }
  double peak = *std::max_element(alpha.begin(), alpha.end()) / rows;
  Vec sa(hkv * half);
  for (int64_t i = 0; i < hkv * half; ++i)
    sa[i] = std::sqrt(alpha[i] / rows + 1e-12 * peak + 1e-30);

  // Per plane, the weighted complex covariance of the heads' keys.
  auto forEachKey = [&](auto &&fn) { // fn(const float *k [Hkv * D] strided)
    for (const AttentionSample &s : samples)
      for (int64_t b = 0; b < s.batch; ++b)
        for (int64_t t = 0; t < s.keyLength; ++t)
          fn(s, b, t);
  };
  auto key = [&](const AttentionSample &s, int64_t b, int64_t g, int64_t t) {
    return &s.k[((b * hkv + g) * s.keyLength + t) * d];
  };
  auto value = [&](const AttentionSample &s, int64_t b, int64_t g,
                   int64_t t) {
    return &s.v[((b * hkv + g) * s.keyLength + t) * dv];
  };
  std::vector<std::vector<Complex>> cov(half,
                                        std::vector<Complex>(hkv * hkv));
  forEachKey([&](const AttentionSample &s, int64_t b, int64_t t) {
    for (int64_t j = 0; j < half; ++j) {
      std::vector<Complex> w(hkv);
      for (int64_t g = 0; g < hkv; ++g) {
        const float *k = key(s, b, g, t);
        w[g] = sa[g * half + j] * Complex(k[j], k[j + half]);
      }
      for (int64_t a = 0; a < hkv; ++a)
        for (int64_t c = 0; c < hkv; ++c)
          cov[j][a * hkv + c] += std::conj(w[a]) * w[c];
    }
  });
  struct Component {
    double energy;
    int64_t plane;
    std::vector<Complex> u;
  };
  std::vector<Component> components;
  for (int64_t j = 0; j < half; ++j)
    for (auto &[energy, u] : hermitianEigen(cov[j], hkv))
      components.push_back({energy, j, std::move(u)});
  std::stable_sort(components.begin(), components.end(),
                   [](const Component &x, const Component &y) {
                     return x.energy > y.energy;
                   });

  // Rotary encoder ER [nk, P] and decoder BR [P, nk]: shared = sum_g c_g
  // z_g with c_g = sa_g u_g, and z_g ~ beta_g shared with beta_g =
  // conj(u_g) / sa_g, as 2x2 real blocks (re parts first, then im parts).
  const int64_t planes = rope / 2;
  Vec er(nk * rope, 0.0), br(rope * nk, 0.0);
  for (int64_t p = 0; p < planes; ++p) {
    const Component &cp = components[p];
    int64_t j = cp.plane, re = p, im = planes + p;
    for (int64_t g = 0; g < hkv; ++g) {
      double s = sa[g * half + j];
      Complex c = s * cp.u[g], beta = std::conj(cp.u[g]) / s;
      int64_t lo = g * d + j, hi = g * d + j + half;
      er[lo * rope + re] = c.real();
      er[hi * rope + re] = -c.imag();
      er[lo * rope + im] = c.imag();
      er[hi * rope + im] = c.real();
      br[re * nk + lo] = beta.real();
      br[im * nk + lo] = -beta.imag();
      br[re * nk + hi] = beta.imag();
      br[im * nk + hi] = beta.real();
    }
  }
  // The keys' residual map I - ER BR, and its query-energy weights.
  Vec residual(nk * nk, 0.0);
  for (int64_t a = 0; a < nk; ++a) {
    residual[a * nk + a] = 1.0;
    for (int64_t p = 0; p < rope; ++p)
      if (er[a * rope + p] != 0.0)
        for (int64_t c = 0; c < nk; ++c)
          residual[a * nk + c] -= er[a * rope + p] * br[p * nk + c];
  }
  Vec sk(nk);
  for (int64_t g = 0; g < hkv; ++g)
    for (int64_t i = 0; i < d; ++i)
      sk[g * d + i] = sa[g * half + i % half];

  // Joint covariance of [residual keys * sk, values] over every token.
  Vec cov2(n * n, 0.0), y(n);
  double keyEnergy = 0.0, valueEnergy = 0.0, rawKeyEnergy = 0.0;
  forEachKey([&](const AttentionSample &s, int64_t b, int64_t t) {
    Vec k(nk);
    for (int64_t g = 0; g < hkv; ++g)
      std::copy_n(key(s, b, g, t), d, &k[g * d]);
    for (int64_t c = 0; c < nk; ++c) {
      rawKeyEnergy += k[c] * k[c] * sk[c] * sk[c];
      double acc = 0.0;
      for (int64_t a = 0; a < nk; ++a)
        acc += k[a] * residual[a * nk + c];
      y[c] = acc * sk[c];
      keyEnergy += y[c] * y[c];
    }
    for (int64_t g = 0; g < hkv; ++g) {
      const float *v = value(s, b, g, t);
      for (int64_t e = 0; e < dv; ++e) {
        y[nk + g * dv + e] = v[e];
        valueEnergy += double(v[e]) * v[e];
      }
    }
    for (int64_t a = 0; a < n; ++a)
      if (y[a] != 0.0)
        for (int64_t c = 0; c < n; ++c)
          cov2[a * n + c] += y[a] * y[c];
  });
  // Keys and values in one basis: scale the keys to the values' energy,
  // unless the rotary key holds the keys (then what is left is rounding,
  // which scaled up would crowd the values out of the latent).
  double balance =
      keyEnergy > 1e-12 * rawKeyEnergy && valueEnergy > 0
          ? std::sqrt(valueEnergy / keyEnergy)
          : 1.0;
  for (int64_t a = 0; a < n; ++a)
    for (int64_t c = 0; c < n; ++c)
      cov2[a * n + c] *= (a < nk ? balance : 1.0) * (c < nk ? balance : 1.0);
  for (double &w : sk)
    w *= balance;
  Vec basis = symmetricEigen(std::move(cov2), n).second; // [n, n] columns

  LatentMaps maps;
  maps.ropeEncoder = er;
  maps.keyEncoder.assign(nk * rank, 0.0);
  maps.valueEncoder.assign(nv * rank, 0.0);
  for (int64_t a = 0; a < nk; ++a)
    for (int64_t c = 0; c < nk; ++c)
      if (residual[a * nk + c] != 0.0)
        for (int64_t i = 0; i < rank; ++i)
          maps.keyEncoder[a * rank + i] +=
              residual[a * nk + c] * sk[c] * basis[c * n + i];
  for (int64_t a = 0; a < nv; ++a)
    for (int64_t i = 0; i < rank; ++i)
      maps.valueEncoder[a * rank + i] = basis[(nk + a) * n + i];
  const int64_t width = rank + rope;
  maps.queryMaps.assign(hq * d * width, 0.0);
  maps.outputMaps.assign(hq * rank * dv, 0.0);
  for (int64_t h = 0; h < hq; ++h) {
    int64_t g = h / group;
    for (int64_t i = 0; i < d; ++i) {
      int64_t a = g * d + i;
      double *row = &maps.queryMaps[(h * d + i) * width];
      for (int64_t c = 0; c < rank; ++c)
        row[c] = basis[a * n + c] / sk[a];
      for (int64_t p = 0; p < rope; ++p)
        row[rank + p] = br[p * nk + a];
    }
    for (int64_t c = 0; c < rank; ++c)
      for (int64_t e = 0; e < dv; ++e)
        maps.outputMaps[(h * rank + c) * dv + e] =
            basis[(nk + g * dv + e) * n + c];
  }

  // How much of the keys and values the latent form keeps.
  double kErr = 0.0, kTot = 0.0, vErr = 0.0, vTot = 0.0;
  forEachKey([&](const AttentionSample &s, int64_t b, int64_t t) {
    Vec k(nk), v(nv), lat(rank, 0.0), rot(rope, 0.0);
    for (int64_t g = 0; g < hkv; ++g) {
      std::copy_n(key(s, b, g, t), d, &k[g * d]);
      std::copy_n(value(s, b, g, t), dv, &v[g * dv]);
    }
    for (int64_t a = 0; a < nk; ++a)
      for (int64_t i = 0; i < rank; ++i)
        lat[i] += k[a] * maps.keyEncoder[a * rank + i];
    for (int64_t a = 0; a < nv; ++a)
      for (int64_t i = 0; i < rank; ++i)
        lat[i] += v[a] * maps.valueEncoder[a * rank + i];
    for (int64_t a = 0; a < nk; ++a)
      for (int64_t p = 0; p < rope; ++p)
        rot[p] += k[a] * er[a * rope + p];
    for (int64_t a = 0; a < nk; ++a) {
      double rebuilt = 0.0;
      for (int64_t i = 0; i < rank; ++i)
        rebuilt += lat[i] * basis[a * n + i] / sk[a];
      for (int64_t p = 0; p < rope; ++p)
        rebuilt += rot[p] * br[p * nk + a];
      kErr += (rebuilt - k[a]) * (rebuilt - k[a]);
      kTot += k[a] * k[a];
    }
    for (int64_t a = 0; a < nv; ++a) {
      double rebuilt = 0.0;
      for (int64_t i = 0; i < rank; ++i)
        rebuilt += lat[i] * basis[(nk + a) * n + i];
      vErr += (rebuilt - v[a]) * (rebuilt - v[a]);
      vTot += v[a] * v[a];
    }
  });
  maps.keyError = std::sqrt(kErr / std::max(kTot, 1e-300));
  maps.valueError = std::sqrt(vErr / std::max(vTot, 1e-300));
  return maps;
}
