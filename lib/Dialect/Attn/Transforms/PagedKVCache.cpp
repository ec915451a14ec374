//===- PagedKVCache.cpp - page pools and a block table for decode caches --===//
//
// attn-paged-kv-cache: an inference server keeps the KV caches of all
// sequences in one pool of fixed-size pages and gives each sequence a row
// of page numbers (vLLM's block table), so memory follows the sequences'
// real lengths rather than B * Smax. The pass turns the contiguous caches of
// every fused decode step, which are arguments of the step function, into
// such pools and adds the block table, shared by all layers, as the last
// argument of the function. Semantics: attn.decode's `block_table`
// (docs/AttnDialect.md).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNPAGEDKVCACHE
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The entry-block argument `v` is, if any.
BlockArgument argumentOf(func::FuncOp func, Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  return arg && arg.getOwner() == &func.getBody().front() ? arg
                                                          : BlockArgument();
}

bool onlyReturned(Value result) {
  return llvm::all_of(result.getUsers(), [](Operation *user) {
    return isa<func::ReturnOp>(user);
  });
}

struct AttnPagedKVCachePass
    : attn::impl::AttnPagedKVCacheBase<AttnPagedKVCachePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (pageSize <= 0) {
      module.emitError() << "--paged-kv-cache: the page size must be "
                            "positive, got "
                         << pageSize;
      return signalPassFailure();
    }
    SmallVector<DecodeOp> layers;
    module.walk([&](DecodeOp op) { layers.push_back(op); });
    if (layers.empty()) {
      module.emitError() << "--paged-kv-cache: the model has no fused decode "
                            "step (an attn.decode; compile a decode-step "
                            "model with --max-seq)";
      return signalPassFailure();
    }
    // One block table serves every layer: they must share the function,
    // the batch and the capacity.
    auto func = layers.front()->getParentOfType<func::FuncOp>();
    int64_t batch = layers.front().getQueryType().getDimSize(0);
    int64_t smax = layers.front().getKeyCacheType().getDimSize(2);
    for (DecodeOp op : layers)
      if (failed(check(op, func, batch, smax)))
        return signalPassFailure();

    int64_t maxPages = llvm::divideCeil(smax, pageSize);
    int64_t pages = numPages > 0 ? int64_t(numPages) : batch * maxPages;
    MLIRContext *ctx = &getContext();
    auto tableType =
        RankedTensorType::get({batch, maxPages}, IntegerType::get(ctx, 32));
    unsigned tableArg = func.getNumArguments();
    // The name is what the runtime and the signature call it; the role tells
    // a decoding loop to allocate the pool and fill the table.
    auto name = StringAttr::get(ctx, "block_table");
    if (failed(func.insertArgument(
            tableArg, tableType,
            DictionaryAttr::get(
                ctx, {NamedAttribute(StringAttr::get(ctx, "attn.name"), name),
                      NamedAttribute(StringAttr::get(ctx, "attn.role"),
                                     name)}),
            func.getLoc())))
      return signalPassFailure();
    Value table = func.getArgument(tableArg);

    for (DecodeOp op : layers) {
      BlockArgument keyArg = argumentOf(func, op.getKeyCache());
      BlockArgument valueArg = argumentOf(func, op.getValueCache());
      auto poolType = [&](Value v) {
        auto type = cast<RankedTensorType>(v.getType());
        SmallVector<int64_t> shape(type.getShape());
        shape[0] = pages;
        shape[2] = pageSize;
        return type.clone(shape);
      };
      keyArg.setType(poolType(keyArg));
      valueArg.setType(poolType(valueArg));
      op.getResult(1).setType(keyArg.getType());
      op.getResult(2).setType(valueArg.getType());
      op.getBlockTableMutable().assign(table);
    }
    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    func.setType(FunctionType::get(ctx, func.getBody().getArgumentTypes(),
                                   ret.getOperandTypes()));
  }

  /// Whether `op`'s caches can become pools read through the shared table.
  LogicalResult check(DecodeOp op, func::FuncOp func, int64_t batch,
                      int64_t smax) {
    if (op.isPaged())
      return op.emitOpError() << "already has a 'block_table': "
                                 "--paged-kv-cache pages contiguous caches";
    if (op.isRing() || op.getMask())
      return op.emitOpError()
             << "has " << (op.isRing() ? "ring caches" : "a full 'mask'")
             << ": --paged-kv-cache cannot page its caches";
    if (!op.getPositions())
      return op.emitOpError()
             << "takes one position for the batch: a paged decode needs a "
                "position per row (compile with --per-row-positions)";
    Type element = op.getKeyCacheType().getElementType();
    if (element.getIntOrFloatBitWidth() == 8)
      return op.emitOpError() << "has 8-bit caches (" << element
                              << "): paged caches must be float "
                                 "(drop --kv-cache-type=int8|fp8)";
    if (op->getParentOfType<func::FuncOp>() != func)
      return op.emitOpError() << "is in another function than the first "
                                 "decode: --paged-kv-cache shares one block "
                                 "table among the layers of one step function";
    if (!op.getKeyCacheType().hasStaticShape() ||
        !op.getValueCacheType().hasStaticShape() ||
        ShapedType::isDynamic(op.getQueryType().getDimSize(0)))
      return op.emitOpError() << "has a dynamic batch or cache shape: "
                                 "--paged-kv-cache needs them static";
    if (op.getQueryType().getDimSize(0) != batch ||
        op.getKeyCacheType().getDimSize(2) != smax)
      return op.emitOpError()
             << "has batch " << op.getQueryType().getDimSize(0)
             << " and cache capacity " << op.getKeyCacheType().getDimSize(2)
             << ", the first decode " << batch << " and " << smax
             << ": the layers share one block table";
    BlockArgument keyArg = argumentOf(func, op.getKeyCache());
    BlockArgument valueArg = argumentOf(func, op.getValueCache());
    std::optional<SymbolTable::UseRange> uses =
        SymbolTable::getSymbolUses(func, func->getParentOp());
    if (!isa<RankedTensorType>(op.getKeyCache().getType()) || !keyArg ||
        !valueArg || keyArg == valueArg || (uses && !uses->empty()) ||
        !keyArg.hasOneUse() || !valueArg.hasOneUse() ||
        !onlyReturned(op.getResult(1)) || !onlyReturned(op.getResult(2)))
      return op.emitOpError()
             << "caches are not arguments of an uncalled function used only "
                "by this op and returned only: --paged-kv-cache cannot turn "
                "them into page pools";
    return success();
  }
};

} // namespace
