//===- GatherNDOp.cpp - ONNX GatherND -------------------------------------===//
//
// torch.export writes advanced indexing as GatherND: transformers builds the
// padding part of its attention mask as attention_mask[batch_idx, kv_idx].
//
//===----------------------------------------------------------------------===//

#include "ImportContext.h"
#include "LinalgBuilders.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::attn::onnx_import;

namespace {

/// out[i..., j...] = data[i[:b]..., indices[i..., 0..k-1]..., j...] where b
/// is batch_dims, k the last size of `indices`, i the indices' leading
/// positions and j the data dims after b + k.
LogicalResult importGatherND(NodeContext &ctx) {
  if (failed(ctx.checkArity(2, 2)))
    return failure();
  const ImportedValue *data = ctx.input(0), *indices = ctx.input(1);
  if (indices->dtype != DType::I64)
    return ctx.emitError() << "needs int64 indices, not "
                           << dtypeName(indices->dtype);
  int64_t r = data->rank(), q = indices->rank();
  int64_t b = ctx.attrInt("batch_dims", 0);
  if (q < 1 || r < 1)
    return ctx.emitError() << "needs data and indices of rank >= 1, got "
                           << r << " and " << q;
  int64_t k = indices->shape[q - 1];
  if (b < 0 || b >= std::min(q, r))
    return ctx.emitError() << "batch_dims " << b
                           << " must be below the ranks of data (" << r
                           << ") and indices (" << q << ")";
  if (k < 1 || b + k > r)
    return ctx.emitError() << "indices address " << k << " dims after "
                           << b << " batch dims of a rank-" << r
                           << " tensor";
  for (int64_t d = 0; d < b; ++d)
    if (data->shape[d] != indices->shape[d])
      return ctx.emitError() << "batch dim " << d << " of data ("
                             << data->shape[d] << ") and indices ("
                             << indices->shape[d] << ") differ";
  SmallVector<int64_t> outShape(indices->shape.begin(),
                                indices->shape.end() - 1);
  outShape.append(data->shape.begin() + b + k, data->shape.end());
  int64_t lead = q - 1, outRank = outShape.size();

  OpBuilder &builder = ctx.builder();
  Value source = ctx.value(0), idx = ctx.value(1);
  Value init = emptyTensor(builder, ctx.loc, outShape, elementTypeOf(source));
  SmallVector<AffineMap> maps = {
      AffineMap::getMultiDimIdentityMap(outRank, ctx.getContext())};
  SmallVector<utils::IteratorType> iterators(outRank,
                                             utils::IteratorType::parallel);
  auto op = linalg::GenericOp::create(
      builder, ctx.loc, TypeRange{init.getType()}, ValueRange{},
      ValueRange{init}, maps, iterators,
      [&](OpBuilder &nb, Location loc, ValueRange) {
        SmallVector<Value> leadIdx, at;
        for (int64_t d = 0; d < lead; ++d)
          leadIdx.push_back(linalg::IndexOp::create(nb, loc, d));
        for (int64_t d = 0; d < b; ++d)
          at.push_back(leadIdx[d]);
        for (int64_t t = 0; t < k; ++t) {
          SmallVector<Value> pos = leadIdx;
          pos.push_back(arith::ConstantIndexOp::create(nb, loc, t));
          Value i = gatherIndex(nb, loc,
                                tensor::ExtractOp::create(nb, loc, idx, pos),
                                data->shape[b + t]);
          at.push_back(i);
        }
        for (int64_t d = b + k; d < r; ++d)
          at.push_back(linalg::IndexOp::create(nb, loc, lead + d - b - k));
        linalg::YieldOp::create(nb, loc,
                                tensor::ExtractOp::create(nb, loc, source, at)
                                    .getResult());
      });
  ctx.setOutput(0, op.getResult(0), data->dtype);
  return success();
}

} // namespace

void mlir::attn::onnx_import::registerGatherNDOp(OpRegistry &r) {
  r.add("", "GatherND", importGatherND);
}
