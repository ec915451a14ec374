//===- HeadPermutation.h - --share-kv-grouping=similarity -------*- C++ -*-===//
//
// Chooses which KV heads of each attention share from the calibration
// data and reorders the heads so that the chosen groups become neighbours:
// the K/V heads with their query heads, as whole head blocks of the
// constant Q, K, V projection weights and biases and of the O projection's
// rows. The reordered model computes the same function (the sums of the O
// projection run in another order); every --share-kv-method then merges
// neighbours as before.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_COMPILER_HEADPERMUTATION_H
#define ATTN_COMPILER_HEADPERMUTATION_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace mlir::attn::compile {

/// One attention's grouping, for the report and the log.
struct HeadGroupingRecord {
  std::string name;
  /// The groups of original KV heads, in their new order (neighbours when
  /// the grouping fell back).
  std::vector<std::vector<int64_t>> groups;
  double cost = 0.0, neighboursCost = 0.0;
  bool exhaustive = true;
  /// The cost scored: "pooled", "subspace" or "rotary-planes".
  std::string costKind;
  /// Why the attention kept its neighbours without scoring (empty when
  /// it was scored).
  std::string fallback;
};

/// Reorders the KV heads of attention `op` (the constant projections
/// around it): new KV head j is old head perm[j], its query heads with it.
/// Fails, with why in `why`, and changes nothing when the projections are
/// not all found or not the attention's own.
LogicalResult permuteAttentionHeads(AttentionOp op, ArrayRef<int64_t> perm,
                                    std::string &why);

/// Whether permuteAttentionHeads can reorder `op`'s heads; `why` not.
/// `rotary` is set when the key projection is followed by steps along the
/// head dimension (RoPE).
bool canPermuteHeads(AttentionOp op, std::string &why, bool *rotary = nullptr);

/// --share-kv-grouping=similarity: for every attention of `module` with
/// more than `newHeads` KV heads, scores the groups of KV heads on the
/// calibration inputs (HeadSimilarity), picks the partition of lowest cost
/// and reorders the heads so that its groups are neighbours, in `module`
/// and, when given, in `other` (the same model at other sizes: the model
/// that is compiled when `module` is the calibration-sized copy).
/// Attentions whose projections cannot be reordered keep their neighbours
/// (a record with `fallback`). `pooled`: the cost of the methods that
/// average the heads of a group (GroupCost::Pooled), else Subspace.
LogicalResult groupKVHeads(
    ModuleOp module, ModuleOp other, int64_t newHeads, bool pooled,
    const std::string &calibrationPath,
    function_ref<LogicalResult(ModuleOp, const std::string &)> buildLibrary,
    std::vector<HeadGroupingRecord> &records, std::string &error);

} // namespace mlir::attn::compile

#endif // ATTN_COMPILER_HEADPERMUTATION_H
