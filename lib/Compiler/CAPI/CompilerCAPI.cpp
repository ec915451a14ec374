//===- CompilerCAPI.cpp - include/attn-c/Compiler.h over attn::compile ----===//

#include "attn-c/Compiler.h"

#include "attn/Compiler/Compiler.h"

#include <string>

using namespace mlir::attn::compile;

struct AttnCompilerSession {
  Session session;
  CompileResult result;
  std::string errorText, diagnosticsText;
};

struct AttnCompileOptions {
  CompileOptions options;
  std::string error;
};

namespace {

std::string str(const char *s) { return s ? s : ""; }

AttnCompileStatus status(mlir::LogicalResult result) {
  return mlir::succeeded(result) ? ATTN_COMPILE_OK : ATTN_COMPILE_ERROR;
}

/// Fills the session's texts after a compilation.
AttnCompileStatus finish(AttnCompilerSession *s, mlir::LogicalResult result) {
  s->diagnosticsText = s->result.diagnostics;
  for (const std::string &w : s->result.warnings)
    s->diagnosticsText += "warning: " + w + "\n";
  s->errorText.clear();
  if (mlir::failed(result))
    s->errorText = s->result.diagnostics + "error: " + s->result.error + "\n";
  return status(result);
}

AttnCompileStatus compile(AttnCompilerSession *s, const AttnCompileOptions *o,
                          const ModelSource &source, const char *outputPath) {
  if (!s || !o)
    return ATTN_COMPILE_ERROR;
  mlir::LogicalResult result =
      s->session.compile(source, o->options, str(outputPath), s->result);
  return finish(s, result);
}

} // namespace

AttnCompilerSession *attnCompilerSessionCreate(void) {
  return new AttnCompilerSession();
}

void attnCompilerSessionDestroy(AttnCompilerSession *session) {
  delete session;
}

AttnCompileOptions *attnCompileOptionsCreate(void) {
  return new AttnCompileOptions();
}

void attnCompileOptionsDestroy(AttnCompileOptions *options) { delete options; }

AttnCompileStatus attnCompileOptionsSet(AttnCompileOptions *options,
                                        const char *key, const char *value) {
  options->error.clear();
  return status(
      setCompileOption(options->options, str(key), str(value), options->error));
}

AttnCompileStatus attnCompileOptionsSetFlags(AttnCompileOptions *options,
                                             int32_t count,
                                             const char *const *flags) {
  options->error.clear();
  std::vector<std::string> list;
  for (int32_t i = 0; i < count; ++i)
    list.push_back(str(flags[i]));
  return status(setCompileOptions(options->options, list, options->error));
}

const char *attnCompileOptionsGetError(const AttnCompileOptions *options) {
  return options->error.c_str();
}

void attnCompileOptionsSetTarget(AttnCompileOptions *options,
                                 AttnCompileTarget target) {
  options->options.target =
      target == ATTN_COMPILE_TARGET_CUDA ? Target::Cuda : Target::Cpu;
}

void attnCompileOptionsSetOutput(AttnCompileOptions *options,
                                 AttnCompileOutput output) {
  switch (output) {
  case ATTN_COMPILE_OUTPUT_MLIR_IMPORTED:
    options->options.output = OutputKind::MlirImported;
    return;
  case ATTN_COMPILE_OUTPUT_MLIR:
    options->options.output = OutputKind::Mlir;
    return;
  case ATTN_COMPILE_OUTPUT_LLVM:
    options->options.output = OutputKind::LlvmIr;
    return;
  default:
    options->options.output = OutputKind::Library;
  }
}

void attnCompileOptionsSetEntryFunction(AttnCompileOptions *options,
                                        const char *name) {
  options->options.entryFunction = str(name);
}

void attnCompileOptionsAddDim(AttnCompileOptions *options, const char *name,
                              int64_t size) {
  options->options.dims[str(name)] = size;
}

void attnCompileOptionsSetInputShape(AttnCompileOptions *options,
                                     const char *name, int32_t rank,
                                     const int64_t *shape) {
  std::vector<int64_t> sizes;
  for (int32_t i = 0; i < rank; ++i)
    sizes.push_back(shape[i]);
  options->options.inputShapes[str(name)] = std::move(sizes);
}

void attnCompileOptionsSetShareKV(AttnCompileOptions *options, int64_t kvHeads,
                                  AttnShareKVMethod method,
                                  const char *calibrationFile) {
  options->options.shareKV = kvHeads;
  options->options.shareKVMethod =
      method == ATTN_SHARE_KV_EXACT        ? ShareKVMethod::Exact
      : method == ATTN_SHARE_KV_CALIBRATED ? ShareKVMethod::Calibrated
      : method == ATTN_SHARE_KV_ALIGNED    ? ShareKVMethod::Aligned
      : method == ATTN_SHARE_KV_ALIGNED_FIT ? ShareKVMethod::AlignedFit
      : method == ATTN_SHARE_KV_LATENT     ? ShareKVMethod::Latent
      : method == ATTN_SHARE_KV_JOINT      ? ShareKVMethod::Joint
      : method == ATTN_SHARE_KV_DEFAULT    ? ShareKVMethod::Default
                                           : ShareKVMethod::Mean;
  options->options.calibrationFile = str(calibrationFile);
}

void attnCompileOptionsSetMaxSeq(AttnCompileOptions *options, int64_t maxSeq) {
  options->options.maxSeq = maxSeq;
}

void attnCompileOptionsSetFuseDecode(AttnCompileOptions *options,
                                     int32_t enabled) {
  options->options.fuseDecode = enabled != 0;
}

void attnCompileOptionsSetCpu(AttnCompileOptions *options, const char *mcpu,
                              const char *mattr) {
  options->options.mcpu = mcpu ? mcpu : "native";
  options->options.mattr = str(mattr);
}

void attnCompileOptionsSetReportPath(AttnCompileOptions *options,
                                     const char *path) {
  options->options.reportPath = str(path);
}

AttnCompileStatus attnCompileFile(AttnCompilerSession *session,
                                  const AttnCompileOptions *options,
                                  const char *modelPath,
                                  const char *outputPath) {
  ModelSource source;
  source.path = str(modelPath);
  return compile(session, options, source, outputPath);
}

AttnCompileStatus attnCompileBuffer(AttnCompilerSession *session,
                                    const AttnCompileOptions *options,
                                    const void *data, size_t size,
                                    const char *format, const char *name,
                                    const char *outputPath) {
  std::string bytes(static_cast<const char *>(data), size);
  ModelSource source;
  source.path = name ? name : "<buffer>";
  source.buffer = &bytes;
  source.format = str(format);
  return compile(session, options, source, outputPath);
}

const char *attnCompilerGetOutput(const AttnCompilerSession *session) {
  return session->result.text.c_str();
}

const char *attnCompilerGetReport(const AttnCompilerSession *session) {
  return session->result.report.c_str();
}

const char *attnCompilerGetLog(const AttnCompilerSession *session) {
  return session->result.log.c_str();
}

const char *attnCompilerGetDiagnostics(const AttnCompilerSession *session) {
  return session->diagnosticsText.c_str();
}

const char *attnCompilerGetError(const AttnCompilerSession *session) {
  return session->errorText.c_str();
}
