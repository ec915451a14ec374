//===- InitAttn.cpp - register the attn dialect, passes and pipelines -----===//

#include "attn/InitAttn.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "mlir/IR/DialectRegistry.h"

void mlir::attn::registerAllAttnDialects(DialectRegistry &registry) {
  registry.insert<AttnDialect>();
}

void mlir::attn::registerAllAttnPasses() {
  registerAttnConversionPasses();
  registerAttnPasses();
}
