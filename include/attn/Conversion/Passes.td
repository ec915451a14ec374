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
  let options = [
    Option<"rowLanes", "row-lanes", "int64_t", /*default=*/"0",
           "f32 vector lanes across query rows when a work item has at least "
           "8 of them (GQA/MQA groups, prefill): 8 (AVX2) or 16 (AVX-512); "
           "0 picks 16 when the host CPU has AVX-512F, else 8">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def ConvertContractionToVectors
    : Pass<"convert-contraction-to-vectors", "func::FuncOp"> {
  let summary = "Lower f32 matmul-like linalg contractions on memrefs to vector FMA loops";
  let description = [{
    For a linalg contraction on memrefs with one n and one k loop, f32
    operands, and weights and output contiguous along n (the layout of
    `x[.., K] x W[K, N]` matmuls in exported decoders), emits an
    `scf.parallel` over the batch/m loops and tiles of n; each work item
    keeps 4 vector accumulators of the output row and streams the weight
    rows with full-width FMAs (`vector.fma` of a splat of the lhs element),
    k outermost. Tails are masked transfers. Other contractions are left
    alone for `convert-linalg-to-loops`.

    Example:

    ```mlir
    linalg.matmul ins(%x, %w : memref<1x512xf32>, memref<512x2048xf32>)
                  outs(%y : memref<1x2048xf32>)
    ```

    becomes an `scf.parallel` over 32 tiles of 64 columns, each an
    `scf.for` over the 512 rows of `%w` carrying four `vector<16xf32>`.
  }];
  let options = [
    Option<"vectorLanes", "vector-lanes", "int64_t", /*default=*/"0",
           "f32 lanes per vector: 4, 8 or 16; 0 picks 16 on an AVX-512 host, "
           "else 8">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
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
    its dtype and shape (docs/runtime-abi.md).

    An argument is an output when it carries `bufferize.result` (as
    `buffer-results-to-out-params{add-result-attr}` marks out-parameters)
    or `attn.output`; with neither, the trailing `attn.num_outputs`
    (a function attribute) arguments are the outputs. An argument with
    `attn.tied_result` (a KV cache updated in place, see
    `attn-drop-tied-results`) is an `inout` buffer. A buffer's name is
    its `attn.name` attribute, else `input_N` / `output_N` / `inout_N`.

    Example:

    ```mlir
    func.func @main(%x: memref<4xf32> {attn.name = "x"},
                    %y: memref<4xf32> {bufferize.result, attn.name = "y"}) {...}
    ```

    gains `func.func @attn_model_run(%buffers: !llvm.ptr)` calling `@main`
    with `buffers[0]`, `buffers[1]`, and the signature
    `attn-model 1 / device cpu / input x f32 1 4 / output y f32 1 4`
    (version 2 when the model has `inout` buffers).
  }];
  let options = [
    Option<"entryFunction", "entry-function", "std::string", /*default=*/"\"\"",
           "Function to export (default: the only public function)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def AttnExternalizeWeights : Pass<"attn-externalize-weights", "ModuleOp"> {
  let summary = "Move large constant globals into a parameter file that the runtime maps";
  let description = [{
    Runs on the LLVM dialect (after `convert-to-llvm`). Every constant
    `llvm.mlir.global` whose dense (or `dense_resource`) value holds at least
    `min-bytes` bytes, and whose only uses are `llvm.mlir.addressof` inside
    functions, loses its definition: each `addressof` becomes the parameter
    base pointer plus the global's offset in the parameter file. The base is
    an internal global that the exported `attn_model_bind_params(const void *)`
    sets; the runtime calls it after mapping the file (docs/runtime-abi.md).

    Offsets are 64-byte aligned (or the global's alignment, if larger) after
    a 64-byte header. The layout and the values stay on the module as the
    `attn.parameters` attribute, from which `attn::writeParameterFile` writes
    the file without copying them; the signature `attn_model_signature`
    becomes version 3 and gains the line `params FILE SIZE HASH`. A module
    with nothing to move is left unchanged.

    Example (min-bytes=64):

    ```mlir
    llvm.mlir.global private constant @w(dense<1.0> : tensor<32xf32>) : !llvm.array<32 x f32>
    llvm.func @f() -> !llvm.ptr {
      %0 = llvm.mlir.addressof @w : !llvm.ptr
      llvm.return %0 : !llvm.ptr
    }
    ```

    becomes

    ```mlir
    llvm.mlir.global internal @__attn_params_base() : !llvm.ptr
    llvm.func @f() -> !llvm.ptr {
      %0 = llvm.mlir.addressof @__attn_params_base : !llvm.ptr
      %1 = llvm.load %0 : !llvm.ptr -> !llvm.ptr
      %2 = llvm.mlir.constant(64 : i64) : i64
      %3 = llvm.getelementptr inbounds %1[%2] : (!llvm.ptr, i64) -> !llvm.ptr, i8
      llvm.return %3 : !llvm.ptr
    }
    llvm.func @attn_model_bind_params(%arg0: !llvm.ptr) {...}
    ```
  }];
  let options = [
    Option<"minBytes", "min-bytes", "int64_t", /*default=*/"4096",
           "Move constants of at least this many bytes">,
    Option<"paramsFile", "params-file", "std::string", /*default=*/"\"\"",
           "The parameter file's name, relative to the library's directory "
           "(needed when anything moves)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def AttnDropTiedResults : Pass<"attn-drop-tied-results", "ModuleOp"> {
  let summary = "Drop bufferised results that are their tied argument's buffer";
  let description = [{
    `attn-fuse-decode` marks each KV-cache argument with
    `attn.tied_result = i`: the function returns the updated cache as
    result `i`. After one-shot bufferisation that result is the argument's
    own buffer. This pass removes such results (and lowers
    `attn.num_outputs` by their number), so that
    `buffer-results-to-out-params` makes no out-parameter and no copy for
    them; `attn-export-entry-point` lists the argument as an `inout`
    buffer. A tied result that is not the argument's buffer (the cache was
    not updated in place) is an error.

    Example:

    ```mlir
    func.func @step(%cache: memref<1x4x64x16xf32> {attn.tied_result = 1 : i64},
                    ...) -> (memref<1x4x1x16xf32>, memref<1x4x64x16xf32>) {
      ...
      return %out, %cache : memref<1x4x1x16xf32>, memref<1x4x64x16xf32>
    }
    ```

    becomes `func.func @step(%cache: ..., ...) -> memref<1x4x1x16xf32>`.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def AttnUniqueResultBuffers : Pass<"attn-unique-result-buffers", "ModuleOp"> {
  let summary = "Give every repeated memref result of a function its own copy";
  let description = [{
    When a function returns the same buffer more than once (a graph that
    exports one value under two output names), the later occurrences are
    replaced by a fresh `memref.alloc` holding a `memref.copy` of it, so
    that `buffer-results-to-out-params{hoist-static-allocs}` can turn each
    result into its own out-parameter.

    Example:

    ```mlir
    return %a, %a : memref<4xf32>, memref<4xf32>
    ```

    becomes

    ```mlir
    %copy = memref.alloc() : memref<4xf32>
    memref.copy %a, %copy : memref<4xf32> to memref<4xf32>
    return %a, %copy : memref<4xf32>, memref<4xf32>
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

#endif // ATTN_CONVERSION_PASSES_TD
