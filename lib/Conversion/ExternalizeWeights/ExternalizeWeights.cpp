//===- ExternalizeWeights.cpp - large constants into a parameter file -----===//
//
// Rewrites the LLVM-dialect module so that large constant globals are read
// from a file that the runtime maps at load time instead of from the
// library's .rodata: the library stays small and its code stays within
// ELF's 2 GiB relocation range whatever the size of the weights.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/ExternalizeWeights/ExternalizeWeights.h"
#include "attn/Conversion/ExportEntryPoint/ExportEntryPoint.h"
#include "attn/Conversion/Passes.h"
#include "attn/Support/ConstantBytes.h"
#include "attn/Support/ExternalFingerprint.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/xxhash.h"

#include <cstring>
#include <filesystem>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNEXTERNALIZEWEIGHTS
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Largest alignment a global may ask for: the file is mapped at a page
/// boundary, so offsets aligned to it keep any smaller alignment.
constexpr uint64_t kMaxAlignment = 4096;

struct Parameter {
  LLVM::GlobalOp global;
  ElementsAttr value;
  ConstantBytes bytes;
  int64_t size = 0;
  int64_t offset = 0;
  /// Index into the external files, or -1 for the parameter file.
  int file = -1;
};

/// An external data file that some parameters are read from.
struct ExternalFile {
  std::string path;     ///< absolute, as the importer recorded it
  std::string recorded; ///< as the signature names it
  std::unique_ptr<llvm::MemoryBuffer> data;
  uint64_t fingerprint = 0;
};

/// Number of scalars in an LLVM global of nested arrays of `element`, or -1
/// when the type is something else (its layout might not be the attribute's).
int64_t scalarCount(Type type, Type element) {
  int64_t count = 1;
  while (auto array = dyn_cast<LLVM::LLVMArrayType>(type)) {
    count *= array.getNumElements();
    type = array.getElementType();
  }
  return type == element ? count : -1;
}

/// The global as a parameter, if it is a large enough constant whose value
/// is laid out as its LLVM type, and every use is an addressof in a function.
std::optional<Parameter> asParameter(LLVM::GlobalOp global,
                                     ArrayRef<Operation *> users,
                                     int64_t minBytes) {
  if (!global.getConstant() || global.getInitializerBlock())
    return std::nullopt;
  auto value = dyn_cast_or_null<ElementsAttr>(global.getValueOrNull());
  if (!value)
    return std::nullopt;
  std::optional<ConstantBytes> bytes = getConstantBytes(value);
  if (!bytes)
    return std::nullopt;
  int64_t size = bytes->numBytes(value.getNumElements());
  if (size < minBytes || size == 0 ||
      scalarCount(global.getGlobalType(), value.getElementType()) !=
          value.getNumElements() ||
      global.getAlignment().value_or(1) > kMaxAlignment)
    return std::nullopt;
  for (Operation *user : users)
    if (!isa<LLVM::AddressOfOp>(user) ||
        !user->getParentOfType<LLVM::LLVMFuncOp>())
      return std::nullopt;
  return Parameter{global, value, *bytes, size, 0};
}

/// xxh3 of the layout and every entry's contents: a stamp that tells one
/// compile's parameter file from another's (the runtime compares it with the
/// header, it never hashes the data).
uint64_t hashParameters(ArrayRef<Parameter> params, int64_t fileSize) {
  SmallVector<uint64_t> words{uint64_t(fileSize)};
  for (const Parameter &p : params) {
    auto data = ArrayRef<uint8_t>(
        reinterpret_cast<const uint8_t *>(p.bytes.data.data()),
        p.bytes.data.size());
    words.append({uint64_t(p.offset), uint64_t(p.size),
                  uint64_t(p.bytes.splat), llvm::xxh3_64bits(data)});
  }
  return llvm::xxh3_64bits(ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(words.data()),
      words.size() * sizeof(uint64_t)));
}

/// `attn-model N` -> `attn-model VERSION`, plus `lines`.
FailureOr<std::string> amendSignature(StringRef text, int version,
                                      StringRef lines) {
  text = text.rtrim('\0');
  auto [header, rest] = text.split('\n');
  if (!header.starts_with("attn-model "))
    return failure();
  std::string out = "attn-model " + std::to_string(version) + "\n" + rest.str();
  if (!out.empty() && out.back() != '\n')
    out += '\n';
  out += lines.str();
  out.push_back('\0');
  return out;
}

/// `path` as the signature records it: relative to `libraryDir` (so that a
/// model directory can move as a whole), or as is when there is no
/// directory or no relative path (another file system root).
std::string recordedPath(StringRef path, StringRef libraryDir) {
  if (libraryDir.empty())
    return path.str();
  SmallString<256> dir(libraryDir);
  if (llvm::sys::fs::make_absolute(dir))
    return path.str();
  llvm::sys::path::remove_dots(dir, /*remove_dot_dot=*/true);
  std::filesystem::path relative =
      std::filesystem::path(path.str()).lexically_relative(dir.str().str());
  return relative.empty() ? path.str() : relative.generic_string();
}

struct AttnExternalizeWeightsPass
    : attn::impl::AttnExternalizeWeightsBase<AttnExternalizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    // Read here, and dropped: nothing after this pass needs it.
    auto ranges = module->getAttrOfType<DictionaryAttr>(kExternalDataAttr);
    module->removeAttr(kExternalDataAttr);
    if (module->hasAttr(kParametersAttr) ||
        module.lookupSymbol(kBindParamsName) ||
        module.lookupSymbol(kBindParamFilesName)) {
      module.emitError("the module already has parameters; was "
                       "attn-externalize-weights run twice?");
      return signalPassFailure();
    }
    // One walk finds every use (a walk per global would be quadratic).
    llvm::DenseMap<StringAttr, SmallVector<Operation *>> usersOf;
    if (std::optional<SymbolTable::UseRange> uses =
            SymbolTable::getSymbolUses(&module.getBodyRegion()))
      for (const SymbolTable::SymbolUse &use : *uses)
        usersOf[use.getSymbolRef().getRootReference()].push_back(
            use.getUser());
    else
      return; // unknown ops may hold uses: leave everything in place
    SmallVector<Parameter> params;
    for (auto global : module.getOps<LLVM::GlobalOp>())
      if (std::optional<Parameter> p = asParameter(
              global, usersOf.lookup(global.getSymNameAttr()), minBytes))
        params.push_back(*p);
    if (params.empty())
      return;

    SmallVector<ExternalFile> files;
    if (externalData && ranges)
      for (Parameter &p : params)
        if (failed(placeExternally(p, ranges, files)))
          return signalPassFailure();
    bool anyOwn = llvm::any_of(params, [](const Parameter &p) {
      return p.file < 0;
    });

    // The runtime reads the name as one space-separated field and opens it
    // in the library's directory.
    StringRef name = paramsFile;
    if (anyOwn &&
        (name.empty() || name == "." || name == ".." || name.contains('/') ||
         llvm::any_of(name, [](char c) { return c <= ' ' || c >= 0x7f; }))) {
      module.emitError("attn-externalize-weights needs params-file=NAME (a "
                       "file name without spaces or '/') to move ")
          << params.size() << " constants out of the module";
      return signalPassFailure();
    }

    int64_t end = kParamsHeaderBytes;
    SmallVector<Parameter *> own;
    for (Parameter &p : params) {
      if (p.file >= 0)
        continue;
      uint64_t align = std::max<uint64_t>(
          kParamsAlignment, p.global.getAlignment().value_or(1));
      p.offset = int64_t(llvm::alignTo(uint64_t(end), align));
      end = p.offset + p.size;
      own.push_back(&p);
    }
    SmallVector<Parameter> ownParams;
    for (Parameter *p : own)
      ownParams.push_back(*p);
    uint64_t hash = hashParameters(ownParams, end);

    MLIRContext *ctx = module.getContext();
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = module.getLoc();
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    // One base per file, in the order of the signature's params lines (the
    // parameter file first), which is the order of the bind function's
    // array.
    SmallVector<LLVM::GlobalOp> bases;
    auto makeBase = [&](StringRef symbol) {
      auto base = LLVM::GlobalOp::create(
          b, loc, ptrType, /*isConstant=*/false, LLVM::Linkage::Internal,
          symbol, Attribute(), /*alignment=*/8);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&base.getInitializerRegion().emplaceBlock());
      LLVM::ReturnOp::create(b, loc,
                             LLVM::ZeroOp::create(b, loc, ptrType).getResult());
      bases.push_back(base);
    };
    if (anyOwn)
      makeBase(kParamsBaseName);
    for (size_t i = 0; i < files.size(); ++i)
      makeBase((kParamsBaseName + "_ext" + Twine(i)).str());
    int firstExternal = anyOwn ? 1 : 0;
    if (files.empty())
      buildBindFunction(b, loc, bases.front());
    else
      buildBindFilesFunction(b, loc, bases);

    SmallVector<Attribute> entries;
    for (Parameter &p : params) {
      LLVM::GlobalOp base = bases[p.file < 0 ? 0 : firstExternal + p.file];
      for (Operation *op : usersOf[p.global.getSymNameAttr()]) {
        auto user = cast<LLVM::AddressOfOp>(op);
        b.setInsertionPoint(user);
        Location at = user.getLoc();
        Value slot = LLVM::AddressOfOp::create(b, at, base);
        Value pointer = LLVM::LoadOp::create(b, at, ptrType, slot,
                                             /*alignment=*/8);
        Value offset = LLVM::ConstantOp::create(b, at, b.getI64Type(),
                                                b.getI64IntegerAttr(p.offset));
        Value address = LLVM::GEPOp::create(
            b, at, ptrType, b.getI8Type(), pointer, ArrayRef<LLVM::GEPArg>{offset},
            LLVM::GEPNoWrapFlags::inbounds);
        user.replaceAllUsesWith(address);
        user.erase();
      }
      if (p.file < 0)
        entries.push_back(b.getDictionaryAttr(
            {b.getNamedAttr("name", p.global.getSymNameAttr()),
             b.getNamedAttr("offset", b.getI64IntegerAttr(p.offset)),
             b.getNamedAttr("value", p.value)}));
      p.global.erase();
    }
    std::string lines;
    if (anyOwn) {
      module->setAttr(
          kParametersAttr,
          b.getDictionaryAttr(
              {b.getNamedAttr("file", b.getStringAttr(paramsFile)),
               b.getNamedAttr("size", b.getI64IntegerAttr(end)),
               b.getNamedAttr("hash", b.getI64IntegerAttr(int64_t(hash))),
               b.getNamedAttr("entries", b.getArrayAttr(entries))}));
      lines += "params " + paramsFile + " " + std::to_string(end) + " " +
               std::to_string(hash) + "\n";
    }
    for (const ExternalFile &file : files)
      lines += "params-external " + file.recorded + " " +
               std::to_string(file.data->getBufferSize()) + " " +
               std::to_string(file.fingerprint) + "\n";

    // The runtime must know to map the files: without the signature there
    // is no loadable library, and nothing to amend.
    if (auto signature = module.lookupSymbol<LLVM::GlobalOp>(kSignatureName)) {
      auto text = dyn_cast_or_null<StringAttr>(signature.getValueOrNull());
      FailureOr<std::string> amended = failure();
      if (text)
        amended = amendSignature(text.getValue(), files.empty() ? 3 : 4, lines);
      if (failed(amended)) {
        signature.emitError("@") << kSignatureName
                                 << " is not a model signature text";
        return signalPassFailure();
      }
      signature.setGlobalType(
          LLVM::LLVMArrayType::get(b.getI8Type(), amended->size()));
      signature.setValueAttr(b.getStringAttr(*amended));
    }
  }

  /// Reads `p` from its external data file when `ranges` (the importer's
  /// record) names one for its blob, the offset keeps its alignment and the
  /// file holds its bytes there; otherwise leaves it for the parameter file.
  /// Fails only for a file that cannot be referenced at all.
  LogicalResult placeExternally(Parameter &p, DictionaryAttr ranges,
                                SmallVectorImpl<ExternalFile> &files) {
    auto blob = dyn_cast<DenseResourceElementsAttr>(p.value);
    if (!blob || p.bytes.splat)
      return success();
    auto range = ranges.getAs<DictionaryAttr>(blob.getRawHandle().getKey());
    auto path = range ? range.getAs<StringAttr>("file") : nullptr;
    auto offsetAttr = range ? range.getAs<IntegerAttr>("offset") : nullptr;
    if (!path || !offsetAttr || offsetAttr.getInt() < 0)
      return success();
    int64_t offset = offsetAttr.getInt();
    uint64_t align = std::max<uint64_t>(std::max<int64_t>(p.bytes.elementBytes, 1),
                                        p.global.getAlignment().value_or(1));
    if (uint64_t(offset) % align != 0)
      return success(); // unaligned for its type: copied instead
    auto *it = llvm::find_if(files, [&](const ExternalFile &f) {
      return f.path == path.getValue();
    });
    if (it == files.end()) {
      ExternalFile file;
      file.path = path.getValue().str();
      file.recorded = recordedPath(file.path, libraryDir);
      if (llvm::any_of(file.recorded,
                       [](char c) { return c <= ' ' || c >= 0x7f; }))
        return p.global.emitError("external data file '")
               << file.recorded
               << "' has a space or non-ASCII character in its path, which "
                  "a params-external line cannot record";
      auto buffer = llvm::MemoryBuffer::getFile(file.path, /*IsText=*/false,
                                                /*RequiresNullTerminator=*/false);
      if (std::error_code ec = buffer.getError())
        return p.global.emitError("external data file '")
               << file.path << "' cannot be read: " << ec.message();
      file.data = std::move(*buffer);
      file.fingerprint = attnExternalFingerprint(file.data->getBufferStart(),
                                             file.data->getBufferSize());
      files.push_back(std::move(file));
      it = std::prev(files.end());
    }
    // The record says where the bytes came from; only the bytes say they
    // are still there (the file may have changed since the import).
    StringRef contents = it->data->getBuffer();
    if (uint64_t(offset) > contents.size() ||
        uint64_t(p.size) > contents.size() - uint64_t(offset) ||
        std::memcmp(contents.data() + offset, p.bytes.data.data(),
                    size_t(p.size)) != 0)
      return p.global.emitError("external data file '")
             << it->path << "' no longer holds the bytes of '"
             << blob.getRawHandle().getKey() << "' at offset " << offset
             << " (changed since the import?)";
    p.file = int(it - files.begin());
    p.offset = offset;
    return success();
  }

  /// `void attn_model_bind_params(const void *base)`: stores `base`.
  void buildBindFunction(OpBuilder &b, Location loc, LLVM::GlobalOp base) {
    MLIRContext *ctx = b.getContext();
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    auto func = LLVM::LLVMFuncOp::create(
        b, loc, kBindParamsName,
        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptrType}));
    Block *body = func.addEntryBlock(b);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(body);
    Value slot = LLVM::AddressOfOp::create(b, loc, base);
    LLVM::StoreOp::create(b, loc, body->getArgument(0), slot, /*alignment=*/8);
    LLVM::ReturnOp::create(b, loc, ValueRange());
  }

  /// `void attn_model_bind_param_files(const void *const *bases)`: stores
  /// bases[i] into the i-th base global.
  void buildBindFilesFunction(OpBuilder &b, Location loc,
                              ArrayRef<LLVM::GlobalOp> bases) {
    MLIRContext *ctx = b.getContext();
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    auto func = LLVM::LLVMFuncOp::create(
        b, loc, kBindParamFilesName,
        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptrType}));
    Block *body = func.addEntryBlock(b);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(body);
    for (auto [i, base] : llvm::enumerate(bases)) {
      Value index = LLVM::ConstantOp::create(b, loc, b.getI64Type(),
                                             b.getI64IntegerAttr(int64_t(i)));
      Value element = LLVM::GEPOp::create(
          b, loc, ptrType, ptrType, body->getArgument(0),
          ArrayRef<LLVM::GEPArg>{index}, LLVM::GEPNoWrapFlags::inbounds);
      Value value = LLVM::LoadOp::create(b, loc, ptrType, element,
                                         /*alignment=*/8);
      Value slot = LLVM::AddressOfOp::create(b, loc, base);
      LLVM::StoreOp::create(b, loc, value, slot, /*alignment=*/8);
    }
    LLVM::ReturnOp::create(b, loc, ValueRange());
  }
};

} // namespace
