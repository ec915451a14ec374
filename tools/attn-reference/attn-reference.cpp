//===- attn-reference.cpp - evaluate an attn function with the oracle -----===//
//
//   attn-reference MODEL.mlir --inputs IN.npz --outputs REF.npz
//
// Interprets the public function of MODEL.mlir with the scalar reference
// (double precision): its body may hold only attn.attention / attn.decode on
// function arguments, tensor.empty inits, and the tensor.extract +
// arith.index_cast chain that turns a tensor<i64> argument into a decode
// position. Inputs and outputs are named as attn-run names them (`attn.name`,
// else input_N / output_N); float outputs are written as f32.
//
//===----------------------------------------------------------------------===//

#include "TensorIO.h"

#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
namespace ref = ::attn::ref;
namespace rt = ::attn::rt;
namespace reftool = ::attn::reftool;
using ref::Tensor;

static llvm::cl::opt<std::string> modelPath(llvm::cl::Positional,
                                            llvm::cl::desc("<model.mlir>"),
                                            llvm::cl::Required);
static llvm::cl::opt<std::string>
    inputsPath("inputs", llvm::cl::desc("input .npz"), llvm::cl::Required);
static llvm::cl::opt<std::string>
    outputsPath("outputs", llvm::cl::desc("output .npz"), llvm::cl::Required);
static llvm::cl::opt<std::string>
    entryFunction("entry-function",
                  llvm::cl::desc("function to evaluate (default: the only "
                                 "public function with a body)"));

static LogicalResult fail(const llvm::Twine &message) {
  llvm::errs() << "attn-reference: error: " << message << "\n";
  return failure();
}

static std::string nameOf(DictionaryAttr attrs, const char *prefix,
                          unsigned index) {
  if (auto name = attrs ? attrs.getAs<StringAttr>("attn.name") : nullptr)
    return name.str();
  return prefix + std::to_string(index);
}

static std::string shapeString(ArrayRef<int64_t> shape) {
  std::string text = "[";
  for (auto [i, d] : llvm::enumerate(shape))
    text += (i ? "x" : "") + std::to_string(d);
  return text + "]";
}

/// The npz dtype that a function argument of element type `type` takes.
static std::optional<rt::DType> dtypeOf(Type type) {
  using rt::DType;
  if (type.isF32())
    return DType::F32;
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  if (type.isF64())
    return DType::F64;
  if (type.isInteger(1))
    return DType::Bool;
  if (type.isInteger(8))
    return DType::I8;
  // An fp8 E4M3 cache travels as its bytes (the runtime's u8).
  if (isa<Float8E4M3FNType>(type))
    return DType::U8;
  if (type.isInteger(16))
    return DType::I16;
  if (type.isInteger(32))
    return DType::I32;
  if (type.isInteger(64))
    return DType::I64;
  return std::nullopt;
}

namespace {
/// Evaluates a function body op by op; every SSA value is a Tensor.
class Evaluator {
public:
  void bindArgument(BlockArgument arg, Tensor tensor) {
    set(arg, std::move(tensor));
  }
  LogicalResult run(func::FuncOp func, std::vector<const Tensor *> &results);

private:
  LogicalResult evaluate(Operation *op);
  LogicalResult evaluate(mlir::attn::AttentionOp op);
  LogicalResult evaluate(mlir::attn::DecodeOp op);
  const Tensor *lookup(Operation *user, Value value);
  ref::AttentionParams paramsOf(Operation *op, Value mask, int64_t qHeads,
                                int64_t kvHeads, llvm::APFloat scale,
                                std::optional<llvm::APFloat> softcap);

  void set(Value value, Tensor tensor) {
    values[value] = std::make_unique<Tensor>(std::move(tensor));
  }

  /// Boxed, so that pointers from lookup() survive later insertions.
  llvm::DenseMap<Value, std::unique_ptr<Tensor>> values;
};
} // namespace

const Tensor *Evaluator::lookup(Operation *user, Value value) {
  auto it = values.find(value);
  if (it != values.end())
    return it->second.get();
  user->emitError("attn-reference: operand is not computed by a supported op");
  return nullptr;
}

ref::AttentionParams Evaluator::paramsOf(Operation *op, Value mask,
                                         int64_t qHeads, int64_t kvHeads,
                                         llvm::APFloat scale,
                                         std::optional<llvm::APFloat> softcap) {
  ref::AttentionParams params;
  params.qHeads = qHeads;
  params.kvHeads = kvHeads;
  params.scale = scale.convertToDouble();
  if (softcap)
    params.softcap = softcap->convertToDouble();
  if (mask)
    params.maskKind = getElementTypeOrSelf(mask.getType()).isInteger(1)
                          ? ref::MaskKind::Boolean
                          : ref::MaskKind::Additive;
  if (auto attention = dyn_cast<mlir::attn::AttentionOp>(op)) {
    params.windowLeft = attention.getWindowLeftBound();
    params.windowRight = attention.getWindowRightBound();
  } else if (auto decode = dyn_cast<mlir::attn::DecodeOp>(op)) {
    params.windowLeft = decode.getWindowLeftBound();
    params.windowRight = decode.getWindowRightBound();
  }
  return params;
}

LogicalResult Evaluator::evaluate(mlir::attn::AttentionOp op) {
  if (op.getNumResults() != 1)
    return op.emitError("attn-reference: only the tensor form is supported");
  ref::AttentionOperands operands;
  if (!(operands.query = lookup(op, op.getQuery())) ||
      !(operands.key = lookup(op, op.getKey())) ||
      !(operands.value = lookup(op, op.getValue())))
    return failure();
  if (Value mask = op.getMask())
    if (!(operands.mask = lookup(op, mask)))
      return failure();
  std::vector<int64_t> lens;
  if (Value lensValue = op.getKvSeqLens()) {
    const Tensor *t = lookup(op, lensValue);
    if (!t)
      return failure();
    lens.assign(t->data.begin(), t->data.end());
    operands.kvSeqLens = &lens;
  }
  if (auto offset = op.getCausalOffsetAttr())
    operands.causalOffset = offset.getInt();
  auto params = paramsOf(op, op.getMask(), op.getQHeads(), op.getKvHeads(),
                         op.getScale(), op.getSoftcap());
  std::string error;
  Tensor out;
  if (!ref::computeAttention(operands, params, out, error))
    return op.emitError("attn-reference: ") << error;
  set(op.getResult(0), std::move(out));
  return success();
}

LogicalResult Evaluator::evaluate(mlir::attn::DecodeOp op) {
  if (op.getNumResults() != 3)
    return op.emitError("attn-reference: only the tensor form is supported");
  ref::DecodeOperands operands;
  const Tensor *position;
  if (!(operands.query = lookup(op, op.getQuery())) ||
      !(operands.key = lookup(op, op.getKey())) ||
      !(operands.value = lookup(op, op.getValue())) ||
      !(operands.keyCache = lookup(op, op.getKeyCache())) ||
      !(operands.valueCache = lookup(op, op.getValueCache())) ||
      !(position = lookup(op, op.getPosition() ? Value(op.getPosition())
                                               : op.getPositions())))
    return failure();
  std::vector<int64_t> positions;
  if (op.getPositions()) {
    positions.assign(position->data.begin(), position->data.end());
    operands.positions = &positions;
  }
  if (Value mask = op.getMask())
    if (!(operands.mask = lookup(op, mask)))
      return failure();
  if (Value table = op.getBlockTable())
    if (!(operands.blockTable = lookup(op, table)))
      return failure();
  if (Value tree = op.getTreeMask())
    if (!(operands.treeMask = lookup(op, tree)))
      return failure();
  operands.ring = op.isRing();
  operands.latent = op.isLatent();
  if (!op.getPositions())
    operands.position = int64_t(position->data.at(0));
  operands.causal = op.getCausal();
  Type cacheElement = op.getKeyCacheType().getElementType();
  if (cacheElement.isInteger(8))
    operands.cacheKind = ref::CacheKind::Int8;
  else if (isa<Float8E4M3FNType>(cacheElement))
    operands.cacheKind = ref::CacheKind::Fp8E4M3;
  if (Value scale = op.getKeyScale())
    if (!(operands.keyScale = lookup(op, scale)) ||
        !(operands.valueScale = lookup(op, op.getValueScale())))
      return failure();
  auto params = paramsOf(op, op.getMask(), op.getQHeads(), op.getKvHeads(),
                         op.getScale(), op.getSoftcap());
  std::string error;
  ref::DecodeResults results;
  if (!ref::computeDecode(operands, params, results, error))
    return op.emitError("attn-reference: ") << error;
  set(op.getResult(0), std::move(results.out));
  set(op.getResult(1), std::move(results.keyCache));
  set(op.getResult(2), std::move(results.valueCache));
  return success();
}

LogicalResult Evaluator::evaluate(Operation *op) {
  if (auto attention = dyn_cast<mlir::attn::AttentionOp>(op))
    return evaluate(attention);
  if (auto decode = dyn_cast<mlir::attn::DecodeOp>(op))
    return evaluate(decode);
  // An init's contents are never read: attention overwrites all of it.
  if (auto empty = dyn_cast<tensor::EmptyOp>(op)) {
    if (!empty.getType().hasStaticShape())
      return op->emitError("attn-reference: tensor.empty must be static");
    set(empty, Tensor(std::vector<int64_t>(empty.getType().getShape())));
    return success();
  }
  // The decode position: a scalar read out of a 0-d tensor and cast.
  if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
    const Tensor *source = lookup(op, extract.getTensor());
    if (!source)
      return failure();
    if (!extract.getIndices().empty())
      return op->emitError("attn-reference: only 0-d tensor.extract is "
                           "supported");
    Tensor scalar{std::vector<int64_t>()};
    scalar.data[0] = source->data.at(0);
    set(extract, std::move(scalar));
    return success();
  }
  if (isa<arith::IndexCastOp, arith::IndexCastUIOp, arith::ExtSIOp,
          arith::ExtUIOp, arith::TruncIOp>(op)) {
    const Tensor *source = lookup(op, op->getOperand(0));
    if (!source)
      return failure();
    set(op->getResult(0), *source);
    return success();
  }
  if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
    Tensor scalar{std::vector<int64_t>()};
    if (auto intAttr = dyn_cast<IntegerAttr>(constant.getValue()))
      scalar.data[0] = double(intAttr.getInt());
    else if (auto floatAttr = dyn_cast<FloatAttr>(constant.getValue()))
      scalar.data[0] = floatAttr.getValueAsDouble();
    else
      return op->emitError("attn-reference: only scalar constants are "
                           "supported");
    set(constant, std::move(scalar));
    return success();
  }
  return op->emitError("attn-reference: unsupported op '")
         << op->getName() << "' (expected attn ops on function arguments)";
}

LogicalResult Evaluator::run(func::FuncOp func,
                             std::vector<const Tensor *> &results) {
  if (!func.getBody().hasOneBlock())
    return func.emitError("attn-reference: the function must have one block");
  for (Operation &op : func.getBody().front()) {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value operand : ret.getOperands()) {
        const Tensor *t = lookup(ret, operand);
        if (!t)
          return failure();
        results.push_back(t);
      }
      return success();
    }
    if (failed(evaluate(&op)))
      return failure();
  }
  return func.emitError("attn-reference: the function has no return");
}

static func::FuncOp findEntry(ModuleOp module) {
  func::FuncOp found;
  for (auto func : module.getOps<func::FuncOp>()) {
    if (func.isExternal())
      continue;
    if (!entryFunction.empty() ? func.getSymName() == entryFunction
                               : func.isPublic()) {
      if (found && entryFunction.empty()) {
        (void)fail("several public functions; pick one with --entry-function");
        return nullptr;
      }
      found = func;
    }
  }
  if (!found)
    (void)fail(entryFunction.empty()
                   ? "no public function with a body"
                   : "no function named '" + entryFunction + "'");
  return found;
}

/// Binds every argument of `func` to the input array of the same name.
static LogicalResult bindInputs(func::FuncOp func,
                                const std::vector<rt::Array> &arrays,
                                Evaluator &evaluator) {
  std::vector<bool> used(arrays.size());
  for (BlockArgument arg : func.getArguments()) {
    std::string name = nameOf(func.getArgAttrDict(arg.getArgNumber()), "input_",
                              arg.getArgNumber());
    auto type = dyn_cast<RankedTensorType>(arg.getType());
    auto dtype = type ? dtypeOf(type.getElementType()) : std::nullopt;
    if (!type || !type.hasStaticShape() || !dtype)
      return fail("input '" + name +
                  "' must be a static tensor of a "
                  "supported element type");
    auto it = llvm::find_if(arrays, [&](auto &a) { return a.name == name; });
    if (it == arrays.end())
      return fail("input '" + name + "' is missing from " + inputsPath);
    if (it->dtype != *dtype || ArrayRef<int64_t>(it->shape) != type.getShape())
      return fail("input '" + name + "' is " + rt::dtypeName(it->dtype) + " " +
                  shapeString(it->shape) + ", the function takes " +
                  rt::dtypeName(*dtype) + " " + shapeString(type.getShape()));
    used[it - arrays.begin()] = true;
    evaluator.bindArgument(arg, reftool::toTensor(*it));
  }
  for (size_t i = 0; i < arrays.size(); ++i)
    if (!used[i])
      return fail("'" + arrays[i].name + "' is not an input of the function");
  return success();
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::ParseCommandLineOptions(argc, argv,
                                    "evaluate an attn function with the "
                                    "reference implementation\n");
  DialectRegistry registry;
  registry.insert<func::FuncDialect, tensor::TensorDialect, arith::ArithDialect,
                  mlir::attn::AttnDialect>();
  MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(modelPath, sourceMgr, &context);
  if (!module)
    return failed(fail("cannot parse " + modelPath));
  func::FuncOp func = findEntry(*module);
  if (!func)
    return 1;

  std::vector<rt::Array> inputs;
  std::string error;
  if (!rt::readNpz(inputsPath, inputs, error))
    return failed(fail(error));
  Evaluator evaluator;
  std::vector<const Tensor *> results;
  if (failed(bindInputs(func, inputs, evaluator)) ||
      failed(evaluator.run(func, results)))
    return 1;

  std::vector<rt::Array> outputs;
  for (auto [index, tensor] : llvm::enumerate(results)) {
    Type element = getElementTypeOrSelf(func.getResultTypes()[index]);
    auto dtype = dtypeOf(element).value_or(rt::DType::F32);
    outputs.push_back(reftool::fromTensor(
        nameOf(func.getResultAttrDict(index), "output_", index), *tensor,
        dtype));
  }
  if (!rt::writeNpz(outputsPath, outputs, error))
    return failed(fail(error));
  return 0;
}
