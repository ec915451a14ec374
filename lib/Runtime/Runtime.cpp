//===- Runtime.cpp - the C API of include/attn-c/Runtime.h ----------------===//

#include "attn-c/Runtime.h"

#include "CudaRuntime.h"
#include "ModelSignature.h"
#include "ParameterFile.h"
#include "ThreadPool.h"

#include <dlfcn.h>

#include <cstdio>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace attn::rt;

struct AttnModel {
  void *handle = nullptr;
  void (*run)(void **buffers) = nullptr;
  std::string signatureText;
  ModelSignature signature;
  /// The mapped weights, shared by every AttnModel of the same handle.
  std::shared_ptr<ParameterFiles> params;
};

namespace {

/// dlopen gives a second load of the same library the same handle, whose
/// one params-base global is bound already: such loads share the mapping,
/// which is unmapped only when the last of them is freed.
struct BoundParams {
  std::mutex mutex;
  std::map<void *, std::weak_ptr<ParameterFiles>> byHandle;
};

BoundParams &boundParams() {
  static BoundParams *bound = new BoundParams(); // outlives static dtors
  return *bound;
}

/// Maps the model's parameter and external data files (if it has any) and
/// binds them: attn_model_bind_params(base) for one parameter file (version
/// 3), attn_model_bind_param_files(bases) when there are external files.
bool bindParameters(AttnModel &model, const std::string &path,
                    AttnParamsLoad how, std::string &error) {
  const ModelSignature &signature = model.signature;
  if (!signature.params && signature.externals.empty())
    return true;
  bool several = !signature.externals.empty();
  const char *symbol =
      several ? "attn_model_bind_param_files" : "attn_model_bind_params";
  void *bind = dlsym(model.handle, symbol);
  if (!bind) {
    error = "'" + path + "' has " +
            (several ? "params-external lines" : "a params line") +
            " but lacks " + symbol;
    return false;
  }
  BoundParams &bound = boundParams();
  std::lock_guard<std::mutex> lock(bound.mutex);
  if (auto shared = bound.byHandle[model.handle].lock()) {
    model.params = std::move(shared);
    return true;
  }
  std::unique_ptr<ParameterFiles> files =
      mapParameterFiles(path, signature, how, error);
  if (!files)
    return false;
  if (several) {
    std::vector<const void *> bases;
    for (const auto &file : files->files)
      bases.push_back(file->data());
    reinterpret_cast<void (*)(const void *const *)>(bind)(bases.data());
  } else {
    reinterpret_cast<void (*)(const void *)>(bind)(files->files[0]->data());
  }
  model.params = std::move(files);
  bound.byHandle[model.handle] = model.params;
  return true;
}

std::string &lastError() {
  static thread_local std::string error;
  return error;
}

AttnStatus fail(const std::string &message) {
  lastError() = message;
  return ATTN_ERROR;
}

const char *kindName(BufferKind kind) {
  switch (kind) {
  case BufferKind::Input: return "input";
  case BufferKind::Output: return "output";
  case BufferKind::Inout: return "inout";
  }
  return "buffer";
}

AttnStatus getInfo(const AttnModel *model, int32_t index, BufferKind kind,
                   AttnTensorInfo *info) {
  if (!model || !info)
    return fail("null model or info");
  const auto &list = model->signature.list(kind);
  if (index < 0 || size_t(index) >= list.size())
    return fail(std::string(kindName(kind)) + " index " +
                std::to_string(index) + " is out of range (the model has " +
                std::to_string(list.size()) + ")");
  const TensorSignature &t = list[size_t(index)];
  info->name = t.name.c_str();
  info->dtype = t.dtype;
  info->rank = int32_t(t.shape.size());
  info->shape = t.shape.data();
  info->num_bytes = t.numBytes;
  return ATTN_OK;
}

/// The run in progress on this thread: compiled code reports bad inputs to
/// it through attn_rt_report_position_error (called on the thread that runs
/// the model, outside its parallel regions).
struct RunState {
  const AttnModel *model = nullptr;
  std::string error;
};

RunState *&currentRun() {
  static thread_local RunState *run = nullptr;
  return run;
}

/// The name of buffer `index` of `model`, or a description if unknown.
std::string bufferName(const AttnModel *model, int64_t index) {
  const ModelSignature &sig = model->signature;
  if (index < 0 || size_t(index) >= sig.buffers.size())
    return "a computed position";
  auto [kind, i] = sig.buffers[size_t(index)];
  return std::string(kindName(kind)) + " '" + sig.list(kind)[size_t(i)].name +
         "'";
}

/// Runs `model` and turns an error reported by its code into ATTN_ERROR.
/// A CUDA model's run ends (endCudaRun) while its report state is current:
/// its decode checks are read back then.
AttnStatus runReporting(AttnModel *model, void **buffers, bool cuda) {
  RunState state;
  state.model = model;
  RunState *outer = currentRun();
  currentRun() = &state;
  model->run(buffers);
  std::string cudaError;
  bool cudaOk = !cuda || endCudaRun(cudaError);
  currentRun() = outer;
  if (!cudaOk)
    return fail("running the CUDA model: " + cudaError);
  if (!state.error.empty())
    return fail(state.error);
  return ATTN_OK;
}

} // namespace

AttnStatus attn::rt::setLastError(const std::string &message) {
  return fail(message);
}

extern "C" {

AttnModel *attnModelLoad(const char *path) {
  return attnModelLoadWith(path, ATTN_PARAMS_LOAD_DEFAULT);
}

AttnModel *attnModelLoadWith(const char *path, AttnParamsLoad params) {
  if (!path) {
    fail("null path");
    return nullptr;
  }
  if (params != ATTN_PARAMS_LOAD_DEFAULT && params != ATTN_PARAMS_LOAD_MAP &&
      params != ATTN_PARAMS_LOAD_HUGE) {
    fail("cannot load model '" + std::string(path) + "': " +
         std::to_string(int(params)) + " is not an AttnParamsLoad value");
    return nullptr;
  }
  // Without a '/', dlopen would search the library path, not the directory.
  std::string file = path;
  if (file.find('/') == std::string::npos)
    file = "./" + file;
  // A CUDA model loads its kernels in its constructor (mgpuModuleLoad).
  clearCudaError();
  void *handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    fail(std::string("cannot load model '") + path + "': " +
         (why ? why : "unknown error"));
    return nullptr;
  }
  auto *signature =
      static_cast<const char *>(dlsym(handle, "attn_model_signature"));
  void *run = dlsym(handle, "attn_model_run");
  if (!signature || !run) {
    dlclose(handle);
    fail(std::string("'") + path +
         "' is not a model compiled by attn-compile (it lacks "
         "attn_model_signature or attn_model_run)");
    return nullptr;
  }
  auto *model = new AttnModel();
  model->handle = handle;
  model->run = reinterpret_cast<void (*)(void **)>(run);
  model->signatureText = signature;
  std::string error;
  if (!parseModelSignature(model->signatureText, model->signature, error) ||
      !takeCudaError(error)) {
    attnModelFree(model);
    fail(std::string("'") + path + "': " + error);
    return nullptr;
  }
  if (!bindParameters(*model, file, params, error)) {
    attnModelFree(model);
    fail(error);
    return nullptr;
  }
  return model;
}

void attnModelFree(AttnModel *model) {
  if (!model)
    return;
  if (model->params) {
    BoundParams &bound = boundParams();
    std::lock_guard<std::mutex> lock(bound.mutex);
    model->params.reset(); // unmaps when this was the last user
    auto it = bound.byHandle.find(model->handle);
    if (it != bound.byHandle.end() && it->second.expired())
      bound.byHandle.erase(it);
  }
  if (model->handle)
    dlclose(model->handle);
  delete model;
}

AttnDevice attnModelGetDevice(const AttnModel *model) {
  return model ? model->signature.device : ATTN_DEVICE_CPU;
}

int32_t attnModelGetNumInputs(const AttnModel *model) {
  return model ? int32_t(model->signature.inputs.size()) : 0;
}

int32_t attnModelGetNumOutputs(const AttnModel *model) {
  return model ? int32_t(model->signature.outputs.size()) : 0;
}

int32_t attnModelGetNumInouts(const AttnModel *model) {
  return model ? int32_t(model->signature.inouts.size()) : 0;
}

AttnStatus attnModelGetInputInfo(const AttnModel *model, int32_t index,
                                 AttnTensorInfo *info) {
  return getInfo(model, index, BufferKind::Input, info);
}

AttnStatus attnModelGetOutputInfo(const AttnModel *model, int32_t index,
                                  AttnTensorInfo *info) {
  return getInfo(model, index, BufferKind::Output, info);
}

AttnStatus attnModelGetInoutInfo(const AttnModel *model, int32_t index,
                                 AttnTensorInfo *info) {
  return getInfo(model, index, BufferKind::Inout, info);
}

const char *attnModelGetSignature(const AttnModel *model) {
  return model ? model->signatureText.c_str() : "";
}

AttnStatus attnModelRun(AttnModel *model, const void *const *inputs,
                        void *const *outputs, void *stream) {
  if (model && !model->signature.inouts.empty())
    return fail("the model updates " +
                std::to_string(model->signature.inouts.size()) +
                " inout buffers in place (its KV caches, e.g. '" +
                model->signature.inouts.front().name +
                "'); run it with attnModelRunInPlace");
  return attnModelRunInPlace(model, inputs, nullptr, outputs, stream);
}

AttnStatus attnModelRunInPlace(AttnModel *model, const void *const *inputs,
                               void *const *inouts, void *const *outputs,
                               void *stream) {
  // CPU models run synchronously on the calling thread's pool and ignore
  // `stream`; CUDA models enqueue their work on it.
  if (!model)
    return fail("null model");
  const ModelSignature &sig = model->signature;
  if ((!inputs && !sig.inputs.empty()) || (!outputs && !sig.outputs.empty()) ||
      (!inouts && !sig.inouts.empty()))
    return fail("null inputs, inouts or outputs array");
  std::vector<void *> buffers;
  buffers.reserve(sig.buffers.size());
  for (auto [kind, index] : sig.buffers) {
    const TensorSignature &t = sig.list(kind)[size_t(index)];
    void *data = kind == BufferKind::Input
                     ? const_cast<void *>(inputs[index])
                 : kind == BufferKind::Output ? outputs[index]
                                              : inouts[index];
    if (!data && t.numBytes != 0)
      return fail(std::string("null data pointer for ") + kindName(kind) +
                  " '" + t.name + "'");
    buffers.push_back(data);
  }
  if (sig.device == ATTN_DEVICE_CPU)
    return runReporting(model, buffers.data(), /*cuda=*/false);
  std::string error;
  if (!beginCudaRun(stream, error))
    return fail(error);
  return runReporting(model, buffers.data(), /*cuda=*/true);
}

const char *attnGetLastError(void) { return lastError().c_str(); }

/// Called by compiled attn.decode when a KV-cache position does not fit:
/// the run writes nothing into the caches and returns ATTN_ERROR with this
/// message (the first report of a run wins). A paged decode also reports a
/// block-table entry that is not a page of the pool: `newEntries` is then
/// -(column + 1), `position` the entry and `capacity` the pool's pages.
ATTN_RT_API void attn_rt_report_position_error(int64_t buffer, int64_t row,
                                               int64_t position,
                                               int64_t newEntries,
                                               int64_t capacity) {
  std::string input = currentRun() ? bufferName(currentRun()->model, buffer)
                                   : std::string("a position");
  std::string message;
  if (newEntries < 0)
    message = "KV-cache block table entry out of range: " + input +
              " (batch row " + std::to_string(row) + ", page " +
              std::to_string(-newEntries - 1) + ") is " +
              std::to_string(position) + "; page indices must be in [0, " +
              std::to_string(capacity) + "), the pages of the cache pool";
  else
    message =
        "KV-cache position out of range: " + input +
        (row >= 0 ? " (batch row " + std::to_string(row) + ")" : "") +
        " is " + std::to_string(position) + "; " +
        (position < 0 ? std::string("positions must be >= 0")
                      : "position + " + std::to_string(newEntries) +
                            " new entries must be <= the cache capacity " +
                            std::to_string(capacity));
  if (!currentRun()) {
    fprintf(stderr, "attn runtime: %s\n", message.c_str());
    return;
  }
  if (currentRun()->error.empty())
    currentRun()->error = message;
}

void attnSetNumThreads(int32_t n) { setNumThreads(n < 1 ? 1 : n); }

int32_t attnGetNumThreads(void) { return getNumThreads(); }

const char *attnDTypeName(AttnDType dtype) {
  static const char *const kNames[] = {"f32", "f16", "bf16", "f64", "i64",
                                       "i32", "i16", "i8",   "u8",  "bool"};
  if (dtype < ATTN_DTYPE_F32 || dtype > ATTN_DTYPE_BOOL)
    return nullptr;
  return kNames[dtype];
}

size_t attnDTypeSize(AttnDType dtype) {
  static const size_t kSizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
  if (dtype < ATTN_DTYPE_F32 || dtype > ATTN_DTYPE_BOOL)
    return 0;
  return kSizes[dtype];
}

} // extern "C"
