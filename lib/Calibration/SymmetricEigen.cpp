//===- SymmetricEigen.cpp - eigenvectors of small symmetric matrices ------===//
//
// The eigensolvers shared by the aligned and latent KV fits: cyclic Jacobi,
// and Householder tridiagonalisation then implicit QL (the EISPACK tred2 /
// tql2 pair, as JAMA writes them) for the larger matrices.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/SymmetricEigen.h"

#include <algorithm>
#include <cmath>
#include <numeric>

std::pair<std::vector<double>, std::vector<double>>
attn::calib::symmetricEigen(std::vector<double> a, int64_t n, double tolerance) {
  using Vec = std::vector<double>;
  Vec v(n * n, 0.0);
  for (int64_t i = 0; i < n; ++i)
    v[i * n + i] = 1.0;
  double total = 0.0;
  for (double x : a)
    total += x * x;
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0.0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q)
        off += a[p * n + q] * a[p * n + q];
    if (off <= tolerance * total)
      break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        double apq = a[p * n + q];
        if (std::abs(apq) <= 1e-300)
          continue;
        double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) /
                   (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int64_t k = 0; k < n; ++k) {
          double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
          double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
        for (int64_t k = 0; k < n; ++k) {
          double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return a[x * n + x] > a[y * n + y];
  });
  Vec values(n), vectors(n * n);
  for (int64_t j = 0; j < n; ++j) {
    values[j] = a[order[j] * n + order[j]];
    for (int64_t i = 0; i < n; ++i)
      vectors[i * n + j] = v[i * n + order[j]];
  }
  return {values, vectors};
}

std::pair<std::vector<double>, std::vector<double>>
attn::calib::symmetricEigenTridiagonal(const std::vector<double> &a,
                                       int64_t n) {
  // v[i][j] = a, reduced in place to the tridiagonal d (diagonal) and e
  // (subdiagonal), v then the accumulated Householder transformations.
  std::vector<double> v(a), d(n), e(n);
  auto V = [&](int64_t i, int64_t j) -> double & { return v[i * n + j]; };
  for (int64_t j = 0; j < n; ++j)
    d[j] = V(n - 1, j);
  for (int64_t i = n - 1; i > 0; --i) {
    double scale = 0.0, h = 0.0;
    for (int64_t k = 0; k < i; ++k)
      scale += std::abs(d[k]);
    if (scale == 0.0) {
      e[i] = d[i - 1];
      for (int64_t j = 0; j < i; ++j) {
        d[j] = V(i - 1, j);
        V(i, j) = 0.0;
        V(j, i) = 0.0;
      }
    } else {
      for (int64_t k = 0; k < i; ++k) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      double f = d[i - 1], g = std::sqrt(h);
      if (f > 0)
        g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (int64_t j = 0; j < i; ++j)
        e[j] = 0.0;
      for (int64_t j = 0; j < i; ++j) {
        f = d[j];
        V(j, i) = f;
        g = e[j] + V(j, j) * f;
        for (int64_t k = j + 1; k <= i - 1; ++k) {
          g += V(k, j) * d[k];
          e[k] += V(k, j) * f;
        }
        e[j] = g;
      }
      f = 0.0;
      for (int64_t j = 0; j < i; ++j) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      double hh = f / (h + h);
      for (int64_t j = 0; j < i; ++j)
        e[j] -= hh * d[j];
      for (int64_t j = 0; j < i; ++j) {
        f = d[j];
        g = e[j];
        for (int64_t k = j; k <= i - 1; ++k)
          V(k, j) -= f * e[k] + g * d[k];
        d[j] = V(i - 1, j);
        V(i, j) = 0.0;
      }
    }
    d[i] = h;
  }
  for (int64_t i = 0; i < n - 1; ++i) {
    V(n - 1, i) = V(i, i);
    V(i, i) = 1.0;
    double h = d[i + 1];
    if (h != 0.0) {
      for (int64_t k = 0; k <= i; ++k)
        d[k] = V(k, i + 1) / h;
      for (int64_t j = 0; j <= i; ++j) {
        double g = 0.0;
        for (int64_t k = 0; k <= i; ++k)
          g += V(k, i + 1) * V(k, j);
        for (int64_t k = 0; k <= i; ++k)
          V(k, j) -= g * d[k];
      }
    }
    for (int64_t k = 0; k <= i; ++k)
      V(k, i + 1) = 0.0;
  }
  for (int64_t j = 0; j < n; ++j) {
    d[j] = V(n - 1, j);
    V(n - 1, j) = 0.0;
  }
  if (n > 0)
    V(n - 1, n - 1) = 1.0;
  e[0] = 0.0;

  // Implicit QL on the tridiagonal; the rotations act on v's columns.
  for (int64_t i = 1; i < n; ++i)
    e[i - 1] = e[i];
  if (n > 0)
    e[n - 1] = 0.0;
  double f = 0.0, tst1 = 0.0;
  const double eps = std::ldexp(1.0, -52);
  for (int64_t l = 0; l < n; ++l) {
    tst1 = std::max(tst1, std::abs(d[l]) + std::abs(e[l]));
    int64_t m = l;
    while (m < n && std::abs(e[m]) > eps * tst1)
      ++m;
    if (m == n) // e[n - 1] is 0: not reached
      m = n - 1;
    if (m > l) {
      for (int iter = 0; iter < 60 && std::abs(e[l]) > eps * tst1; ++iter) {
        double g = d[l];
        double p = (d[l + 1] - g) / (2.0 * e[l]);
        double r = std::hypot(p, 1.0);
        if (p < 0)
          r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        double dl1 = d[l + 1], h = g - d[l];
        for (int64_t i = l + 2; i < n; ++i)
          d[i] -= h;
        f += h;
        p = d[m];
        double c = 1.0, c2 = c, c3 = c, el1 = e[l + 1], s = 0.0, s2 = 0.0;
        for (int64_t i = m - 1; i >= l; --i) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = std::hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (int64_t k = 0; k < n; ++k) {
            double x = V(k, i + 1);
            V(k, i + 1) = s * V(k, i) + c * x;
            V(k, i) = c * V(k, i) - s * x;
          }
        }
        p = -s * s2 * c3 * el1 * e[l] / dl1;
        e[l] = s * p;
        d[l] = c * p;
      }
    }
    d[l] += f;
    e[l] = 0.0;
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return d[x] > d[y]; });
  std::vector<double> values(n), vectors(n * n);
  for (int64_t j = 0; j < n; ++j) {
    values[j] = d[order[j]];
    for (int64_t i = 0; i < n; ++i)
      vectors[i * n + j] = V(i, order[j]);
  }
  return {values, vectors};
}
