//===- RunSupport.cpp - what attn-run's modes share -----------------------===//

#include "RunSupport.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

using namespace attn;
using namespace attn::run;

void attn::run::die(const std::string &message) {
  std::fprintf(stderr, "attn-run: error: %s\n", message.c_str());
  std::exit(1);
}

std::string attn::run::shapeString(const int64_t *shape, size_t rank) {
  std::string s = "[";
  for (size_t i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

Buffer::Buffer(size_t size)
    : size(size), data(static_cast<uint8_t *>(
                      std::aligned_alloc(64, (size + 63) / 64 * 64 + 64))) {
  if (!data)
    die("out of memory allocating " + std::to_string(size) + " bytes");
  std::memset(data, 0, size);
}

Buffer::~Buffer() { std::free(data); }

std::vector<AttnTensorInfo> attn::run::tensorInfos(AttnModel *model,
                                                   TensorKind kind) {
  int32_t n = kind == TensorKind::Input    ? attnModelGetNumInputs(model)
              : kind == TensorKind::Output ? attnModelGetNumOutputs(model)
                                           : attnModelGetNumInouts(model);
  std::vector<AttnTensorInfo> infos(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    AttnStatus st =
        kind == TensorKind::Input    ? attnModelGetInputInfo(model, i, &infos[i])
        : kind == TensorKind::Output ? attnModelGetOutputInfo(model, i, &infos[i])
                                     : attnModelGetInoutInfo(model, i, &infos[i]);
    if (st != ATTN_OK)
      die(attnGetLastError());
  }
  return infos;
}

const rt::Array *attn::run::findArray(const std::vector<rt::Array> &arrays,
                                      const std::string &name) {
  for (const rt::Array &a : arrays)
    if (a.name == name)
      return &a;
  return nullptr;
}

void attn::run::validateArrays(const std::vector<AttnTensorInfo> &expected,
                               const std::vector<rt::Array> &arrays,
                               const std::string &path,
                               const std::vector<std::string> &ignored) {
  std::vector<std::string> problems;
  std::map<std::string, const rt::Array *> byName;
  for (const rt::Array &a : arrays)
    if (std::find(ignored.begin(), ignored.end(), a.name) == ignored.end())
      byName[a.name] = &a;
  for (const AttnTensorInfo &in : expected) {
    if (std::find(ignored.begin(), ignored.end(), in.name) != ignored.end())
      continue;
    auto it = byName.find(in.name);
    std::string want = std::string(attnDTypeName(in.dtype)) + " " +
                       shapeString(in.shape, size_t(in.rank));
    if (it == byName.end()) {
      problems.push_back("input '" + std::string(in.name) + "' (" + want +
                         ") is missing from '" + path + "'");
      continue;
    }
    const rt::Array &a = *it->second;
    byName.erase(it);
    std::string got = std::string(rt::dtypeName(a.dtype)) + " " +
                      shapeString(a.shape.data(), a.shape.size());
    if (int(a.dtype) != int(in.dtype))
      problems.push_back("input '" + std::string(in.name) + "' has dtype " +
                         rt::dtypeName(a.dtype) + ", the model expects " +
                         attnDTypeName(in.dtype));
    else if (a.shape.size() != size_t(in.rank))
      problems.push_back("input '" + std::string(in.name) + "' has rank " +
                         std::to_string(a.shape.size()) + " " + got +
                         ", the model expects rank " +
                         std::to_string(in.rank) + " " + want);
    else if (!std::equal(a.shape.begin(), a.shape.end(), in.shape))
      problems.push_back("input '" + std::string(in.name) + "' has shape " +
                         shapeString(a.shape.data(), a.shape.size()) +
                         ", the model expects " +
                         shapeString(in.shape, size_t(in.rank)));
  }
  if (!byName.empty()) {
    std::string names, known;
    for (auto &[name, array] : byName)
      names += (names.empty() ? "'" : ", '") + name + "'";
    for (const AttnTensorInfo &in : expected)
      known += (known.empty() ? "'" : ", '") + std::string(in.name) + "'";
    problems.push_back("'" + path + "' has arrays that are not model inputs: " +
                       names + " (the model's inputs are " +
                       (known.empty() ? std::string("none") : known) + ")");
  }
  if (problems.empty())
    return;
  for (size_t i = 0; i + 1 < problems.size(); ++i)
    std::fprintf(stderr, "attn-run: error: %s\n", problems[i].c_str());
  die(problems.back());
}

void attn::run::runOnce(AttnModel *model,
                        const std::vector<const void *> &inputs,
                        const std::vector<void *> &inouts,
                        const std::vector<void *> &outputs) {
  if (attnModelRunInPlace(model, inputs.data(), inouts.data(), outputs.data(),
                          nullptr) != ATTN_OK)
    die(std::string("running the model failed: ") + attnGetLastError());
}

double attn::run::median(std::vector<double> &times) {
  if (times.empty())
    return 0;
  std::sort(times.begin(), times.end());
  size_t n = times.size();
  return n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
}
