//===- MulAdd.cpp - multiply-accumulate linalg.generic builder ------------===//

#include "MulAdd.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace mlir::attn {

Value buildMulAdd(OpBuilder &b, Location loc, Value lhs, Value rhs,
                  Value init, ArrayRef<AffineMap> maps, unsigned reductions) {
  unsigned dims = maps.front().getNumDims();
  SmallVector<utils::IteratorType> iterators(dims - reductions,
                                             utils::IteratorType::parallel);
  iterators.append(reductions, utils::IteratorType::reduction);
  return linalg::GenericOp::create(
             b, loc, TypeRange{init.getType()}, ValueRange{lhs, rhs},
             ValueRange{init}, maps, iterators,
             [](OpBuilder &nb, Location l, ValueRange args) {
               Value m = arith::MulFOp::create(nb, l, args[0], args[1]);
               linalg::YieldOp::create(
                   nb, l, arith::AddFOp::create(nb, l, args[2], m).getResult());
             })
      .getResult(0);
}

} // namespace mlir::attn
