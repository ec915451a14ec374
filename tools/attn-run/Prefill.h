//===- Prefill.h - a prompt model's run that starts --generate --*- C++ -*-===//
//
// `attn-run STEP --generate N --prefill PROMPT --inputs PROMPT_IN.npz`: the
// whole prompt goes through a prompt-form model (no past inputs: ids
// [1, S] -> logits and every layer's present keys / values) in one run,
// then its presents become the decode step's caches and N greedy steps
// follow. A prompt-form export is what an exporter writes for a decoder
// traced without a cache; the decode step is the same decoder's export
// with past inputs (docs/attn-compile.md, "--prefill").
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TOOLS_ATTN_RUN_PREFILL_H
#define ATTN_TOOLS_ATTN_RUN_PREFILL_H

#include "attn-c/Runtime.h"
#include "attn/Runtime/Npz.h"

#include <string>
#include <vector>

namespace attn::run {

/// What the prompt leaves for the decode steps.
struct Prefilled {
  int64_t token = 0;       ///< argmax of the prompt's last logits
  std::vector<float> row;  ///< those logits
  int64_t tokens = 0;      ///< S, the prompt's length
  double us = 0;           ///< the prompt model's run (with its copies)
  /// The first decode step's state: input_ids [[token]], position_ids
  /// [[last prompt position + 1]], and each cache's past (the present
  /// output it corresponds to) under the decode step's cache name.
  std::vector<rt::Array> state;
};

/// The present output of a prompt model that holds the past of the decode
/// step's cache `cache`: `cache` with "past_key_values" or "past" replaced
/// by "present" (past_key_0 -> present_key_0, past_key_values.0.key ->
/// present.0.key); "" when the name has no "past".
std::string presentNameOf(const std::string &cache);

/// Runs `prompt` on `arrays` (its inputs, by name) and returns the state
/// that the decode step `step` starts from; dies with a message naming
/// what does not fit (a missing present, a shape, no logits).
Prefilled prefill(AttnModel *prompt, const std::string &promptName,
                  AttnModel *step, const std::vector<rt::Array> &arrays,
                  const std::string &inputsPath);

/// Float value of element `index` of an f32, f16 or bf16 buffer.
float floatAt(const AttnTensorInfo &info, const uint8_t *data, int64_t index);

} // namespace attn::run

#endif // ATTN_TOOLS_ATTN_RUN_PREFILL_H
