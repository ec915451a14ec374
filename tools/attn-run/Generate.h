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

/// The roles that a compiled decode step's signature gives its buffers
/// (`role ROLE NAME` lines, docs/runtime-abi.md); a signature without role
/// lines (compiled before they existed) has buffers named after the role.
constexpr const char *kInputIds = "input_ids";
constexpr const char *kPositionIds = "position_ids";
constexpr const char *kAttentionMask = "attention_mask";
constexpr const char *kCachePosition = "cache_position";
constexpr const char *kLogits = "logits";

/// The buffer of each role in a decode step's signature (`role` lines, or
/// for an older signature the buffers named after the roles); "" if none.
struct DecodeRoles {
  std::string inputIds, positionIds, attentionMask, cachePosition, logits;
};
DecodeRoles readDecodeRoles(const std::string &signature);

/// True for the graph inputs that hold the past keys/values, before the
/// model is compiled (the ONNX graph's naming convention; a compiled model
/// says which buffers are caches with its `inout` lines).
bool isPastName(const std::string &name);

/// The past length (second-to-last size) of the past arrays in `arrays`;
/// dies if they disagree; -1 when there are none.
int64_t pastLength(const std::vector<rt::Array> &arrays);

struct Prefilled;

/// Runs `steps` greedy decode steps from the state in `arrays` (the caches'
/// pasts by their inout names, the ids, ...), finding the buffers by the
/// roles in the model's signature. Prints the token ids; writes `tokens`,
/// `logits` and `step_us` (time of every step) to `outputsPath` if given.
/// After a prompt model's run (`prefilled`, --prefill), its token and
/// logits row lead the tokens and logits (steps + 1 of each).
void generate(AttnModel *model, const std::string &modelName, int steps,
              const std::vector<rt::Array> &arrays,
              const std::string &inputsPath, const std::string &outputsPath,
              const Prefilled *prefilled = nullptr);

/// The prompts of `path`: an npz with `prompts` [B, L] and `lengths` [B],
/// or text with one prompt of space-separated token ids a line. Dies on a
/// malformed file.
std::vector<std::vector<int64_t>> readPrompts(const std::string &path);

/// Cache positions a row needs to decode `steps` tokens after the longest
/// of `prompts` (the prompt and every generated token but the last).
int64_t promptCapacity(const std::vector<std::vector<int64_t>> &prompts,
                       int steps);

/// Greedy decoding of a batch of prompts of different lengths at once, on
/// a decode step compiled with per-row positions (cache_position [B]):
/// each row prefills its prompt a token a step and then decodes `steps`
/// tokens, all rows moving together. Prints each row's tokens; writes
/// `tokens` [B, steps], `logits` [B, steps, vocab] and `step_us` to
/// `outputsPath` if given. Inputs other than the ids, positions and mask
/// come from `arrays`; the caches start empty.
void generateBatch(AttnModel *model, const std::string &modelName, int steps,
                   const std::vector<std::vector<int64_t>> &prompts,
                   const std::vector<rt::Array> &arrays,
                   const std::string &inputsPath,
                   const std::string &outputsPath);

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_GENERATE_H
