//===- Passes.td - attn conversion passes ------------------*- tablegen -*-===//

#ifndef ATTN_CONVERSION_PASSES_TD
#define ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToLoops : Pass<"convert-attn-to-loops", "func::FuncOp"> {
  let summary = "Lower attn ops on memrefs to tiled online-softmax loops";
  let description = [{
    Rewrites `attn.attention` and `attn.decode` on memrefs into flash-style
    loops: an `scf.parallel` over (batch, KV head, query tile, KV split),
    tiles of keys read once for every query head of the group that shares
    them, an online softmax (running max, running sum, rescaled accumulator)
    so the [Sq, Skv] score matrix is never materialised, and vector
    operations over the head dimension.

    Example:

    ```mlir
    attn.attention heads(8, 2) scale(0.25)
      ins(%q, %k, %v : memref<1x8x1x64xf32>, memref<1x2x512x64xf32>,
                       memref<1x2x512x64xf32>)
      outs(%o : memref<1x8x1x64xf32>)
    ```

    becomes an `scf.parallel` whose body loops over key tiles with
    `vector.transfer_read`s of K and V rows.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def AttnExportEntryPoint : Pass<"attn-export-entry-point", "ModuleOp"> {
  let summary = "Add the runtime's C entry point and signature to a bufferised module";
  let description = [{
    Takes the module's public function (memref arguments, results already
    turned into out-parameters) and adds what `lib/Runtime` loads from a
    compiled model: `attn_model_run(void **buffers)`, which builds a memref
    descriptor for each buffer and calls the function, and the constant
    string `attn_model_signature`, which names every input and output with
    its dtype and shape.
  }];
  let options = [
    Option<"entryFunction", "entry-function", "std::string", /*default=*/"\"\"",
           "Function to export (default: the only public function)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // ATTN_CONVERSION_PASSES_TD
