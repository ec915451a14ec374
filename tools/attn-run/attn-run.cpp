//===- attn-run.cpp - run a compiled model on .npz inputs -----------------===//
//
//   attn-run MODEL.so --inputs IN.npz --outputs OUT.npz [--bench N]
//
// Links only libAttnRuntime (no LLVM), so it can be copied with a model to
// a machine without LLVM. A .mlir/.onnx MODEL is compiled first by the
// attn-compile next to this executable, through a cache.
//
//===----------------------------------------------------------------------===//

#include "CompileCache.h"

#include "attn-c/Runtime.h"
#include "attn/Runtime/Npz.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace attn;

namespace {

const char *kUsage =
    "usage: attn-run MODEL(.so|.mlir|.onnx) [--inputs IN.npz] "
    "[--outputs OUT.npz]\n"
    "                [--bench N] [--threads N] [--dim NAME=SIZE]...\n"
    "\n"
    "Runs a model compiled by attn-compile on the arrays of IN.npz (keys are\n"
    "the model's input names) and writes its outputs to OUT.npz.\n"
    "  --bench N      run N more times and print 'median_us: X' last\n"
    "  --threads N    threads to use (default $ATTN_NUM_THREADS or all)\n"
    "  --dim N=S      bind a symbolic dimension when compiling .mlir/.onnx\n";

struct Options {
  std::string model, inputs, outputs;
  int bench = 0;
  int threads = 0;
  std::vector<std::string> dims;
};

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "attn-run: error: %s\n", message.c_str());
  std::exit(1);
}

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

int parseCount(const std::string &flag, const std::string &text) {
  char *end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end || value < 1 || value > 1000000000)
    die(flag + " expects a positive integer, got '" + text + "'");
  return int(value);
}

Options parseOptions(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    size_t eq = arg.find('=');
    bool isFlag = arg.size() > 1 && arg[0] == '-';
    std::string flag = isFlag && eq != std::string::npos ? arg.substr(0, eq)
                                                         : arg;
    auto takeValue = [&]() {
      if (eq != std::string::npos && isFlag)
        return arg.substr(eq + 1);
      if (i + 1 >= argc)
        die(flag + " needs a value");
      return std::string(argv[++i]);
    };
    if (flag == "--inputs")
      o.inputs = takeValue();
    else if (flag == "--outputs")
      o.outputs = takeValue();
    else if (flag == "--bench")
      o.bench = parseCount(flag, takeValue());
    else if (flag == "--threads")
      o.threads = parseCount(flag, takeValue());
    else if (flag == "--dim")
      o.dims.push_back(takeValue());
    else if (flag == "--generate")
      die("--generate is not supported yet (greedy decoding comes with the "
          "fused decode pipeline)");
    else if (isFlag)
      die("unknown option '" + arg + "'\n" + kUsage);
    else if (o.model.empty())
      o.model = arg;
    else
      die("more than one model given ('" + o.model + "' and '" + arg + "')");
  }
  if (o.model.empty()) {
    std::fputs(kUsage, stderr);
    std::exit(1);
  }
  return o;
}

std::string shapeString(const int64_t *shape, size_t rank) {
  std::string s = "[";
  for (size_t i = 0; i < rank; ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// A 64-byte aligned host buffer.
struct Buffer {
  explicit Buffer(size_t size)
      : size(size), data(static_cast<uint8_t *>(
                        std::aligned_alloc(64, (size + 63) / 64 * 64 + 64))) {
    if (!data)
      die("out of memory allocating " + std::to_string(size) + " bytes");
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  size_t size;
  uint8_t *data;
};

std::vector<AttnTensorInfo> tensorInfos(AttnModel *model, bool outputs) {
  int32_t n = outputs ? attnModelGetNumOutputs(model)
                      : attnModelGetNumInputs(model);
  std::vector<AttnTensorInfo> infos(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    AttnStatus st = outputs ? attnModelGetOutputInfo(model, i, &infos[i])
                            : attnModelGetInputInfo(model, i, &infos[i]);
    if (st != ATTN_OK)
      die(attnGetLastError());
  }
  return infos;
}

/// Checks `arrays` against the model's inputs; dies listing every problem.
void validateInputs(const std::vector<AttnTensorInfo> &inputs,
                    const std::vector<rt::Array> &arrays,
                    const std::string &path) {
  std::vector<std::string> problems;
  std::map<std::string, const rt::Array *> byName;
  for (const rt::Array &a : arrays)
    byName[a.name] = &a;
  for (const AttnTensorInfo &in : inputs) {
    auto it = byName.find(in.name);
    std::string expected =
        std::string(attnDTypeName(in.dtype)) + " " + shapeString(in.shape, size_t(in.rank));
    if (it == byName.end()) {
      problems.push_back("input '" + std::string(in.name) + "' (" + expected +
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
                         std::to_string(in.rank) + " " + expected);
    else if (!std::equal(a.shape.begin(), a.shape.end(), in.shape))
      problems.push_back("input '" + std::string(in.name) + "' has shape " +
                         shapeString(a.shape.data(), a.shape.size()) +
                         ", the model expects " +
                         shapeString(in.shape, size_t(in.rank)));
  }
  if (!byName.empty()) {
    std::string names, expected;
    for (auto &[name, array] : byName)
      names += (names.empty() ? "'" : ", '") + name + "'";
    for (const AttnTensorInfo &in : inputs)
      expected += (expected.empty() ? "'" : ", '") + std::string(in.name) + "'";
    problems.push_back("'" + path + "' has arrays that are not model inputs: " +
                       names + " (the model's inputs are " +
                       (expected.empty() ? std::string("none") : expected) +
                       ")");
  }
  if (problems.empty())
    return;
  for (size_t i = 0; i + 1 < problems.size(); ++i)
    std::fprintf(stderr, "attn-run: error: %s\n", problems[i].c_str());
  die(problems.back());
}

void runOnce(AttnModel *model, const std::vector<const void *> &inputs,
             const std::vector<void *> &outputs) {
  if (attnModelRun(model, inputs.data(), outputs.data(), nullptr) != ATTN_OK)
    die(std::string("running the model failed: ") + attnGetLastError());
}

} // namespace

int main(int argc, char **argv) {
  Options options = parseOptions(argc, argv);
  if (options.threads > 0)
    attnSetNumThreads(options.threads);

  std::vector<rt::Array> arrays;
  if (!options.inputs.empty()) {
    std::string error;
    if (!rt::readNpz(options.inputs, arrays, error))
      die("cannot read inputs: " + error);
  }

  std::string library = options.model;
  if (endsWith(options.model, ".mlir") || endsWith(options.model, ".onnx")) {
    std::vector<std::string> compileArgs;
    for (const std::string &dim : options.dims)
      compileArgs.push_back("--dim=" + dim);
    // Symbolic sizes of an ONNX graph are bound from the inputs' shapes.
    if (endsWith(options.model, ".onnx")) {
      for (const rt::Array &a : arrays) {
        std::string shape;
        for (size_t i = 0; i < a.shape.size(); ++i)
          shape += (i ? "x" : "") + std::to_string(a.shape[i]);
        compileArgs.push_back("--input-shape=" + a.name + "=" + shape);
      }
    }
    std::string error;
    library = run::compileCached(options.model, compileArgs, error);
    if (library.empty())
      die(error);
  } else if (!options.dims.empty()) {
    die("--dim applies only when attn-run compiles a .mlir or .onnx model");
  }

  AttnModel *model = attnModelLoad(library.c_str());
  if (!model)
    die(attnGetLastError());
  std::vector<AttnTensorInfo> inputInfos = tensorInfos(model, false);
  std::vector<AttnTensorInfo> outputInfos = tensorInfos(model, true);
  if (options.inputs.empty() && !inputInfos.empty()) {
    std::string names;
    for (const AttnTensorInfo &in : inputInfos)
      names += (names.empty() ? "'" : ", '") + std::string(in.name) + "'";
    die("the model takes inputs " + names + ": give them with --inputs IN.npz");
  }
  validateInputs(inputInfos, arrays, options.inputs);

  std::vector<std::unique_ptr<Buffer>> storage;
  std::vector<const void *> inputs;
  for (const AttnTensorInfo &in : inputInfos) {
    auto it = std::find_if(arrays.begin(), arrays.end(),
                           [&](const rt::Array &a) { return a.name == in.name; });
    storage.push_back(std::make_unique<Buffer>(it->data.size()));
    if (!it->data.empty()) // an empty vector's data() may be null
      std::memcpy(storage.back()->data, it->data.data(), it->data.size());
    inputs.push_back(storage.back()->data);
  }
  arrays.clear();
  std::vector<void *> outputs;
  for (const AttnTensorInfo &out : outputInfos) {
    storage.push_back(std::make_unique<Buffer>(size_t(out.num_bytes)));
    if (out.num_bytes)
      std::memset(storage.back()->data, 0, size_t(out.num_bytes));
    outputs.push_back(storage.back()->data);
  }

  runOnce(model, inputs, outputs);
  if (options.outputs.empty())
    for (const AttnTensorInfo &out : outputInfos)
      std::printf("output %s %s %s\n", out.name, attnDTypeName(out.dtype),
                  shapeString(out.shape, size_t(out.rank)).c_str());

  if (options.bench > 0) {
    for (int i = 0; i < std::min(options.bench, 3); ++i)
      runOnce(model, inputs, outputs);
    std::vector<double> times;
    for (int i = 0; i < options.bench; ++i) {
      auto start = std::chrono::steady_clock::now();
      runOnce(model, inputs, outputs);
      auto end = std::chrono::steady_clock::now();
      times.push_back(
          std::chrono::duration<double, std::micro>(end - start).count());
    }
    std::sort(times.begin(), times.end());
    size_t n = times.size();
    double median =
        n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
    std::printf("runs: %d\nthreads: %d\nmin_us: %.3f\nmedian_us: %.3f\n",
                options.bench, attnGetNumThreads(), times.front(), median);
  }

  if (!options.outputs.empty()) {
    std::vector<rt::Array> results;
    for (size_t i = 0; i < outputInfos.size(); ++i) {
      const AttnTensorInfo &out = outputInfos[i];
      rt::Array a;
      a.name = out.name;
      a.dtype = rt::DType(out.dtype);
      a.shape.assign(out.shape, out.shape + out.rank);
      auto *data = static_cast<uint8_t *>(outputs[i]);
      a.data.assign(data, data + out.num_bytes);
      results.push_back(std::move(a));
    }
    std::string error;
    if (!rt::writeNpz(options.outputs, results, error))
      die("cannot write outputs: " + error);
  }
  attnModelFree(model);
  return 0;
}
