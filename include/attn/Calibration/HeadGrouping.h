//===- HeadGrouping.h - which KV heads share (activation-informed) -*- C++ -*-===//
//
// --share-kv-grouping=similarity: scores how well a candidate group of KV
// heads merges into one from the calibration keys and values, and picks the
// partition of the KV heads into equal groups with the lowest total cost.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CALIBRATION_HEADGROUPING_H
#define ATTN_CALIBRATION_HEADGROUPING_H

#include "attn/Calibration/KVSharing.h"

#include <cstdint>
#include <functional>
#include <vector>

namespace attn::calib {

/// A partition of heads 0 .. n-1 into groups of equal size: each group's
/// heads ascending, the groups by their first head.
using HeadPartition = std::vector<std::vector<int64_t>>;

struct PartitionSearch {
  HeadPartition groups;
  double cost = 0.0;           ///< the sum of the groups' costs
  double neighboursCost = 0.0; ///< the same for heads g k .. g k + g - 1
  bool exhaustive = true;      ///< every partition scored (else local search)
};

/// The number of partitions of n heads into groups of `groupSize`
/// (n! / (g!^(n/g) (n/g)!)), saturated at `limit` + 1.
uint64_t countPartitions(int64_t n, int64_t groupSize, uint64_t limit);

/// The partition of heads 0 .. n-1 (n <= 64, a multiple of `groupSize`)
/// into groups of `groupSize` with the lowest sum of `cost(mask)` (mask:
/// the group's heads as bits). Exhaustive when there are at most
/// `exhaustiveLimit` partitions, otherwise greedy (each group the cheapest
/// completion of the lowest free head by adding the head that costs least)
/// then pairwise swaps between groups while one lowers the total. Ties keep
/// the neighbours' grouping (a partition replaces the best so far only when
/// it is lower by more than 1e-12 relative).
PartitionSearch searchPartition(int64_t n, int64_t groupSize,
                                const std::function<double(uint64_t)> &cost,
                                uint64_t exhaustiveLimit = 200000);

/// What a group's cost measures: Subspace, how well the heads merge when
/// each may be mapped linearly into the shared head (aligned, aligned-fit,
/// joint); Pooled, how well their plain average stands for them (mean,
/// exact, calibrated).
enum class GroupCost { Subspace, Pooled };

/// How well groups of KV heads merge, from one attention's calibration
/// sample: the energy of the group's keys (the key rows some query row
/// sees) that the merge loses, as a share of all the attention's keys'
/// energy, plus the same of the values; so the groups' costs add up to the
/// partition's share of lost energy (0 to 2). Pooled: the energy around
/// the group's mean, sum_h |X_h - mean|^2. Subspace: the energy of the
/// values [V_h1 ... V_hg] outside their top Dv principal directions, and of
/// the keys outside their top D (`rotaryPlanes`: per rotary plane
/// (i, i + D/2) the keys as complex numbers outside their top complex
/// direction, the combinations that commute with RoPE: what `aligned`
/// keeps, its Gram unweighted as aligned's is). 0 for heads that are
/// linear maps (Pooled: copies) of each other.
class HeadSimilarity {
public:
  HeadSimilarity(const AttentionSample &sample, bool rotaryPlanes,
                 GroupCost kind = GroupCost::Subspace);
  double groupCost(uint64_t mask) const;
  int64_t heads() const { return kvHeads; }

private:
  double residual(const std::vector<double> &gram, int64_t width,
                  uint64_t mask, int64_t keep) const;
  double planeResidual(uint64_t mask) const;
  double pooledResidual(const std::vector<double> &traces,
                        uint64_t mask) const;

  int64_t kvHeads, headDim, valueDim;
  bool planes;
  GroupCost kind;
  /// tr(X_a^T X_b) of the heads as they are (Pooled): [Hkv]^2 each.
  std::vector<double> keyTraces, valueTraces;
  /// The Grams of the unit-energy heads side by side: keys [Hkv D]^2,
  /// values [Hkv Dv]^2 (row-major).
  std::vector<double> keyGram, valueGram;
};

} // namespace attn::calib

#endif // ATTN_CALIBRATION_HEADGROUPING_H
