//===- Generate.cpp - greedy decoding with a fused decode step ------------===//

#include "Generate.h"
#include "GenerateSupport.h"
#include "Prefill.h"
#include "RunSupport.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>

using namespace attn;
using namespace attn::run;

namespace {

/// Copies the past rows [B, H, P, D] of `past` into the cache [B, H, C, D].
void loadCache(const AttnTensorInfo &cache, uint8_t *data,
               const rt::Array &past) {
  std::string name = cache.name;
  if (int(past.dtype) != int(cache.dtype))
    die("'" + name + "' has dtype " + rt::dtypeName(past.dtype) +
        ", the model's cache holds " + attnDTypeName(cache.dtype));
  size_t rank = size_t(cache.rank);
  bool compatible = rank >= 2 && past.shape.size() == rank;
  for (size_t d = 0; compatible && d < rank; ++d)
    compatible = d == rank - 2 ? past.shape[d] <= cache.shape[d]
                               : past.shape[d] == cache.shape[d];
  if (!compatible)
    die("'" + name + "' has shape " +
        shapeString(past.shape.data(), past.shape.size()) +
        ", which does not fit the model's cache " +
        shapeString(cache.shape, rank) +
        " (same sizes, at most as many positions)");
  size_t rowBytes = size_t(cache.shape[rank - 1]) * attnDTypeSize(cache.dtype);
  size_t outer = 1;
  for (size_t d = 0; d + 2 < rank; ++d)
    outer *= size_t(cache.shape[d]);
  size_t pastRows = size_t(past.shape[rank - 2]);
  size_t cacheRows = size_t(cache.shape[rank - 2]);
  for (size_t o = 0; o < outer; ++o)
    if (pastRows)
      std::memcpy(data + o * cacheRows * rowBytes,
                  past.data.data() + o * pastRows * rowBytes,
                  pastRows * rowBytes);
}

/// A paged cache's page table for --generate: the pool's page size and, for
/// each batch row, the page numbers of its positions (block table order).
struct PageTable {
  int64_t pageSize = 0;
  int64_t columns = 0;          // pages per row in the block table
  std::vector<int64_t> numbers; // [rows * columns], -1 past the used pages
};

/// Copies the past rows [B, H, P, D] of `past` into the page pool
/// [N, H, page, D]: position p of row b goes to page table[b][p / page] at
/// slot p % page.
void loadPagedCache(const AttnTensorInfo &pool, uint8_t *data,
                    const rt::Array &past, const PageTable &table) {
  std::string name = pool.name;
  if (int(past.dtype) != int(pool.dtype))
    die("'" + name + "' has dtype " + rt::dtypeName(past.dtype) +
        ", the model's cache holds " + attnDTypeName(pool.dtype));
  int64_t rows = int64_t(table.numbers.size()) / table.columns;
  if (pool.rank != 4 || past.shape.size() != 4 || past.shape[0] != rows ||
      past.shape[1] != pool.shape[1] || past.shape[3] != pool.shape[3] ||
      past.shape[2] > table.columns * table.pageSize)
    die("'" + name + "' has shape " +
        shapeString(past.shape.data(), past.shape.size()) +
        ", which does not fit the model's paged cache: [" +
        std::to_string(rows) + ", " + std::to_string(pool.shape[1]) +
        ", at most " + std::to_string(table.columns * table.pageSize) + ", " +
        std::to_string(pool.shape[3]) + "]");
  int64_t heads = pool.shape[1], page = table.pageSize;
  size_t rowBytes = size_t(pool.shape[3]) * attnDTypeSize(pool.dtype);
  for (int64_t b = 0; b < rows; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t p = 0; p < past.shape[2]; ++p) {
        int64_t number = table.numbers[size_t(b * table.columns + p / page)];
        std::memcpy(data + (((number * heads + h) * page) + p % page) * rowBytes,
                    past.data.data() +
                        size_t((b * heads + h) * past.shape[2] + p) * rowBytes,
                    rowBytes);
      }
}

/// Undoes the %XX escapes of a signature name.
std::string unescape(const std::string &name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size() &&
        std::isxdigit(static_cast<unsigned char>(name[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(name[i + 2]))) {
      out.push_back(char(std::strtol(name.substr(i + 1, 2).c_str(), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(name[i]);
    }
  }
  return out;
}

} // namespace

DecodeRoles attn::run::readDecodeRoles(const std::string &signature) {
  DecodeRoles roles;
  bool any = false;
  std::istringstream lines(signature);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string keyword, role, name;
    if (!(fields >> keyword >> role >> name) || keyword != "role")
      continue;
    any = true;
    name = unescape(name);
    if (role == kInputIds)
      roles.inputIds = name;
    else if (role == kPositionIds)
      roles.positionIds = name;
    else if (role == kAttentionMask)
      roles.attentionMask = name;
    else if (role == kCachePosition)
      roles.cachePosition = name;
    else if (role == kLogits)
      roles.logits = name;
  }
  if (!any) {
    // Compiled before signatures had roles: the buffers have the role's name.
    roles.inputIds = kInputIds;
    roles.positionIds = kPositionIds;
    roles.attentionMask = kAttentionMask;
    roles.cachePosition = kCachePosition;
    roles.logits = kLogits;
  }
  return roles;
}

bool attn::run::isPastName(const std::string &name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return lower.find("past") != std::string::npos;
}

int64_t attn::run::pastLength(const std::vector<rt::Array> &arrays) {
  int64_t length = -1;
  std::string first;
  for (const rt::Array &a : arrays) {
    if (!isPastName(a.name) || a.shape.size() < 2)
      continue;
    int64_t p = a.shape[a.shape.size() - 2];
    if (length >= 0 && p != length)
      die("past arrays '" + first + "' and '" + a.name +
          "' hold different numbers of positions (" + std::to_string(length) +
          " and " + std::to_string(p) + ")");
    length = p;
    first = a.name;
  }
  return length;
}

void attn::run::generate(AttnModel *model, const std::string &modelName,
                         int steps, const std::vector<rt::Array> &arrays,
                         const std::string &inputsPath,
                         const std::string &outputsPath,
                         const Prefilled *prefilled) {
  std::vector<AttnTensorInfo> inputs = tensorInfos(model, TensorKind::Input);
  std::vector<AttnTensorInfo> inouts = tensorInfos(model, TensorKind::Inout);
  std::vector<AttnTensorInfo> outputs = tensorInfos(model, TensorKind::Output);
  if (inouts.empty())
    die("--generate needs a decode-step model whose past length is symbolic, "
        "compiled with in-place KV caches; '" + modelName +
        "' has a static past length (its signature has no inout caches)");

  auto findInfo = [](const std::vector<AttnTensorInfo> &infos,
                     const std::string &name) -> const AttnTensorInfo * {
    for (const AttnTensorInfo &info : infos)
      if (name == info.name)
        return &info;
    return nullptr;
  };
  DecodeRoles roles = readDecodeRoles(attnModelGetSignature(model));
  const AttnTensorInfo *ids = findInfo(inputs, roles.inputIds);
  const AttnTensorInfo *position = findInfo(inputs, roles.cachePosition);
  const AttnTensorInfo *logits = findInfo(outputs, roles.logits);
  if (!ids || !position || !logits)
    die("--generate needs a model with inputs '" + std::string(kInputIds) +
        "' and '" + kCachePosition + "' and an output '" + kLogits + "'; '" +
        modelName + "' lacks '" +
        (!ids ? kInputIds : !position ? kCachePosition : kLogits) + "'");
  if (numElements(*ids) != 1)
    die("--generate feeds one token per step: '" + std::string(kInputIds) +
        "' must hold one id, the model's is " +
        shapeString(ids->shape, size_t(ids->rank)));
  if ((logits->dtype != ATTN_DTYPE_F32 && logits->dtype != ATTN_DTYPE_F16 &&
       logits->dtype != ATTN_DTYPE_BF16) ||
      logits->rank < 1)
    die("--generate expects float32, f16 or bf16 '" + std::string(kLogits) +
        "'");
  int64_t vocab = logits->shape[logits->rank - 1];
  int64_t capacity = inouts.front().rank >= 2
                         ? inouts.front().shape[inouts.front().rank - 2]
                         : 0;
  // Paged caches (attn-compile --paged-kv-cache): the past goes into the
  // pages of a block table that --generate fills once (shuffled, as for
  // --prompts) and keeps; a row holds `columns` pages of the pools' size.
  std::string tableName = findRole(attnModelGetSignature(model), kBlockTable);
  const AttnTensorInfo *table =
      tableName.empty() ? nullptr : findInfo(inputs, tableName);
  if (!tableName.empty() && !table)
    die("'" + modelName + "' gives the role '" + kBlockTable + "' to '" +
        tableName + "', which is not an input");
  PageTable pages;
  if (table) {
    if (table->rank != 2)
      die("'" + modelName + "' has a block table '" + tableName + "' " +
          shapeString(table->shape, size_t(table->rank)) +
          "; expected [rows, pages per row]");
    pages.pageSize = capacity;
    pages.columns = table->shape[1];
    capacity = pages.columns * pages.pageSize;
  }

  // The caches start with the given past; every other input comes from the
  // file with its exact shape, except those that --generate feeds.
  std::vector<std::unique_ptr<Buffer>> storage;
  std::vector<void *> inoutData;
  // The past length is that of the caches' arrays (the inout buffers).
  int64_t past = -1;
  std::string firstPast;
  std::vector<const rt::Array *> givenPast;
  for (const AttnTensorInfo &cache : inouts) {
    const rt::Array *given = findArray(arrays, cache.name);
    if (!given)
      die("the cache '" + std::string(cache.name) + "' is missing from '" +
          inputsPath + "' (give its past, e.g. with 0 positions)");
    if (given->shape.size() >= 2) {
      int64_t p = given->shape[given->shape.size() - 2];
      if (past >= 0 && p != past)
        die("past arrays '" + firstPast + "' and '" + given->name +
            "' hold different numbers of positions (" + std::to_string(past) +
            " and " + std::to_string(p) + ")");
      past = p;
      firstPast = given->name;
    }
    givenPast.push_back(given);
  }
  if (past < 0)
    past = 0;
  if (past + steps > capacity)
    die("--generate " + std::to_string(steps) + " from a past of " +
        std::to_string(past) + " positions needs a cache of " +
        std::to_string(past + steps) + "; '" + modelName + "' holds " +
        std::to_string(capacity) + " (compile it with --max-seq " +
        std::to_string(past + steps) + " or more)");
  if (table) {
    int64_t rows = table->shape[0];
    int64_t used = (past + steps + pages.pageSize - 1) / pages.pageSize;
    int64_t poolPages = inouts.front().shape[0];
    if (rows * used > poolPages)
      die("--generate " + std::to_string(steps) + " from a past of " +
          std::to_string(past) + " needs " + std::to_string(used) +
          " pages of " + std::to_string(pages.pageSize) +
          " positions for each of " + std::to_string(rows) + " rows; '" +
          modelName + "' has pools of " + std::to_string(poolPages) +
          " pages (compile it with --kv-pages " + std::to_string(rows * used) +
          " or more)");
    pages.numbers = shuffledPages(rows, pages.columns, used, poolPages);
  }
  for (size_t i = 0; i < inouts.size(); ++i) {
    storage.push_back(std::make_unique<Buffer>(size_t(inouts[i].num_bytes)));
    if (table)
      loadPagedCache(inouts[i], storage.back()->data, *givenPast[i], pages);
    else
      loadCache(inouts[i], storage.back()->data, *givenPast[i]);
    inoutData.push_back(storage.back()->data);
  }

  std::vector<std::string> fed = {roles.cachePosition, roles.attentionMask,
                                  tableName};
  for (const AttnTensorInfo &cache : inouts)
    fed.push_back(cache.name);
  validateArrays(inputs, arrays, inputsPath, fed);
  std::vector<const void *> inputData;
  std::vector<uint8_t *> inputBytes;
  for (const AttnTensorInfo &in : inputs) {
    storage.push_back(std::make_unique<Buffer>(size_t(in.num_bytes)));
    uint8_t *data = storage.back()->data;
    if (const rt::Array *a = findArray(arrays, in.name);
        a && in.name != roles.attentionMask && !a->data.empty())
      std::memcpy(data, a->data.data(), a->data.size());
    inputData.push_back(data);
    inputBytes.push_back(data);
  }
  std::vector<void *> outputData;
  for (const AttnTensorInfo &out : outputs) {
    storage.push_back(std::make_unique<Buffer>(size_t(out.num_bytes)));
    outputData.push_back(storage.back()->data);
  }
  auto inputIndex = [&](const std::string &name) -> int {
    for (size_t i = 0; i < inputs.size(); ++i)
      if (name == std::string(inputs[i].name))
        return int(i);
    return -1;
  };
  int idsIndex = inputIndex(roles.inputIds);
  int positionIndex = inputIndex(roles.cachePosition);
  int positionIdsIndex =
      roles.positionIds.empty() ? -1 : inputIndex(roles.positionIds);
  int maskIndex =
      roles.attentionMask.empty() ? -1 : inputIndex(roles.attentionMask);
  int logitsIndex = int(logits - outputs.data());
  if (table) {
    int tableIndex = inputIndex(tableName);
    for (size_t i = 0; i < pages.numbers.size(); ++i)
      fill(*table, inputBytes[size_t(tableIndex)], int64_t(i),
           pages.numbers[i]);
  }

  StepBuffers buffers(model, inputs, inouts, outputs);
  buffers.prepare(inoutData);
  std::vector<int64_t> tokens;
  std::vector<float> stepLogits;
  std::vector<double> stepTimes;
  // After a prompt model's run the first token is already chosen: it leads
  // the tokens and its logits row the logits.
  if (prefilled) {
    tokens.push_back(prefilled->token);
    stepLogits = prefilled->row;
  }
  for (int step = 0; step < steps; ++step) {
    int64_t at = past + step;
    fill(inputs[size_t(positionIndex)], inputBytes[size_t(positionIndex)], 0,
         at);
    if (step > 0) {
      fill(inputs[size_t(idsIndex)], inputBytes[size_t(idsIndex)], 0,
           tokens.back());
      if (positionIdsIndex >= 0) {
        const AttnTensorInfo &info = inputs[size_t(positionIdsIndex)];
        uint8_t *data = inputBytes[size_t(positionIdsIndex)];
        for (int64_t i = 0, n = numElements(info); i < n; ++i)
          fill(info, data, i, readInt(info, data, i) + 1);
      }
    }
    if (maskIndex >= 0) {
      // Ones over the positions written so far and the new one.
      const AttnTensorInfo &info = inputs[size_t(maskIndex)];
      int64_t columns = info.rank ? info.shape[info.rank - 1] : 1;
      for (int64_t i = 0, n = numElements(info); i < n; ++i)
        fill(info, inputBytes[size_t(maskIndex)], i, i % columns <= at);
    }
    auto start = std::chrono::steady_clock::now();
    buffers.run(model, inputData, inoutData, outputData);
    auto end = std::chrono::steady_clock::now();
    stepTimes.push_back(
        std::chrono::duration<double, std::micro>(end - start).count());
    const auto *bytes =
        static_cast<const uint8_t *>(outputData[size_t(logitsIndex)]);
    std::vector<float> row(static_cast<size_t>(vocab));
    for (int64_t v = 0; v < vocab; ++v)
      row[size_t(v)] = floatAt(*logits, bytes, numElements(*logits) - vocab + v);
    tokens.push_back(int64_t(std::max_element(row.begin(), row.end()) -
                             row.begin()));
    stepLogits.insert(stepLogits.end(), row.begin(), row.end());
  }

  std::printf("tokens:");
  for (int64_t t : tokens)
    std::printf(" %lld", static_cast<long long>(t));
  std::vector<double> sorted = stepTimes;
  std::printf("\nsteps: %d\nthreads: %d\nmedian_us: %.3f\n", steps,
              attnGetNumThreads(), median(sorted));
  if (prefilled)
    std::printf("prefill_tokens: %lld\nprefill_us: %.3f\n",
                static_cast<long long>(prefilled->tokens), prefilled->us);

  if (outputsPath.empty())
    return;
  std::vector<rt::Array> results(3);
  results[0].name = "tokens";
  results[0].dtype = rt::DType::I64;
  results[0].shape = {int64_t(tokens.size())};
  results[0].data.resize(tokens.size() * sizeof(int64_t));
  std::memcpy(results[0].data.data(), tokens.data(), results[0].data.size());
  results[1].name = "logits";
  results[1].dtype = rt::DType::F32;
  results[1].shape = {int64_t(tokens.size()), vocab};
  results[1].data.resize(stepLogits.size() * sizeof(float));
  std::memcpy(results[1].data.data(), stepLogits.data(),
              results[1].data.size());
  results[2].name = "step_us";
  results[2].dtype = rt::DType::F64;
  results[2].shape = {int64_t(steps)};
  results[2].data.resize(stepTimes.size() * sizeof(double));
  std::memcpy(results[2].data.data(), stepTimes.data(), results[2].data.size());
  std::string error;
  if (!rt::writeNpz(outputsPath, results, error))
    die("cannot write outputs: " + error);
}
