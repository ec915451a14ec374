//===- ExportEntryPoint.cpp - the runtime's C entry point and signature ---===//
//
// Adds `attn_model_run(void **buffers)` and the text constant
// `attn_model_signature` to a bufferised module (docs/runtime-abi.md).
// Buffer i of `attn_model_run` is argument i of the exported function; an
// argument is an output when it carries `attn.output` or `bufferize.result`,
// or, when no argument carries either, when it is one of the trailing
// `attn.num_outputs` arguments; it is an inout buffer (updated in place)
// when it carries `attn.tied_result`.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/ExportEntryPoint/ExportEntryPoint.h"
#include "attn/Conversion/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/Format.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNEXPORTENTRYPOINT
#include "attn/Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

FailureOr<func::FuncOp> mlir::attn::findEntryFunction(ModuleOp module,
                                                      StringRef name) {
  if (!name.empty()) {
    auto func = module.lookupSymbol<func::FuncOp>(name);
    if (!func || func.isExternal())
      return module.emitError("no function @")
             << name << " with a body to export";
    return func;
  }
  SmallVector<func::FuncOp> candidates;
  for (auto func : module.getOps<func::FuncOp>())
    if (func.isPublic() && !func.isExternal() &&
        func.getSymName() != kRunFunctionName)
      candidates.push_back(func);
  if (candidates.size() == 1)
    return candidates.front();
  if (candidates.empty())
    return module.emitError("no public function to export");
  InFlightDiagnostic diag =
      module.emitError("several public functions could be exported (");
  llvm::interleaveComma(candidates, diag, [&](func::FuncOp f) {
    diag << "@" << f.getSymName();
  });
  return diag << "); make the others private or choose one with "
                 "entry-function=NAME";
}

namespace {

/// How the model uses a buffer: the signature line's first word.
enum class BufferKind { Input, Output, Inout };

StringRef kindName(BufferKind kind) {
  switch (kind) {
  case BufferKind::Input: return "input";
  case BufferKind::Output: return "output";
  case BufferKind::Inout: return "inout";
  }
  llvm_unreachable("unknown buffer kind");
}

/// One argument of the exported function as the signature lists it.
struct Buffer {
  BufferKind kind = BufferKind::Input;
  std::string name;
  StringRef dtype;
  MemRefType type;
  /// What a decoding loop uses it for (attn.role), or "".
  std::string role;
};

/// The signature's name for an element type, or "" if it has none.
StringRef dtypeName(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  if (type.isF64())
    return "f64";
  // An fp8 E4M3 KV cache is passed as its bytes.
  if (isa<Float8E4M3FNType>(type))
    return "u8";
  if (auto intType = dyn_cast<IntegerType>(type)) {
    unsigned width = intType.getWidth();
    if (width == 1)
      return "bool";
    if (intType.isUnsigned())
      return width == 8 ? "u8" : "";
    switch (width) {
    case 8: return "i8";
    case 16: return "i16";
    case 32: return "i32";
    case 64: return "i64";
    }
  }
  return "";
}

/// Names are written with whitespace, '%' and non-printable bytes as %XX so
/// that a line splits on spaces.
std::string escapeName(StringRef name) {
  std::string out;
  llvm::raw_string_ostream os(out);
  for (unsigned char c : name) {
    if (c <= ' ' || c >= 0x7f || c == '%')
      os << '%' << llvm::format_hex_no_prefix(c, 2, /*Upper=*/true);
    else
      os << c;
  }
  return out;
}

std::string signatureText(ArrayRef<Buffer> buffers, StringRef device) {
  std::string text;
  llvm::raw_string_ostream os(text);
  // Version 2 added inout lines; a model without them stays loadable by a
  // runtime that reads version 1 only.
  bool hasInouts = llvm::any_of(
      buffers, [](const Buffer &b) { return b.kind == BufferKind::Inout; });
  os << "attn-model " << (hasInouts ? 2 : 1) << "\ndevice " << device << "\n";
  for (const Buffer &b : buffers) {
    os << kindName(b.kind) << ' ' << escapeName(b.name) << ' '
       << b.dtype << ' ' << b.type.getRank();
    for (int64_t size : b.type.getShape())
      os << ' ' << size;
    os << '\n';
  }
  // Additions that a runtime which does not know them skips.
  for (const Buffer &b : buffers)
    if (!b.role.empty())
      os << "role " << escapeName(b.role) << ' ' << escapeName(b.name) << '\n';
  return text;
}

/// The kind of every argument (see the file comment); fails when nothing
/// says which arguments are outputs.
FailureOr<SmallVector<BufferKind>> findKinds(func::FuncOp func) {
  unsigned numArgs = func.getNumArguments();
  SmallVector<BufferKind> kinds(numArgs, BufferKind::Input);
  bool anyMarked = false;
  unsigned numInouts = 0;
  for (unsigned i = 0; i < numArgs; ++i) {
    bool output = func.getArgAttr(i, kOutputAttr) ||
                  func.getArgAttr(i, kBufferizeResultAttr);
    bool inout = bool(func.getArgAttr(i, kTiedResultAttr));
    if (output && inout)
      return func.emitError("argument #")
             << i << " is marked both as an output and as tied to a result";
    if (output)
      kinds[i] = BufferKind::Output;
    if (inout) {
      kinds[i] = BufferKind::Inout;
      ++numInouts;
    }
    anyMarked |= output;
  }
  if (anyMarked)
    return kinds;
  auto numOutputs = func->getAttrOfType<IntegerAttr>(kNumOutputsAttr);
  if (!numOutputs)
    return func.emitError("cannot tell which arguments of @")
           << func.getSymName() << " are outputs: mark them with '"
           << kOutputAttr << "' or '" << kBufferizeResultAttr
           << "', or give the function '" << kNumOutputsAttr << "'";
  int64_t n = numOutputs.getInt();
  if (n < 0 || n > int64_t(numArgs - numInouts))
    return func.emitError("'")
           << kNumOutputsAttr << "' is " << n << " but @" << func.getSymName()
           << " has " << numArgs - numInouts << " arguments besides inouts";
  for (unsigned i = numArgs - unsigned(n); i < numArgs; ++i) {
    if (kinds[i] == BufferKind::Inout)
      return func.emitError("argument #")
             << i << " is tied to a result but is among the trailing '"
             << kNumOutputsAttr << "' outputs";
    kinds[i] = BufferKind::Output;
  }
  return kinds;
}

FailureOr<SmallVector<Buffer>> describeArguments(func::FuncOp func) {
  if (func.getNumResults() != 0)
    return func.emitError("@")
           << func.getSymName()
           << " still returns values; results must be out-parameters (run "
              "buffer-results-to-out-params first)";
  FailureOr<SmallVector<BufferKind>> kinds = findKinds(func);
  if (failed(kinds))
    return failure();

  SmallVector<Buffer> buffers;
  llvm::StringSet<> names;
  unsigned counts[3] = {0, 0, 0};
  for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
    Buffer b;
    b.kind = (*kinds)[i];
    unsigned &count = counts[static_cast<int>(b.kind)];
    if (auto name = func.getArgAttrOfType<StringAttr>(i, kNameAttr))
      b.name = name.str();
    else
      b.name = (kindName(b.kind) + "_" + std::to_string(count)).str();
    ++count;
    if (auto role = func.getArgAttrOfType<StringAttr>(i, kRoleAttr))
      b.role = role.str();

    auto describe = [&]() {
      return func.emitError("argument #")
             << i << " ('" << b.name << "' : " << arg.getType() << ") ";
    };
    b.type = dyn_cast<MemRefType>(arg.getType());
    if (!b.type)
      return describe() << "is not a memref; export a bufferised function";
    if (!b.type.hasStaticShape())
      return describe() << "has a dynamic shape; bind every size first "
                           "(attn-compile --dim NAME=SIZE)";
    if (!b.type.getLayout().isIdentity())
      return describe() << "has a non-identity layout; only dense row-major "
                           "buffers can be passed in";
    if (b.type.getMemorySpace())
      return describe() << "is not in the default memory space";
    b.dtype = dtypeName(b.type.getElementType());
    if (b.dtype.empty())
      return describe() << "has an unsupported element type (supported: f32, "
                           "f16, bf16, f64, i64, i32, i16, i8, ui8, i1)";
    if (b.name.empty())
      return describe() << "has an empty name";
    if (!names.insert(b.name).second)
      return describe() << "has the same name as an earlier argument";
    buffers.push_back(std::move(b));
  }
  return buffers;
}

/// Builds `func.func @attn_model_run(%buffers: !llvm.ptr)` calling `func`
/// with one memref descriptor per buffer.
void buildRunFunction(OpBuilder &b, func::FuncOp func,
                      ArrayRef<Buffer> buffers) {
  MLIRContext *ctx = b.getContext();
  Location loc = func.getLoc();
  auto ptrType = LLVM::LLVMPointerType::get(ctx);
  auto i64Type = b.getI64Type();
  auto run = func::FuncOp::create(b, loc, kRunFunctionName,
                                  b.getFunctionType({ptrType}, {}));
  Block *entry = run.addEntryBlock();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(entry);
  Value base = entry->getArgument(0);

  llvm::SmallDenseMap<int64_t, Value> constants;
  auto constant = [&](int64_t v) -> Value {
    Value &c = constants[v];
    if (!c)
      c = LLVM::ConstantOp::create(b, loc, i64Type, b.getI64IntegerAttr(v));
    return c;
  };
  Value zero = constant(0);
  SmallVector<Value> operands;
  for (auto [i, buffer] : llvm::enumerate(buffers)) {
    Value slot = LLVM::GEPOp::create(b, loc, ptrType, ptrType, base,
                                     ArrayRef<LLVM::GEPArg>{int32_t(i)});
    Value data = LLVM::LoadOp::create(b, loc, ptrType, slot);

    // The descriptor that the LLVM type converter makes for a memref:
    // (allocated, aligned, offset, sizes[rank], strides[rank]).
    int64_t rank = buffer.type.getRank();
    SmallVector<Type> fields = {ptrType, ptrType, i64Type};
    if (rank > 0) {
      auto arrayType = LLVM::LLVMArrayType::get(i64Type, rank);
      fields.append({arrayType, arrayType});
    }
    auto descType = LLVM::LLVMStructType::getLiteral(ctx, fields);
    Value desc = LLVM::PoisonOp::create(b, loc, descType);
    desc = LLVM::InsertValueOp::create(b, loc, desc, data, ArrayRef<int64_t>{0});
    desc = LLVM::InsertValueOp::create(b, loc, desc, data, ArrayRef<int64_t>{1});
    desc = LLVM::InsertValueOp::create(b, loc, desc, zero, ArrayRef<int64_t>{2});
    int64_t stride = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
      int64_t size = buffer.type.getDimSize(d);
      desc = LLVM::InsertValueOp::create(b, loc, desc, constant(size),
                                         ArrayRef<int64_t>{3, d});
      desc = LLVM::InsertValueOp::create(b, loc, desc, constant(stride),
                                         ArrayRef<int64_t>{4, d});
      stride *= size;
    }
    operands.push_back(UnrealizedConversionCastOp::create(b, loc, buffer.type,
                                                          desc)
                           .getResult(0));
  }
  func::CallOp::create(b, loc, func, operands);
  func::ReturnOp::create(b, loc);
}

struct AttnExportEntryPointPass
    : attn::impl::AttnExportEntryPointBase<AttnExportEntryPointPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (StringRef symbol : {StringRef(kRunFunctionName),
                             StringRef(kSignatureName)}) {
      if (Operation *existing = module.lookupSymbol(symbol)) {
        existing->emitError("the module already defines @")
            << symbol << "; was attn-export-entry-point run twice?";
        return signalPassFailure();
      }
    }
    if (device != "cpu" && device != "cuda") {
      module.emitError("attn-export-entry-point: device must be cpu or cuda, "
                       "got '")
          << device << "'";
      return signalPassFailure();
    }
    FailureOr<func::FuncOp> func = findEntryFunction(module, entryFunction);
    if (failed(func))
      return signalPassFailure();
    FailureOr<SmallVector<Buffer>> buffers = describeArguments(*func);
    if (failed(buffers))
      return signalPassFailure();

    OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
    buildRunFunction(b, *func, *buffers);

    std::string text = signatureText(*buffers, device);
    text.push_back('\0');
    auto arrayType = LLVM::LLVMArrayType::get(b.getI8Type(), text.size());
    LLVM::GlobalOp::create(b, func->getLoc(), arrayType, /*isConstant=*/true,
                           LLVM::Linkage::External, kSignatureName,
                           b.getStringAttr(text));
  }
};

} // namespace
