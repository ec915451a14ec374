//===- HeadGrouping.cpp - which KV heads share (activation-informed) ------===//
//
// The cost of merging a group of KV heads is the energy of their
// (unit-energy) keys and values outside the best shared subspace of one
// head's width; the partition search scores groups through a memo.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/HeadGrouping.h"
#include "attn/Calibration/FloatGemm.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

using namespace attn::calib;

namespace {

using Vec = std::vector<double>;

/// The eigenvalues of the symmetric `a` [n, n] (row-major, destroyed),
/// ascending: Householder tridiagonalisation without the eigenvectors, then
/// implicit QL (tred2 / tqli in their eigenvalues-only form): a group's
/// Gram is up to a few hundred wide and is scored many times.
Vec eigenvalues(Vec a, int64_t n) {
  auto A = [&](int64_t i, int64_t j) -> double & { return a[i * n + j]; };
  Vec d(n, 0.0), e(n, 0.0);
  for (int64_t i = n - 1; i > 0; --i) {
    int64_t l = i - 1;
    double h = 0.0, scale = 0.0;
    if (l > 0) {
      for (int64_t k = 0; k <= l; ++k)
        scale += std::abs(A(i, k));
      if (scale == 0.0) {
        e[i] = A(i, l);
      } else {
        for (int64_t k = 0; k <= l; ++k) {
          A(i, k) /= scale;
          h += A(i, k) * A(i, k);
        }
        double f = A(i, l);
        double g = f >= 0.0 ? -std::sqrt(h) : std::sqrt(h);
        e[i] = scale * g;
        h -= f * g;
        A(i, l) = f - g;
        f = 0.0;
        for (int64_t j = 0; j <= l; ++j) {
          double s = 0.0;
          for (int64_t k = 0; k <= j; ++k)
            s += A(j, k) * A(i, k);
          for (int64_t k = j + 1; k <= l; ++k)
            s += A(k, j) * A(i, k);
          e[j] = s / h;
          f += e[j] * A(i, j);
        }
        double hh = f / (h + h);
        for (int64_t j = 0; j <= l; ++j) {
          double fj = A(i, j);
          double gj = e[j] - hh * fj;
          e[j] = gj;
          for (int64_t k = 0; k <= j; ++k)
            A(j, k) -= fj * e[k] + gj * A(i, k);
        }
      }
    } else {
      e[i] = A(i, l);
    }
    d[i] = h;
  }
  for (int64_t i = 0; i < n; ++i)
    d[i] = A(i, i);
  for (int64_t i = 1; i < n; ++i)
    e[i - 1] = e[i];
  if (n > 0)
    e[n - 1] = 0.0;
  const double eps = std::numeric_limits<double>::epsilon();
  for (int64_t l = 0; l < n; ++l) {
    int iter = 0;
    int64_t m;
    do {
      for (m = l; m < n - 1; ++m) {
        double dd = std::abs(d[m]) + std::abs(d[m + 1]);
        if (std::abs(e[m]) <= eps * dd)
          break;
      }
      if (m == l)
        break;
      if (iter++ == 60)
        break;
      double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
      double r = std::hypot(g, 1.0);
      g = d[m] - d[l] + e[l] / (g + std::copysign(r, g));
      double s = 1.0, c = 1.0, p = 0.0;
      int64_t i;
      bool underflow = false;
      for (i = m - 1; i >= l; --i) {
        double f = s * e[i], b = c * e[i];
        r = std::hypot(f, g);
        e[i + 1] = r;
        if (r == 0.0) {
          d[i + 1] -= p;
          e[m] = 0.0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2.0 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
      }
      if (underflow)
        continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0.0;
    } while (true);
  }
  std::sort(d.begin(), d.end());
  return d;
}

/// Whether key j of batch entry b is visible to some query row (of head 0).
bool keyVisible(const AttentionSample &s, int64_t b, int64_t j) {
  for (int64_t i = 0; i < s.queryLength; ++i)
    if (!std::isinf(
            s.bias[(b * s.qHeads * s.queryLength + i) * s.keyLength + j]))
      return true;
  return false;
}

/// The Gram [H w]^2 of the heads' rows side by side (the visible key rows),
/// divided by its trace (the attention's energy); `traces` [H]^2 gets
/// tr(X_a^T X_b) of the same.
Vec headGram(const AttentionSample &s, const std::vector<float> &data,
             int64_t width, Vec &traces) {
  int64_t heads = s.kvHeads, cols = heads * width;
  std::vector<float> rows;
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t j = 0; j < s.keyLength; ++j) {
      if (!s.bias.empty() && !keyVisible(s, b, j))
        continue;
      for (int64_t h = 0; h < heads; ++h) {
        const float *x = data.data() + ((b * heads + h) * s.keyLength + j) * width;
        rows.insert(rows.end(), x, x + width);
      }
    }
  int64_t n = static_cast<int64_t>(rows.size()) / cols;
  std::vector<float> g(cols * cols, 0.0f);
  if (n > 0)
    sgemm(/*transA=*/true, /*transB=*/false, cols, cols, n, rows.data(), cols,
          rows.data(), cols, g.data(), cols);
  Vec gram(g.begin(), g.end());
  double total = 0.0;
  for (int64_t i = 0; i < cols; ++i)
    total += gram[i * cols + i];
  for (double &x : gram)
    x = total > 0.0 ? x / total : 0.0;
  traces.assign(heads * heads, 0.0);
  for (int64_t a = 0; a < heads; ++a)
    for (int64_t b = 0; b < heads; ++b)
      for (int64_t i = 0; i < width; ++i)
        traces[a * heads + b] += gram[(a * width + i) * cols + b * width + i];
  return gram;
}

std::vector<int64_t> headsOf(uint64_t mask) {
  std::vector<int64_t> heads;
  for (int64_t h = 0; h < 64; ++h)
    if (mask >> h & 1)
      heads.push_back(h);
  return heads;
}

} // namespace

HeadSimilarity::HeadSimilarity(const AttentionSample &s, bool rotaryPlanes,
                               GroupCost kind)
    : kvHeads(s.kvHeads), headDim(s.headDim), valueDim(s.valueDim),
      planes(rotaryPlanes && s.headDim % 2 == 0), kind(kind) {
  keyGram = headGram(s, s.k, headDim, keyTraces);
  valueGram = headGram(s, s.v, valueDim, valueTraces);
  if (kind == GroupCost::Pooled) {
    keyGram.clear(); // only the traces are read
    valueGram.clear();
  }
}

double HeadSimilarity::pooledResidual(const Vec &traces, uint64_t mask) const {
  std::vector<int64_t> heads = headsOf(mask);
  double g = heads.size(), energy = 0.0, cross = 0.0;
  for (int64_t a : heads) {
    energy += traces[a * kvHeads + a];
    for (int64_t b : heads)
      cross += traces[a * kvHeads + b];
  }
  // sum_h |X_h - mean|^2 = sum_h |X_h|^2 - g |mean|^2.
  return std::max(0.0, energy - cross / g);
}

double HeadSimilarity::residual(const Vec &gram, int64_t width, uint64_t mask,
                                int64_t keep) const {
  std::vector<int64_t> heads = headsOf(mask);
  int64_t g = heads.size(), n = g * width, cols = kvHeads * width;
  Vec sub(n * n);
  double trace = 0.0;
  for (int64_t a = 0; a < g; ++a)
    for (int64_t i = 0; i < width; ++i)
      for (int64_t b = 0; b < g; ++b)
        for (int64_t j = 0; j < width; ++j)
          sub[(a * width + i) * n + b * width + j] =
              gram[(heads[a] * width + i) * cols + heads[b] * width + j];
  for (int64_t i = 0; i < n; ++i)
    trace += sub[i * n + i];
  Vec values = eigenvalues(std::move(sub), n);
  double top = 0.0;
  for (int64_t i = 0; i < keep && i < n; ++i)
    top += values[n - 1 - i];
  return std::max(0.0, trace - top);
}

double HeadSimilarity::planeResidual(uint64_t mask) const {
  std::vector<int64_t> heads = headsOf(mask);
  int64_t g = heads.size(), half = headDim / 2, cols = kvHeads * headDim;
  auto at = [&](int64_t ha, int64_t i, int64_t hb, int64_t j) {
    return keyGram[(ha * headDim + i) * cols + hb * headDim + j];
  };
  double total = 0.0;
  for (int64_t p = 0; p < half; ++p) {
    // z = x_p + i x_{p + D/2}; C = sum z z^H as the real [[Re, -Im],
    // [Im, Re]] (each eigenvalue twice).
    int64_t n = 2 * g;
    Vec m(n * n);
    double trace = 0.0;
    for (int64_t a = 0; a < g; ++a)
      for (int64_t b = 0; b < g; ++b) {
        int64_t ha = heads[a], hb = heads[b];
        double re = at(ha, p, hb, p) + at(ha, p + half, hb, p + half);
        double im = at(ha, p + half, hb, p) - at(ha, p, hb, p + half);
        m[a * n + b] = re;
        m[(a + g) * n + b + g] = re;
        m[a * n + b + g] = -im;
        m[(a + g) * n + b] = im;
        if (a == b)
          trace += re;
      }
    Vec values = eigenvalues(std::move(m), n);
    total += std::max(0.0, trace - values[n - 1]);
  }
  return total;
}

double HeadSimilarity::groupCost(uint64_t mask) const {
  int64_t g = __builtin_popcountll(mask);
  if (g <= 1)
    return 0.0;
  if (kind == GroupCost::Pooled)
    return pooledResidual(keyTraces, mask) + pooledResidual(valueTraces, mask);
  double keys = planes ? planeResidual(mask)
                       : residual(keyGram, headDim, mask, headDim);
  double values = residual(valueGram, valueDim, mask, valueDim);
  return keys + values;
}

uint64_t attn::calib::countPartitions(int64_t n, int64_t groupSize,
                                      uint64_t limit) {
  // Choose the lowest free head's g - 1 partners, recursively:
  // prod over groups of C(remaining - 1, g - 1).
  uint64_t count = 1;
  for (int64_t left = n; left > 0; left -= groupSize) {
    // C(left - 1, g - 1), saturating.
    long double c = 1.0L;
    for (int64_t i = 1; i < groupSize; ++i)
      c = c * (left - i) / i;
    long double next = static_cast<long double>(count) * std::round(c);
    if (next > static_cast<long double>(limit))
      return limit + 1;
    count = static_cast<uint64_t>(next);
  }
  return count;
}

PartitionSearch
attn::calib::searchPartition(int64_t n, int64_t groupSize,
                             const std::function<double(uint64_t)> &cost,
                             uint64_t exhaustiveLimit) {
  std::unordered_map<uint64_t, double> memo;
  auto costOf = [&](uint64_t mask) {
    auto it = memo.find(mask);
    if (it != memo.end())
      return it->second;
    double c = cost(mask);
    memo.emplace(mask, c);
    return c;
  };
  auto total = [&](const std::vector<uint64_t> &groups) {
    double sum = 0.0;
    for (uint64_t m : groups)
      sum += costOf(m);
    return sum;
  };
  auto better = [](double a, double b) {
    return a < b - 1e-12 * std::max(std::abs(b), 1e-300);
  };
  std::vector<uint64_t> best;
  for (int64_t k = 0; k < n / groupSize; ++k) {
    uint64_t m = 0;
    for (int64_t r = 0; r < groupSize; ++r)
      m |= uint64_t(1) << (k * groupSize + r);
    best.push_back(m);
  }
  PartitionSearch result;
  result.neighboursCost = total(best);
  double bestCost = result.neighboursCost;
  uint64_t all = n == 64 ? ~uint64_t(0) : (uint64_t(1) << n) - 1;
  if (groupSize > 1 && groupSize < n &&
      countPartitions(n, groupSize, exhaustiveLimit) <= exhaustiveLimit) {
    // The lowest free head with every choice of g - 1 of the free heads
    // after it; depth-first.
    std::vector<uint64_t> current;
    std::function<void(uint64_t, double)> recurse = [&](uint64_t used,
                                                        double sum) {
      if (used == all) {
        if (better(sum, bestCost)) {
          bestCost = sum;
          best = current;
        }
        return;
      }
      int64_t first = __builtin_ctzll(~used);
      std::vector<int64_t> free;
      for (int64_t h = first + 1; h < n; ++h)
        if (!(used >> h & 1))
          free.push_back(h);
      std::vector<int64_t> pick(groupSize - 1);
      std::iota(pick.begin(), pick.end(), 0);
      int64_t f = free.size(), k = groupSize - 1;
      while (true) {
        uint64_t m = uint64_t(1) << first;
        for (int64_t i : pick)
          m |= uint64_t(1) << free[i];
        current.push_back(m);
        recurse(used | m, sum + costOf(m));
        current.pop_back();
        int64_t i = k - 1;
        while (i >= 0 && pick[i] == f - k + i)
          --i;
        if (i < 0)
          break;
        ++pick[i];
        for (int64_t j = i + 1; j < k; ++j)
          pick[j] = pick[j - 1] + 1;
      }
    };
    recurse(0, 0.0);
  } else if (groupSize > 1 && groupSize < n) {
    result.exhaustive = false;
    // Greedy: grow a group from the lowest free head by the head that
    // keeps its cost lowest.
    std::vector<uint64_t> greedy;
    uint64_t used = 0;
    while (used != all) {
      uint64_t m = uint64_t(1) << __builtin_ctzll(~used);
      for (int64_t r = 1; r < groupSize; ++r) {
        uint64_t pickMask = 0;
        double pickCost = std::numeric_limits<double>::infinity();
        for (int64_t h = 0; h < n; ++h) {
          uint64_t bit = uint64_t(1) << h;
          if ((used | m) & bit)
            continue;
          double c = cost(m | bit); // partial groups: not memoised
          if (c < pickCost) {
            pickCost = c;
            pickMask = bit;
          }
        }
        m |= pickMask;
      }
      greedy.push_back(m);
      used |= m;
    }
    double greedyCost = total(greedy);
    if (better(greedyCost, bestCost)) {
      best = greedy;
      bestCost = greedyCost;
    }
    // Swaps of one head between two groups, first improvement, until none.
    for (bool improved = true; improved;) {
      improved = false;
      for (size_t a = 0; a < best.size() && !improved; ++a)
        for (size_t b = a + 1; b < best.size() && !improved; ++b)
          for (int64_t x : headsOf(best[a])) {
            for (int64_t y : headsOf(best[b])) {
              uint64_t bx = uint64_t(1) << x, by = uint64_t(1) << y;
              uint64_t na = (best[a] & ~bx) | by, nb = (best[b] & ~by) | bx;
              double delta = costOf(na) + costOf(nb) - costOf(best[a]) -
                             costOf(best[b]);
              if (better(bestCost + delta, bestCost)) {
                best[a] = na;
                best[b] = nb;
                bestCost += delta;
                improved = true;
                break;
              }
            }
            if (improved)
              break;
          }
    }
  }
  std::sort(best.begin(), best.end(), [](uint64_t a, uint64_t b) {
    return __builtin_ctzll(a) < __builtin_ctzll(b);
  });
  for (uint64_t m : best)
    result.groups.push_back(headsOf(m));
  result.cost = bestCost;
  return result;
}
