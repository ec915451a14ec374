//===- WriteParams.cpp - write the parameter file of a compiled model -----===//
//
// Streams the values that attn-externalize-weights recorded straight from
// their attributes (weights are never copied again) into a temporary file
// that is renamed into place, so a reader sees either no file or all of it.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/ExternalizeWeights/ExternalizeWeights.h"
#include "attn/Support/ConstantBytes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace mlir::attn;

std::string mlir::attn::parameterFileName(StringRef libraryPath) {
  return (llvm::sys::path::filename(libraryPath) + ".params").str();
}

namespace {

/// The parts of `attn.parameters`, checked.
struct Layout {
  StringRef file;
  int64_t size = 0;
  uint64_t hash = 0;
  struct Entry {
    int64_t offset;
    ConstantBytes bytes;
    int64_t size;
  };
  SmallVector<Entry> entries;
};

LogicalResult readLayout(DictionaryAttr dict, Layout &layout,
                         std::string &error) {
  auto file = dict.getAs<StringAttr>("file");
  auto size = dict.getAs<IntegerAttr>("size");
  auto hash = dict.getAs<IntegerAttr>("hash");
  auto entries = dict.getAs<ArrayAttr>("entries");
  if (!file || !size || !hash || !entries) {
    error = "the module's attn.parameters lacks file, size, hash or entries";
    return failure();
  }
  layout.file = file.getValue();
  layout.size = size.getInt();
  layout.hash = uint64_t(hash.getInt());
  int64_t end = kParamsHeaderBytes;
  for (Attribute attr : entries) {
    auto entry = dyn_cast<DictionaryAttr>(attr);
    auto offset = entry ? entry.getAs<IntegerAttr>("offset") : nullptr;
    auto value = entry ? entry.getAs<ElementsAttr>("value") : nullptr;
    std::optional<ConstantBytes> bytes =
        value ? getConstantBytes(value) : std::nullopt;
    // Entries are in file order and must not overlap the header or each
    // other, or the file would not be what the code reads.
    if (!offset || !bytes || offset.getInt() < end) {
      error = "the module's attn.parameters has a malformed entry";
      return failure();
    }
    int64_t bytesNeeded = bytes->numBytes(value.getNumElements());
    layout.entries.push_back({offset.getInt(), *bytes, bytesNeeded});
    end = offset.getInt() + bytesNeeded;
  }
  if (end != layout.size) {
    error = "the module's attn.parameters has entries ending at " +
            std::to_string(end) + ", not at its size " +
            std::to_string(layout.size);
    return failure();
  }
  return success();
}

void writeZeros(llvm::raw_ostream &os, int64_t count) {
  static const char zeros[4096] = {};
  for (; count > 0; count -= int64_t(sizeof(zeros)))
    os.write(zeros, size_t(std::min<int64_t>(count, sizeof(zeros))));
}

void writeEntry(llvm::raw_ostream &os, const Layout::Entry &entry) {
  if (!entry.bytes.splat) {
    os.write(entry.bytes.data.data(), entry.bytes.data.size());
    return;
  }
  // A splat repeats one element; write it in chunks.
  std::string chunk;
  int64_t per = std::max<int64_t>(1, 65536 / entry.bytes.elementBytes);
  for (int64_t i = 0; i < per; ++i)
    chunk.append(entry.bytes.data.data(), entry.bytes.data.size());
  for (int64_t left = entry.size; left > 0; left -= int64_t(chunk.size()))
    os.write(chunk.data(), size_t(std::min<int64_t>(left, chunk.size())));
}

/// Frees the blobs behind the written `dense_resource` values that no global
/// of `module` still holds (a constant the pass left in place keeps its
/// data), so that LLVM code generation does not run with the weights in
/// memory.
void releaseWrittenBlobs(ModuleOp module, ArrayAttr entries) {
  llvm::DenseSet<DialectResourceBlobManager::BlobEntry *> written;
  for (Attribute attr : entries)
    if (auto entry = dyn_cast<DictionaryAttr>(attr))
      if (auto value = entry.getAs<DenseResourceElementsAttr>("value"))
        written.insert(value.getRawHandle().getResource());
  for (auto global : module.getOps<LLVM::GlobalOp>())
    if (auto value =
            dyn_cast_or_null<DenseResourceElementsAttr>(global.getValueOrNull()))
      written.erase(value.getRawHandle().getResource());
  for (auto *blob : written)
    blob->setBlob(AsmResourceBlob());
}

} // namespace

LogicalResult mlir::attn::writeParameterFile(ModuleOp module,
                                             StringRef libraryPath,
                                             std::string &path,
                                             std::string &error,
                                             bool releaseWeights) {
  path.clear();
  auto dict = module->getAttrOfType<DictionaryAttr>(kParametersAttr);
  if (!dict)
    return success();
  Layout layout;
  if (failed(readLayout(dict, layout, error)))
    return failure();
  SmallString<256> target(llvm::sys::path::parent_path(libraryPath));
  llvm::sys::path::append(target, layout.file);

  llvm::Expected<llvm::sys::fs::TempFile> temp =
      llvm::sys::fs::TempFile::create(target + "-%%%%%%.tmp");
  if (!temp) {
    error = "cannot write '" + std::string(target) +
            "': " + llvm::toString(temp.takeError());
    return failure();
  }
  {
    llvm::raw_fd_ostream os(temp->FD, /*shouldClose=*/false);
    char header[kParamsHeaderBytes] = {};
    std::memcpy(header, kParamsMagic, sizeof(kParamsMagic));
    llvm::support::endian::write64le(header + 8, uint64_t(layout.size));
    llvm::support::endian::write64le(header + 16, layout.hash);
    os.write(header, sizeof(header));
    int64_t at = kParamsHeaderBytes;
    for (const Layout::Entry &entry : layout.entries) {
      writeZeros(os, entry.offset - at);
      writeEntry(os, entry);
      at = entry.offset + entry.size;
    }
    os.flush();
    if (os.has_error()) {
      error = "cannot write '" + std::string(target) +
              "': " + os.error().message();
      os.clear_error();
      llvm::consumeError(temp->discard());
      return failure();
    }
  }
  if (llvm::Error e = temp->keep(target)) {
    error = "cannot write '" + std::string(target) +
            "': " + llvm::toString(std::move(e));
    return failure();
  }
  if (releaseWeights)
    releaseWrittenBlobs(module, dict.getAs<ArrayAttr>("entries"));
  module->removeAttr(kParametersAttr);
  path = std::string(target);
  return success();
}
