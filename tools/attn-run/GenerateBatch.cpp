//===- GenerateBatch.cpp - greedy decoding of a ragged batch of prompts ---===//
//
// `attn-run --generate N --prompts FILE`: B prompts of different lengths
// decode at once through a decode step compiled with per-row positions
// (`attn-compile --per-row-positions`: `cache_position : [B]`). Every step
// moves every row one position on: a row still in its prompt is fed its
// next prompt token (its prefill, one token a step), a row past it its
// last greedy token. Rows never wait for each other and share no padding,
// so each row's tokens are those of its prompt run alone. A row that has
// its N tokens stays at its last position until the longest row is done
// (it keeps rewriting that slot of its own cache; its outputs are no longer
// read).
//
// A step compiled with paged caches (`attn-compile --paged-kv-cache`) has a
// `block_table` input [B, M] and caches that are page pools [N, Hkv, P, D]:
// the loop gives every row the pages its positions need, in a shuffled but
// fixed order, and keeps the table for the whole run.
//
//===----------------------------------------------------------------------===//

#include "Generate.h"
#include "GenerateSupport.h"
#include "RunSupport.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

using namespace attn;
using namespace attn::run;

namespace {

/// The prompts of an npz: `prompts` [B, L] (int64 or int32) and
/// `lengths` [B] (row b's prompt is its first lengths[b] ids).
std::vector<std::vector<int64_t>> readNpzPrompts(const std::string &path) {
  std::vector<rt::Array> arrays;
  std::string error;
  if (!rt::readNpz(path, arrays, error))
    die("cannot read prompts: " + error);
  const rt::Array *ids = findArray(arrays, "prompts");
  const rt::Array *lengths = findArray(arrays, "lengths");
  if (!ids || !lengths)
    die("'" + path + "' must hold 'prompts' [B, L] and 'lengths' [B]");
  auto element = [&](const rt::Array &a, size_t i) -> int64_t {
    if (a.dtype == rt::DType::I64)
      return reinterpret_cast<const int64_t *>(a.data.data())[i];
    if (a.dtype == rt::DType::I32)
      return reinterpret_cast<const int32_t *>(a.data.data())[i];
    die("'" + a.name + "' in '" + path + "' has dtype " +
        rt::dtypeName(a.dtype) + "; expected int64 or int32");
  };
  if (ids->shape.size() != 2 || lengths->shape.size() != 1 ||
      lengths->shape[0] != ids->shape[0])
    die("'" + path + "' holds 'prompts' " +
        shapeString(ids->shape.data(), ids->shape.size()) + " and 'lengths' " +
        shapeString(lengths->shape.data(), lengths->shape.size()) +
        "; expected [B, L] and [B]");
  int64_t rows = ids->shape[0], width = ids->shape[1];
  auto prompts = std::vector<std::vector<int64_t>>(size_t(rows));
  for (int64_t b = 0; b < rows; ++b) {
    int64_t length = element(*lengths, size_t(b));
    if (length < 1 || length > width)
      die("lengths[" + std::to_string(b) + "] in '" + path + "' is " +
          std::to_string(length) + "; expected 1 to " + std::to_string(width));
    for (int64_t t = 0; t < length; ++t)
      prompts[size_t(b)].push_back(element(*ids, size_t(b * width + t)));
  }
  return prompts;
}

/// The prompts of a text file: one prompt a line, token ids separated by
/// spaces; blank lines and lines starting with '#' are skipped.
std::vector<std::vector<int64_t>> readTextPrompts(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    die("cannot open prompts '" + path + "'");
  std::vector<std::vector<int64_t>> prompts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#')
      continue;
    std::istringstream fields(line);
    std::vector<int64_t> ids;
    std::string field;
    while (fields >> field) {
      char *end = nullptr;
      long long id = std::strtoll(field.c_str(), &end, 10);
      if (*end || id < 0)
        die("'" + path + "' line " + std::to_string(number) + ": '" + field +
            "' is not a token id (a non-negative integer)");
      ids.push_back(id);
    }
    prompts.push_back(std::move(ids));
  }
  if (prompts.empty())
    die("'" + path + "' holds no prompt");
  return prompts;
}

} // namespace

std::vector<std::vector<int64_t>>
attn::run::readPrompts(const std::string &path) {
  bool npz = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npz") == 0;
  return npz ? readNpzPrompts(path) : readTextPrompts(path);
}

int64_t attn::run::promptCapacity(
    const std::vector<std::vector<int64_t>> &prompts, int steps) {
  size_t longest = 0;
  for (const std::vector<int64_t> &p : prompts)
    longest = std::max(longest, p.size());
  return int64_t(longest) + steps - 1;
}

void attn::run::generateBatch(AttnModel *model, const std::string &modelName,
                              int steps,
                              const std::vector<std::vector<int64_t>> &prompts,
                              const std::vector<rt::Array> &arrays,
                              const std::string &inputsPath,
                              const std::string &outputsPath) {
  std::vector<AttnTensorInfo> inputs = tensorInfos(model, TensorKind::Input);
  std::vector<AttnTensorInfo> inouts = tensorInfos(model, TensorKind::Inout);
  std::vector<AttnTensorInfo> outputs = tensorInfos(model, TensorKind::Output);
  if (inouts.empty())
    die("--prompts needs a decode-step model compiled with in-place KV "
        "caches; '" + modelName + "' has none (its past length is static)");
  DecodeRoles roles = readDecodeRoles(attnModelGetSignature(model));
  auto find = [](const std::vector<AttnTensorInfo> &infos,
                 const std::string &name) -> int {
    for (size_t i = 0; i < infos.size(); ++i)
      if (name == infos[i].name)
        return int(i);
    return -1;
  };
  int idsIndex = find(inputs, roles.inputIds);
  int positionIndex = find(inputs, roles.cachePosition);
  int positionIdsIndex = find(inputs, roles.positionIds);
  int maskIndex = find(inputs, roles.attentionMask);
  int logitsIndex = find(outputs, roles.logits);
  if (idsIndex < 0 || positionIndex < 0 || logitsIndex < 0)
    die("--prompts needs a model with inputs '" + std::string(kInputIds) +
        "' and '" + kCachePosition + "' and an output '" + kLogits + "'; '" +
        modelName + "' lacks '" +
        (idsIndex < 0 ? kInputIds : positionIndex < 0 ? kCachePosition : kLogits) +
        "'");
  int64_t rows = int64_t(prompts.size());
  const AttnTensorInfo &ids = inputs[size_t(idsIndex)];
  const AttnTensorInfo &position = inputs[size_t(positionIndex)];
  const AttnTensorInfo &logits = outputs[size_t(logitsIndex)];
  if (position.rank != 1)
    die("--prompts decodes rows at different positions, which needs one "
        "position per batch row: '" + modelName + "' takes one '" +
        kCachePosition + "' " + shapeString(position.shape, size_t(position.rank)) +
        " for the batch (compile it with --per-row-positions)");
  if (position.shape[0] != rows || numElements(ids) != rows)
    die("'" + modelName + "' decodes a batch of " +
        std::to_string(position.shape[0]) + " rows of one token ('" +
        kInputIds + "' " + shapeString(ids.shape, size_t(ids.rank)) +
        "), but " + std::to_string(rows) + " prompts are given");
  if (logits.dtype != ATTN_DTYPE_F32 || logits.rank < 1 ||
      numElements(logits) % rows)
    die("--prompts expects float32 '" + std::string(kLogits) +
        "' with one row of logits per prompt");
  int64_t vocab = logits.shape[logits.rank - 1];
  int64_t perRow = numElements(logits) / rows;
  int64_t capacity = inouts.front().rank >= 2
                         ? inouts.front().shape[inouts.front().rank - 2]
                         : 0;
  // Paged caches: a row holds M pages of P positions.
  std::string tableName = findRole(attnModelGetSignature(model), kBlockTable);
  int tableIndex = tableName.empty() ? -1 : find(inputs, tableName);
  if (!tableName.empty() && tableIndex < 0)
    die("'" + modelName + "' gives the role '" + kBlockTable +
        "' to '" + tableName + "', which is not an input");
  int64_t pageSize = capacity;
  if (tableIndex >= 0) {
    const AttnTensorInfo &table = inputs[size_t(tableIndex)];
    if (table.rank != 2 || table.shape[0] != rows)
      die("'" + modelName + "' has a block table '" + tableName + "' " +
          shapeString(table.shape, size_t(table.rank)) + "; expected [" +
          std::to_string(rows) + ", pages per row]");
    capacity = table.shape[1] * pageSize;
  }
  for (int64_t b = 0; b < rows; ++b)
    if (prompts[size_t(b)].empty())
      die("prompt " + std::to_string(b) + " is empty");
  int64_t needed = promptCapacity(prompts, steps);
  if (needed > capacity)
    die("--generate " + std::to_string(steps) + " after prompts of up to " +
        std::to_string(needed - steps + 1) + " tokens needs a cache of " +
        std::to_string(needed) + "; '" + modelName + "' holds " +
        std::to_string(capacity) + " (compile it with --max-seq " +
        std::to_string(needed) + " or more)");

  // The caches start empty (zeros); the fed inputs are written every step
  // (the block table once); any other input comes from --inputs.
  std::vector<std::string> fed = {roles.inputIds, roles.cachePosition,
                                  roles.positionIds, roles.attentionMask,
                                  tableName};
  std::vector<AttnTensorInfo> others;
  for (const AttnTensorInfo &in : inputs)
    if (std::find(fed.begin(), fed.end(), in.name) == fed.end())
      others.push_back(in);
  if (!others.empty())
    validateArrays(others, arrays, inputsPath.empty() ? "--inputs" : inputsPath,
                   {});
  std::vector<std::unique_ptr<Buffer>> storage;
  auto allocate = [&](const AttnTensorInfo &info) {
    storage.push_back(std::make_unique<Buffer>(size_t(info.num_bytes)));
    return storage.back()->data;
  };
  std::vector<void *> inoutData;
  for (const AttnTensorInfo &cache : inouts)
    inoutData.push_back(allocate(cache));
  std::vector<const void *> inputData;
  std::vector<uint8_t *> inputBytes;
  for (const AttnTensorInfo &in : inputs) {
    uint8_t *data = allocate(in);
    if (const rt::Array *a = findArray(arrays, in.name);
        a && std::find(fed.begin(), fed.end(), in.name) == fed.end() &&
        !a->data.empty())
      std::memcpy(data, a->data.data(), a->data.size());
    inputData.push_back(data);
    inputBytes.push_back(data);
  }
  std::vector<void *> outputData;
  for (const AttnTensorInfo &out : outputs)
    outputData.push_back(allocate(out));
  if (positionIdsIndex >= 0 && numElements(inputs[size_t(positionIdsIndex)]) != rows)
    die("'" + std::string(kPositionIds) + "' must hold one position per row");
  if (maskIndex >= 0 && (inputs[size_t(maskIndex)].rank != 2 ||
                         inputs[size_t(maskIndex)].shape[0] != rows))
    die("'" + std::string(kAttentionMask) + "' must be [B, positions]");

  if (tableIndex >= 0) {
    // The pages covering [0, needed) of every row; the pools' first size is
    // their number of pages.
    const AttnTensorInfo &table = inputs[size_t(tableIndex)];
    int64_t used = (needed + pageSize - 1) / pageSize;
    int64_t pages = inouts.front().shape[0];
    if (rows * used > pages)
      die("--generate " + std::to_string(steps) + " needs " +
          std::to_string(used) + " pages of " + std::to_string(pageSize) +
          " positions for each of " + std::to_string(rows) + " rows; '" +
          modelName + "' has pools of " + std::to_string(pages) +
          " pages (compile it with --kv-pages " + std::to_string(rows * used) +
          " or more)");
    std::vector<int64_t> numbers =
        shuffledPages(rows, table.shape[1], used, pages);
    for (size_t i = 0; i < numbers.size(); ++i)
      fill(table, inputBytes[size_t(tableIndex)], int64_t(i), numbers[i]);
  }

  StepBuffers buffers(model, inputs, inouts, outputs);
  buffers.prepare(inoutData);
  std::vector<int64_t> at(size_t(rows), 0);
  auto tokens = std::vector<std::vector<int64_t>>(size_t(rows));
  auto rowLogits = std::vector<std::vector<float>>(size_t(rows));
  std::vector<double> stepTimes;
  auto done = [&](int64_t b) { return int64_t(tokens[size_t(b)].size()) == steps; };
  while (true) {
    bool all = true;
    for (int64_t b = 0; b < rows; ++b)
      all = all && done(b);
    if (all)
      break;
    for (int64_t b = 0; b < rows; ++b) {
      const std::vector<int64_t> &prompt = prompts[size_t(b)];
      int64_t p = at[size_t(b)];
      int64_t token = p < int64_t(prompt.size()) ? prompt[size_t(p)]
                                                 : tokens[size_t(b)].back();
      fill(ids, inputBytes[size_t(idsIndex)], b, token);
      fill(position, inputBytes[size_t(positionIndex)], b, p);
      if (positionIdsIndex >= 0)
        fill(inputs[size_t(positionIdsIndex)],
             inputBytes[size_t(positionIdsIndex)], b, p);
      if (maskIndex >= 0) {
        // Ones over the row's positions written so far and the new one.
        const AttnTensorInfo &mask = inputs[size_t(maskIndex)];
        int64_t columns = mask.shape[1];
        for (int64_t j = 0; j < columns; ++j)
          fill(mask, inputBytes[size_t(maskIndex)], b * columns + j, j <= p);
      }
    }
    auto start = std::chrono::steady_clock::now();
    buffers.run(model, inputData, inoutData, outputData);
    auto end = std::chrono::steady_clock::now();
    stepTimes.push_back(
        std::chrono::duration<double, std::micro>(end - start).count());
    for (int64_t b = 0; b < rows; ++b) {
      int64_t &p = at[size_t(b)];
      if (done(b))
        continue; // finished rows stay where they are
      if (p + 1 < int64_t(prompts[size_t(b)].size())) {
        ++p; // still prefilling: this step's logits predict a prompt token
        continue;
      }
      const float *row =
          static_cast<const float *>(outputData[size_t(logitsIndex)]) +
          b * perRow + (perRow - vocab);
      tokens[size_t(b)].push_back(
          int64_t(std::max_element(row, row + vocab) - row));
      rowLogits[size_t(b)].insert(rowLogits[size_t(b)].end(), row, row + vocab);
      if (!done(b))
        ++p;
    }
  }

  for (int64_t b = 0; b < rows; ++b) {
    std::printf("tokens[%lld]:", static_cast<long long>(b));
    for (int64_t t : tokens[size_t(b)])
      std::printf(" %lld", static_cast<long long>(t));
    std::printf("\n");
  }
  std::vector<double> sorted = stepTimes;
  std::printf("rows: %lld\nsteps: %zu\nthreads: %d\nmedian_us: %.3f\n",
              static_cast<long long>(rows), stepTimes.size(),
              attnGetNumThreads(), median(sorted));
  if (outputsPath.empty())
    return;
  std::vector<rt::Array> results(3);
  results[0].name = "tokens";
  results[0].dtype = rt::DType::I64;
  results[0].shape = {rows, int64_t(steps)};
  results[1].name = "logits";
  results[1].dtype = rt::DType::F32;
  results[1].shape = {rows, int64_t(steps), vocab};
  for (int64_t b = 0; b < rows; ++b) {
    const auto *t = reinterpret_cast<const uint8_t *>(tokens[size_t(b)].data());
    results[0].data.insert(results[0].data.end(), t,
                           t + steps * sizeof(int64_t));
    const auto *l =
        reinterpret_cast<const uint8_t *>(rowLogits[size_t(b)].data());
    results[1].data.insert(results[1].data.end(), l,
                           l + steps * vocab * sizeof(float));
  }
  results[2].name = "step_us";
  results[2].dtype = rt::DType::F64;
  results[2].shape = {int64_t(stepTimes.size())};
  results[2].data.resize(stepTimes.size() * sizeof(double));
  std::memcpy(results[2].data.data(), stepTimes.data(), results[2].data.size());
  std::string error;
  if (!rt::writeNpz(outputsPath, results, error))
    die("cannot write outputs: " + error);
}
