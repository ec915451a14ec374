//===- Generate.h - greedy decoding with a fused decode step ----*- C++ -*-===//
//
// `attn-run --generate N`: runs a decode-step model compiled with in-place
// KV caches (inout buffers) N times, feeding each step's greedy token back.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTN_RUN_GENERATE_H
#define ATTN_TOOLS_ATTN_RUN_GENERATE_H

#include "attn-c/Runtime.h"
#include "attn/Runtime/Npz.h"

#include <string>
#include <vector>

namespace attn::run {

/// Names that a decode-step model's inputs have by convention (DESIGN.md).
constexpr const char *kInputIds = "input_ids";
constexpr const char *kPositionIds = "position_ids";
constexpr const char *kAttentionMask = "attention_mask";
constexpr const char *kCachePosition = "cache_position";
constexpr const char *kLogits = "logits";

/// True for the graph inputs that hold the past keys/values.
bool isPastName(const std::string &name);

/// The past length (second-to-last size) of the past arrays in `arrays`;
/// dies if they disagree; -1 when there are none.
int64_t pastLength(const std::vector<rt::Array> &arrays);

/// Runs `steps` greedy decode steps from the state in `arrays` (input_ids,
/// position_ids, past_*, ...). Prints the token ids; writes `tokens`,
/// `logits` and `step_us` (time of every step) to `outputsPath` if given.
void generate(AttnModel *model, const std::string &modelName, int steps,
              const std::vector<rt::Array> &arrays,
              const std::string &inputsPath, const std::string &outputsPath);

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_GENERATE_H
