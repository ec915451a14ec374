//===- attn-run.cpp - run a compiled model on .npz inputs -----------------===//
//
//   attn-run MODEL.so --inputs IN.npz --outputs OUT.npz [--bench N]
//   attn-run MODEL.onnx --inputs STEP.npz --generate N [--outputs OUT.npz]
//
// Links only libAttnRuntime (no LLVM), so it can be copied with a model to
// a machine without LLVM. A .mlir/.onnx MODEL is compiled first by the
// attn-compile next to this executable, through a cache.
//
//===----------------------------------------------------------------------===//

#include "CompileCache.h"
#include "DeviceBuffers.h"
#include "Generate.h"
#include "Prefill.h"
#include "RunSupport.h"

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
#include <time.h>
#include <vector>

using namespace attn;
using namespace attn::run;

namespace {

const char *kUsage =
    "usage: attn-run MODEL(.so|.mlir|.onnx) [--inputs IN.npz] "
    "[--outputs OUT.npz]\n"
    "                [--bench N] [--threads N] [--dim NAME=SIZE]...\n"
    "                [--generate N [--prompts FILE | --prefill PROMPT]\n"
    "                 [--max-seq N]]\n"
    "                [--cache-dir DIR] [--device N]\n"
    "\n"
    "Runs a model compiled by attn-compile on the arrays of IN.npz (keys are\n"
    "the model's input names) and writes its outputs to OUT.npz.\n"
    "  --bench N      run N more times and print 'cpu_us: X' (process CPU\n"
    "                 time per run, all threads), 'min_us: X', then\n"
    "                 'median_us: X' last\n"
    "  --threads N    threads to use (default $ATTN_NUM_THREADS or all)\n"
    "  --dim N=S      bind a symbolic dimension when compiling .mlir/.onnx\n"
    "  --generate N   greedy decoding: N steps of a decode-step model whose\n"
    "                 past length is symbolic (in-place KV caches), starting\n"
    "                 from input_ids, position_ids and past_* in IN.npz;\n"
    "                 prints the tokens; OUT.npz gets tokens, logits, step_us\n"
    "  --prompts FILE with --generate: a batch of prompts of different\n"
    "                 lengths (text: one prompt of token ids a line; npz:\n"
    "                 prompts [B, L] and lengths [B]) decoded at once on a\n"
    "                 step with per-row positions (compiled with\n"
    "                 --per-row-positions), caches starting empty; prints\n"
    "                 each row's tokens; OUT.npz gets tokens [B, N], logits\n"
    "  --prefill PROMPT with --generate: first runs PROMPT, the same\n"
    "                 decoder's prompt-form model (.so/.onnx/.mlir; no past\n"
    "                 inputs, logits and present_* outputs), on IN.npz (its\n"
    "                 input_ids / position_ids [1, S]) in one run; its\n"
    "                 presents become MODEL's caches and the argmax of its\n"
    "                 last logits the first token; N steps follow. OUT.npz\n"
    "                 gets N + 1 tokens and logits rows\n"
    "  --max-seq N    cache capacity when --generate compiles the model\n"
    "                 (default: past length + N, or the longest prompt +\n"
    "                 N - 1)\n"
    "  --cache-dir D  where compiled .mlir/.onnx models are kept (default\n"
    "                 $ATTN_MLIR_CACHE_DIR, else $XDG_CACHE_HOME/attn-mlir,\n"
    "                 else ~/.cache/attn-mlir)\n"
    "  --device N     the CUDA device a cuda model runs on (default 0)\n";

/// CPU seconds of the whole process (every thread) so far.
double processCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

struct Options {
  std::string model, inputs, outputs, cacheDir, prompts, prefill;
  int bench = 0;
  int threads = 0;
  int generate = 0;
  int maxSeq = 0;
  int device = -1;
  std::vector<std::string> dims;
};

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

int parseOrdinal(const std::string &flag, const std::string &text) {
  char *end = nullptr;
  long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end || value < 0 || value > 1024)
    die(flag + " expects a device ordinal (0, 1, ...), got '" + text + "'");
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
      o.generate = parseCount(flag, takeValue());
    else if (flag == "--prompts")
      o.prompts = takeValue();
    else if (flag == "--prefill")
      o.prefill = takeValue();
    else if (flag == "--max-seq")
      o.maxSeq = parseCount(flag, takeValue());
    else if (flag == "--cache-dir")
      o.cacheDir = takeValue();
    else if (flag == "--device")
      o.device = parseOrdinal(flag, takeValue());
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
  if (o.maxSeq && !o.generate)
    die("--max-seq applies only with --generate");
  if (o.generate && o.bench)
    die("--generate times every step itself; it takes no --bench");
  if (!o.prompts.empty() && !o.generate)
    die("--prompts applies only with --generate");
  if (!o.prefill.empty() && (!o.generate || !o.prompts.empty() ||
                             o.inputs.empty()))
    die("--prefill needs --generate N and --inputs (the prompt's input_ids "
        "and position_ids), and no --prompts");
  if (o.generate && o.inputs.empty() && o.prompts.empty())
    die("--generate needs the first step's inputs (input_ids, position_ids, "
        "past_*) with --inputs IN.npz");
  return o;
}

/// attn-compile's --input-shape=NAME=D0xD1x... binding `a`'s shape.
std::string inputShapeArg(const rt::Array &a) {
  std::string shape;
  for (size_t i = 0; i < a.shape.size(); ++i)
    shape += (i ? "x" : "") + std::to_string(a.shape[i]);
  return "--input-shape=" + a.name + "=" + shape;
}

/// The attn-compile arguments for a .mlir/.onnx model run on `arrays`.
std::vector<std::string>
compileArguments(const Options &options, const std::vector<rt::Array> &arrays,
                 const std::vector<std::vector<int64_t>> &prompts) {
  std::vector<std::string> args;
  for (const std::string &dim : options.dims)
    args.push_back("--dim=" + dim);
  if (!endsWith(options.model, ".onnx"))
    return args;
  // A batch of prompts: a step of one token for each of B rows, each at its
  // own position, with caches for the longest prompt and the tokens after.
  if (!prompts.empty()) {
    int64_t maxSeq = options.maxSeq ? options.maxSeq
                                    : promptCapacity(prompts, options.generate);
    args.push_back("--max-seq=" + std::to_string(maxSeq));
    args.push_back("--per-row-positions");
    args.push_back("--input-shape=" + std::string(kInputIds) + "=" +
                   std::to_string(prompts.size()) + "x1");
    for (const rt::Array &a : arrays) {
      if (isPastName(a.name) || a.name == kInputIds ||
          a.name == kPositionIds || a.name == kAttentionMask)
        continue;
      args.push_back(inputShapeArg(a));
    }
    return args;
  }
  // Symbolic sizes of an ONNX graph are bound from the inputs' shapes; for
  // --generate, the past length becomes the cache capacity instead.
  if (options.generate) {
    int64_t past = pastLength(arrays);
    if (past < 0)
      die("--generate needs the past keys and values (past_*) in '" +
          options.inputs + "'");
    int64_t maxSeq = options.maxSeq ? options.maxSeq : past + options.generate;
    args.push_back("--max-seq=" + std::to_string(maxSeq));
  }
  for (const rt::Array &a : arrays) {
    if (options.generate && (isPastName(a.name) || a.name == kAttentionMask))
      continue;
    args.push_back(inputShapeArg(a));
  }
  return args;
}

/// The attn-compile arguments of the decode step after a --prefill prompt:
/// the prompt's [1, S] inputs become [1, 1], the caches hold S + N.
std::vector<std::string>
stepArguments(const Options &options, const std::vector<rt::Array> &arrays) {
  std::vector<std::string> args;
  for (const std::string &dim : options.dims)
    args.push_back("--dim=" + dim);
  if (!endsWith(options.model, ".onnx"))
    return args;
  int64_t tokens = 0;
  for (const rt::Array &a : arrays) {
    if (a.shape.size() != 2 || a.shape[0] != 1)
      die("--prefill: '" + a.name + "' in '" + options.inputs +
          "' has shape " + shapeString(a.shape.data(), a.shape.size()) +
          "; a prompt's inputs are [1, S]");
    tokens = std::max(tokens, a.shape[1]);
    args.push_back("--input-shape=" + a.name + "=1x1");
  }
  int64_t maxSeq = options.maxSeq ? options.maxSeq : tokens + options.generate;
  args.push_back("--max-seq=" + std::to_string(maxSeq));
  return args;
}

/// `path` as a loadable library: a .mlir/.onnx model is compiled (through
/// the cache) with `args`.
std::string libraryOf(const Options &options, const std::string &path,
                      const std::vector<std::string> &args) {
  if (!endsWith(path, ".mlir") && !endsWith(path, ".onnx"))
    return path;
  std::string error;
  std::string library = compileCached(path, args, options.cacheDir, error);
  if (library.empty())
    die(error);
  return library;
}

/// --generate N --prefill PROMPT: the prompt in one run of PROMPT, then N
/// greedy steps of MODEL from its presents.
int prefillThenGenerate(const Options &options,
                        const std::vector<rt::Array> &arrays) {
  Options promptOptions = options;
  promptOptions.model = options.prefill;
  promptOptions.generate = 0;
  std::string promptLibrary =
      libraryOf(options, options.prefill,
                compileArguments(promptOptions, arrays, {}));
  std::string stepLibrary =
      libraryOf(options, options.model, stepArguments(options, arrays));
  if (options.device >= 0 && attnCudaSetDevice(options.device) != ATTN_OK)
    die(attnGetLastError());
  AttnModel *step = attnModelLoad(stepLibrary.c_str());
  if (!step)
    die(attnGetLastError());
  AttnModel *prompt = attnModelLoad(promptLibrary.c_str());
  if (!prompt)
    die(attnGetLastError());
  Prefilled state =
      prefill(prompt, options.prefill, step, arrays, options.inputs);
  attnModelFree(prompt);
  generate(step, options.model, options.generate, state.state, options.inputs,
           options.outputs, &state);
  attnModelFree(step);
  return 0;
}

/// Copies each array into a fresh buffer in the order of `infos`.
std::vector<void *> loadBuffers(const std::vector<AttnTensorInfo> &infos,
                                const std::vector<rt::Array> &arrays,
                                std::vector<std::unique_ptr<Buffer>> &storage) {
  std::vector<void *> data;
  for (const AttnTensorInfo &info : infos) {
    storage.push_back(std::make_unique<Buffer>(size_t(info.num_bytes)));
    const rt::Array *a = findArray(arrays, info.name);
    if (a && !a->data.empty()) // an empty vector's data() may be null
      std::memcpy(storage.back()->data, a->data.data(), a->data.size());
    data.push_back(storage.back()->data);
  }
  return data;
}

void appendResults(const std::vector<AttnTensorInfo> &infos,
                   const std::vector<void *> &data,
                   std::vector<rt::Array> &results) {
  for (size_t i = 0; i < infos.size(); ++i) {
    const AttnTensorInfo &info = infos[i];
    rt::Array a;
    a.name = info.name;
    a.dtype = rt::DType(info.dtype);
    a.shape.assign(info.shape, info.shape + info.rank);
    auto *bytes = static_cast<uint8_t *>(data[i]);
    a.data.assign(bytes, bytes + info.num_bytes);
    results.push_back(std::move(a));
  }
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

  std::vector<std::vector<int64_t>> prompts;
  if (!options.prompts.empty())
    prompts = readPrompts(options.prompts);

  if (!options.prefill.empty())
    return prefillThenGenerate(options, arrays);

  std::string library = options.model;
  if (endsWith(options.model, ".mlir") || endsWith(options.model, ".onnx")) {
    std::string error;
    library = compileCached(options.model,
                            compileArguments(options, arrays, prompts),
                            options.cacheDir, error);
    if (library.empty())
      die(error);
  } else if (!options.dims.empty()) {
    die("--dim applies only when attn-run compiles a .mlir or .onnx model");
  }

  // The ordinal is fixed before the model loads: loading a cuda model
  // starts the driver on the chosen device.
  if (options.device >= 0 && attnCudaSetDevice(options.device) != ATTN_OK)
    die(attnGetLastError());

  AttnModel *model = attnModelLoad(library.c_str());
  if (!model)
    die(attnGetLastError());
  if (options.generate && !prompts.empty()) {
    generateBatch(model, options.model, options.generate, prompts, arrays,
                  options.inputs, options.outputs);
    attnModelFree(model);
    return 0;
  }
  if (options.generate) {
    generate(model, options.model, options.generate, arrays, options.inputs,
             options.outputs);
    attnModelFree(model);
    return 0;
  }

  std::vector<AttnTensorInfo> inputInfos = tensorInfos(model, TensorKind::Input);
  std::vector<AttnTensorInfo> inoutInfos = tensorInfos(model, TensorKind::Inout);
  std::vector<AttnTensorInfo> outputInfos =
      tensorInfos(model, TensorKind::Output);
  // A plain run of a model with in-place caches takes the whole caches from
  // the file, like any input, and writes them back with the outputs.
  std::vector<AttnTensorInfo> given = inputInfos;
  given.insert(given.end(), inoutInfos.begin(), inoutInfos.end());
  if (options.inputs.empty() && !given.empty()) {
    std::string names;
    for (const AttnTensorInfo &in : given)
      names += (names.empty() ? "'" : ", '") + std::string(in.name) + "'";
    die("the model takes inputs " + names + ": give them with --inputs IN.npz");
  }
  validateArrays(given, arrays, options.inputs);

  std::vector<std::unique_ptr<Buffer>> storage;
  std::vector<void *> inputData = loadBuffers(inputInfos, arrays, storage);
  std::vector<const void *> inputs(inputData.begin(), inputData.end());
  std::vector<void *> inouts = loadBuffers(inoutInfos, arrays, storage);
  arrays.clear();
  std::vector<void *> outputs = loadBuffers(outputInfos, {}, storage);
  DeviceBuffers device(model); // a CUDA model runs on device copies
  device.toDevice(inputs, inouts, outputs);

  runOnce(model, inputs, inouts, outputs);
  if (options.outputs.empty())
    for (const AttnTensorInfo &out : outputInfos)
      std::printf("output %s %s %s\n", out.name, attnDTypeName(out.dtype),
                  shapeString(out.shape, size_t(out.rank)).c_str());

  if (options.bench > 0) {
    // A decode step rerun at the same cache position rewrites the same
    // cache rows with the same values, so repeated runs give the same
    // outputs and caches.
    for (int i = 0; i < std::min(options.bench, 3); ++i)
      runOnce(model, inputs, inouts, outputs);
    std::vector<double> times;
    // The process's CPU time over the timed runs only (all threads, pool
    // workers included): a benchmark on a shared machine compares this,
    // not the wall time, and loading the inputs is left out.
    double cpuStart = processCpuSeconds();
    for (int i = 0; i < options.bench; ++i) {
      auto start = std::chrono::steady_clock::now();
      runOnce(model, inputs, inouts, outputs);
      auto end = std::chrono::steady_clock::now();
      times.push_back(
          std::chrono::duration<double, std::micro>(end - start).count());
    }
    double cpuUs = (processCpuSeconds() - cpuStart) * 1e6 / options.bench;
    double min = *std::min_element(times.begin(), times.end());
    double med = median(times);
    std::printf("runs: %d\nthreads: %d\ncpu_us: %.3f\nmin_us: %.3f\n"
                "median_us: %.3f\n",
                options.bench, attnGetNumThreads(), cpuUs, min, med);
  }

  device.toHost(inouts, outputs);
  if (!options.outputs.empty()) {
    std::vector<rt::Array> results;
    appendResults(outputInfos, outputs, results);
    appendResults(inoutInfos, inouts, results);
    std::string error;
    if (!rt::writeNpz(options.outputs, results, error))
      die("cannot write outputs: " + error);
  }
  attnModelFree(model);
  return 0;
}
