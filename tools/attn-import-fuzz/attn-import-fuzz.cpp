//===- attn-import-fuzz.cpp - libFuzzer target for the ONNX importer ------===//
//
// Feeds each input as a serialized ONNX ModelProto to the importer that
// attn-compile uses, in memory, then verifies the module as attn-compile does
// after import. Any input must end in a module or in diagnostics (which are
// swallowed here); a crash, a sanitizer report, a hang or an allocation
// beyond -rss_limit_mb is a finding. tools/fuzz-import.sh builds and runs it;
// docs/fuzzing.md explains the setup.
//
// ModelMutator.cpp adds structure-aware mutations (one odd field in an
// otherwise well-formed model) to libFuzzer's byte-level ones.
//
// External data resolves in ATTN_FUZZ_DATA_DIR (tools/attn-import-fuzz/data
// unless the environment overrides it), which holds one small weights file,
// so that the reading paths are exercised and nothing else is reachable.
//
//===----------------------------------------------------------------------===//

#include "ModelMutator.h"

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Import/OnnxImporter.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/Path.h"

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace mlir;

namespace {

/// The registry attn-compile builds, less the passes and translations the
/// importer does not reach.
const DialectRegistry &getRegistry() {
  static const DialectRegistry *registry = [] {
    auto *r = new DialectRegistry();
    registerAllDialects(*r);
    r->insert<attn::AttnDialect>();
    return r;
  }();
  return *registry;
}

/// A path in the data directory; the importer never reads the model file
/// itself, only external data next to it.
const std::string &getModelPath() {
  static const std::string *path = [] {
    const char *dir = std::getenv("ATTN_FUZZ_DATA_DIR");
    llvm::SmallString<256> p(dir && *dir ? dir : ATTN_FUZZ_DATA_DIR);
    llvm::sys::path::append(p, "fuzz-input.onnx");
    return new std::string(p.str());
  }();
  return *path;
}

/// Sizes for the symbolic dimension names of exported models and of the
/// seed corpus, so that models using them get past input binding.
attn::OnnxImportOptions getOptions() {
  attn::OnnxImportOptions options;
  for (auto [name, size] :
       {std::pair<const char *, int64_t>{"batch", 2},
        {"batch_size", 2},
        {"seq", 3},
        {"sequence_length", 3},
        {"past", 4},
        {"past_sequence_length", 4},
        {"total", 7},
        {"total_sequence_length", 7},
        {"N", 2},
        {"S", 3}})
    options.dims[name] = size;
  return options;
}

} // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size,
                                   size_t maxSize);

/// Two mutations in three change one field of a parsed model; the rest, and
/// inputs that do not parse, get libFuzzer's byte mutations (which find the
/// parser's and decoder's problems).
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  if (seed % 3 != 0)
    if (size_t n = attn_fuzz::mutateModel(data, size, maxSize, seed))
      return n;
  return LLVMFuzzerMutate(data, size, maxSize);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const attn::OnnxImportOptions options = getOptions();
  // A fresh context per input: interned attributes (constants) of earlier
  // inputs must not pile up, and each run starts from the same state.
  MLIRContext context(getRegistry(), MLIRContext::Threading::DISABLED);
  context.printOpOnDiagnostic(false);
  context.printStackTraceOnDiagnostic(false);
  ScopedDiagnosticHandler silence(&context,
                                  [](Diagnostic &) { return success(); });
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  FailureOr<OwningOpRef<ModuleOp>> module =
      attn::importOnnxModelFromBuffer(bytes, getModelPath(), options, &context);
  if (succeeded(module))
    (void)verify(**module); // what attn-compile checks next
  return 0;
}
