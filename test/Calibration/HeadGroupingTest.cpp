//===- HeadGroupingTest.cpp - the KV head partition search and its cost ---===//
//
// Prints PASS/FAIL lines that head-grouping.test checks.
//
//===----------------------------------------------------------------------===//

#include "attn/Calibration/HeadGrouping.h"

#include <cmath>
#include <cstdio>
#include <random>

using namespace attn::calib;

namespace {

int failures = 0;
void check(bool ok, const char *what) {
  std::printf("%s: %s\n", ok ? "PASS" : "FAIL", what);
  if (!ok)
    ++failures;
}

std::string show(const HeadPartition &p) {
  std::string s;
  for (const auto &g : p) {
    s += "[";
    for (size_t i = 0; i < g.size(); ++i)
      s += (i ? "," : "") + std::to_string(g[i]);
    s += "]";
  }
  return s;
}

/// A cost that is 0 for the groups of `target` and 1 per other group.
double targetCost(uint64_t mask, const HeadPartition &target) {
  for (const auto &g : target) {
    uint64_t m = 0;
    for (int64_t h : g)
      m |= uint64_t(1) << h;
    if (m == mask)
      return 0.0;
  }
  return 1.0;
}

/// One sample: KV head h's keys and values are head base[h]'s random ones,
/// plus `noise`, times a per-head scale (a scale is free in the cost).
AttentionSample makeSample(const std::vector<int> &base, double noise,
                           unsigned seed) {
  AttentionSample s;
  s.batch = 2;
  s.kvHeads = base.size();
  s.qHeads = s.kvHeads;
  s.queryLength = 24;
  s.keyLength = 24;
  s.headDim = 8;
  s.valueDim = 8;
  std::mt19937 rng(seed);
  std::normal_distribution<float> n01(0.0f, 1.0f);
  int64_t rows = s.batch * s.keyLength;
  std::vector<std::vector<float>> kb(s.kvHeads), vb(s.kvHeads);
  for (int64_t h = 0; h < s.kvHeads; ++h)
    for (int64_t i = 0; i < rows * s.headDim; ++i) {
      kb[h].push_back(n01(rng));
      vb[h].push_back(n01(rng));
    }
  s.k.resize(s.batch * s.kvHeads * s.keyLength * s.headDim);
  s.v.resize(s.k.size());
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.kvHeads; ++h)
      for (int64_t j = 0; j < s.keyLength; ++j)
        for (int64_t d = 0; d < s.headDim; ++d) {
          int64_t src = (b * s.keyLength + j) * s.headDim + d;
          int64_t dst = ((b * s.kvHeads + h) * s.keyLength + j) * s.headDim + d;
          float scale = 1.0f + 0.5f * h;
          s.k[dst] = scale * (kb[base[h]][src] + noise * n01(rng));
          s.v[dst] = scale * (vb[base[h]][src] + noise * n01(rng));
        }
  s.q.assign(s.batch * s.qHeads * s.queryLength * s.headDim, 0.0f);
  s.bias.assign(s.batch * s.qHeads * s.queryLength * s.keyLength, 0.0f);
  return s;
}

} // namespace

int main() {
  // Partition counts: 8 into pairs 105, into fours 35; 4 into pairs 3.
  check(countPartitions(8, 2, 1000) == 105 && countPartitions(8, 4, 1000) == 35 &&
            countPartitions(4, 2, 1000) == 3 && countPartitions(32, 2, 1000) == 1001,
        "partition counts (105, 35, 3, saturated)");

  // Exhaustive search finds a planted non-neighbour partition.
  HeadPartition planted = {{0, 5}, {1, 3}, {2, 7}, {4, 6}};
  PartitionSearch exact = searchPartition(
      8, 2, [&](uint64_t m) { return targetCost(m, planted); });
  std::printf("exhaustive 8/2: %s cost %.3g neighbours %.3g\n",
              show(exact.groups).c_str(), exact.cost, exact.neighboursCost);
  check(exact.exhaustive && exact.groups == planted && exact.cost == 0.0 &&
            exact.neighboursCost == 4.0,
        "exhaustive search finds the planted pairs");
  HeadPartition fours = {{0, 2, 5, 7}, {1, 3, 4, 6}};
  PartitionSearch exact4 = searchPartition(
      8, 4, [&](uint64_t m) { return targetCost(m, fours); });
  check(exact4.groups == fours && exact4.cost == 0.0,
        "exhaustive search finds the planted fours");

  // Ties keep the neighbours.
  PartitionSearch flat = searchPartition(8, 2, [](uint64_t) { return 1.0; });
  check(flat.groups == HeadPartition({{0, 1}, {2, 3}, {4, 5}, {6, 7}}),
        "ties keep the neighbours' grouping");

  // Above the limit: greedy and swaps find the planted pairs of 16 heads.
  HeadPartition planted16;
  for (int64_t k = 0; k < 8; ++k)
    planted16.push_back({k, k + 8});
  PartitionSearch local = searchPartition(
      16, 2, [&](uint64_t m) { return targetCost(m, planted16); },
      /*exhaustiveLimit=*/100);
  std::printf("local 16/2: %s cost %.3g\n", show(local.groups).c_str(),
              local.cost);
  check(!local.exhaustive && local.groups == planted16,
        "local search finds the planted pairs");

  // The similarity cost: heads 0 and 2 near-identical (up to scale), 1 and
  // 3 too; the search pairs them.
  AttentionSample s = makeSample({0, 1, 0, 1}, 0.01, 7);
  for (bool planes : {false, true}) {
    HeadSimilarity sim(s, planes);
    double same = sim.groupCost(0b0101), other = sim.groupCost(0b0011);
    std::printf("similarity planes=%d: cost{0,2} %.4f cost{0,1} %.4f\n",
                planes, same, other);
    PartitionSearch p = searchPartition(
        4, 2, [&](uint64_t m) { return sim.groupCost(m); });
    check(same < 1e-3 && other > 0.05 &&
              p.groups == HeadPartition({{0, 2}, {1, 3}}),
          planes ? "rotary-plane cost pairs the similar heads"
                 : "subspace cost pairs the similar heads");
  }
  // Pooled (mean): heads 0 and 2 differ by scale (1 and 2): their mean
  // leaves (0.5^2 + 0.5^2) / (1 + 1.5^2 + 2^2 + 2.5^2) = 0.037 of the
  // attention's energy per K and V; unrelated heads much more.
  {
    HeadSimilarity pooled(s, false, GroupCost::Pooled);
    double same = pooled.groupCost(0b0101), other = pooled.groupCost(0b0011);
    std::printf("pooled: cost{0,2} %.4f cost{0,1} %.4f\n", same, other);
    PartitionSearch p = searchPartition(
        4, 2, [&](uint64_t m) { return pooled.groupCost(m); });
    check(std::abs(same - 2 * 0.5 / 13.5) < 0.003 && other > 0.15 &&
              p.groups == HeadPartition({{0, 2}, {1, 3}}),
          "pooled cost pairs the similar heads (0.074 for scales 1 and 2)");
  }
  // Identical heads cost 0; independent random ones their share of the
  // energy outside the top half of a random spectrum.
  AttentionSample t = makeSample({0, 0, 1, 2}, 0.0, 3);
  HeadSimilarity sim(t, false);
  double zero = sim.groupCost(0b0011), indep = sim.groupCost(0b1100);
  std::printf("identical %.2e independent %.3f\n", zero, indep);
  check(zero < 1e-6 && indep > 0.1 && indep <= 2.0,
        "identical heads cost 0, independent ones far from it");
  return failures ? 1 : 0;
}
