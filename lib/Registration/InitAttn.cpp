//===- InitAttn.cpp - register the attn dialect, passes and pipelines -----===//

#include "attn/InitAttn.h"

#include "attn/Conversion/Passes.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/Transforms/BufferizableOpInterfaceImpl.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/CudaPipeline.h"
#include "attn/Pipelines/Pipelines.h"
#include "mlir/IR/DialectRegistry.h"

void mlir::attn::registerAllAttnDialects(DialectRegistry &registry) {
  registry.insert<AttnDialect>();
  registerBufferizableOpInterfaceExternalModels(registry);
}

void mlir::attn::registerAllAttnPasses() {
  registerAttnConversionPasses();
  registerAttnPasses();
  registerAttnPipelines();
  registerAttnCudaPipeline();
}
