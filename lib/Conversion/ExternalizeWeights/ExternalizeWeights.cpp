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

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/xxhash.h"

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

/// `attn-model N` -> `attn-model 3`, plus the params line.
FailureOr<std::string> amendSignature(StringRef text, StringRef file,
                                      int64_t size, uint64_t hash) {
  text = text.rtrim('\0');
  auto [header, rest] = text.split('\n');
  if (!header.starts_with("attn-model "))
    return failure();
  std::string out = "attn-model 3\n" + rest.str();
  if (!out.empty() && out.back() != '\n')
    out += '\n';
  out += "params " + file.str() + " " + std::to_string(size) + " " +
         std::to_string(hash) + "\n";
  out.push_back('\0');
  return out;
}

struct AttnExternalizeWeightsPass
    : attn::impl::AttnExternalizeWeightsBase<AttnExternalizeWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (module->hasAttr(kParametersAttr) ||
        module.lookupSymbol(kBindParamsName)) {
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
    // The runtime reads the name as one space-separated field and opens it
    // in the library's directory.
    StringRef name = paramsFile;
    if (name.empty() || name == "." || name == ".." || name.contains('/') ||
        llvm::any_of(name, [](char c) { return c <= ' ' || c >= 0x7f; })) {
      module.emitError("attn-externalize-weights needs params-file=NAME (a "
                       "file name without spaces or '/') to move ")
          << params.size() << " constants out of the module";
      return signalPassFailure();
    }

    int64_t end = kParamsHeaderBytes;
    for (Parameter &p : params) {
      uint64_t align = std::max<uint64_t>(
          kParamsAlignment, p.global.getAlignment().value_or(1));
      p.offset = int64_t(llvm::alignTo(uint64_t(end), align));
      end = p.offset + p.size;
    }
    uint64_t hash = hashParameters(params, end);

    MLIRContext *ctx = module.getContext();
    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    Location loc = module.getLoc();
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    auto base = LLVM::GlobalOp::create(
        b, loc, ptrType, /*isConstant=*/false, LLVM::Linkage::Internal,
        kParamsBaseName, Attribute(), /*alignment=*/8);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&base.getInitializerRegion().emplaceBlock());
      LLVM::ReturnOp::create(b, loc,
                             LLVM::ZeroOp::create(b, loc, ptrType).getResult());
    }
    buildBindFunction(b, loc, base);

    SmallVector<Attribute> entries;
    for (Parameter &p : params) {
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
      entries.push_back(b.getDictionaryAttr(
          {b.getNamedAttr("name", p.global.getSymNameAttr()),
           b.getNamedAttr("offset", b.getI64IntegerAttr(p.offset)),
           b.getNamedAttr("value", p.value)}));
      p.global.erase();
    }
    module->setAttr(kParametersAttr,
                    b.getDictionaryAttr(
                        {b.getNamedAttr("file", b.getStringAttr(paramsFile)),
                         b.getNamedAttr("size", b.getI64IntegerAttr(end)),
                         b.getNamedAttr("hash",
                                        b.getI64IntegerAttr(int64_t(hash))),
                         b.getNamedAttr("entries", b.getArrayAttr(entries))}));

    // The runtime must know to map the file: without the signature there is
    // no loadable library, and nothing to amend.
    if (auto signature = module.lookupSymbol<LLVM::GlobalOp>(kSignatureName)) {
      auto text = dyn_cast_or_null<StringAttr>(signature.getValueOrNull());
      FailureOr<std::string> amended = failure();
      if (text)
        amended = amendSignature(text.getValue(), paramsFile, end, hash);
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
};

} // namespace
