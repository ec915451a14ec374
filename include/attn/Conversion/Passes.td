//===- Passes.td - attn conversion passes ------------------*- tablegen -*-===//

#ifndef ATTN_CONVERSION_PASSES_TD
#define ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToLoops : Pass<"convert-attn-to-loops", "ModuleOp"> {
  let summary = "Lower attn ops on memrefs to tiled online-softmax loops";
  let description = [{
    Rewrites `attn.attention` and `attn.decode` on memrefs into flash-style
    loops: an `scf.parallel` over the work items (batch, KV head, query
    tile, KV split), whose iterations claim them from a shared counter
    (claim-work-items; false: a 4-D loop over them, statically split),
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

    `attn.decode` first checks every position against the cache capacity;
    a position that does not fit writes nothing and calls the runtime's
    `attn_rt_report_position_error` (declared in the module by this pass,
    which is why it runs on the module), so the run fails with a message
    naming the input and the capacity. Key tiles outside a sliding window
    are never visited.
  }];
  let options = [
    Option<"rowLanes", "row-lanes", "int64_t", /*default=*/"0",
           "f32 vector lanes across query rows when a work item has at least "
           "8 of them (GQA/MQA groups, prefill): 8 (AVX2) or 16 (AVX-512); "
           "0 means 8. The pass never looks at the host: attn-compile-pipeline "
           "sets this from its mcpu/mattr">,
    Option<"inlineBF16Widening", "inline-bf16-widening", "bool",
           /*default=*/"false",
           "MQA-like decode (query rows across the lanes) on bf16 caches: "
           "widen the key and value elements inside the FMA loops (a 32-bit "
           "broadcast, a shift and a mask per two elements) instead of once "
           "per tile into an f32 tile. attn-compile-pipeline sets it for AMD "
           "Zen 4 and later with AVX-512">,
    Option<"bf16DotProducts", "bf16-dot-products", "bool",
           /*default=*/"false",
           "MQA-like decode (query rows across the lanes) on bf16 caches "
           "without scales: Q.K (pairs along the head dimension) and P.V "
           "(pairs of keys, the value rows of two keys interleaved once per "
           "tile) as AVX512_BF16 dot products (llvm.x86.avx512bf16."
           "dpbf16ps.512), the scaled queries and the probabilities rounded "
           "to bf16, f32 accumulation; GQA (2 to 8 query heads per KV head, "
           "the head dimension across the lanes, head size a multiple of "
           "32) on a bf16 key cache: Q.K (32 key elements against 32 query "
           "elements per dot product, the scaled queries rounded to bf16) "
           "and, on a bf16 value cache, P.V over pairs of keys (the value "
           "rows of two keys interleaved in registers, the probabilities "
           "rounded to bf16). The target must have avx512bf16; "
           "attn-compile-pipeline sets it from --bf16-dot-products">,
    Option<"overlapTileWidening", "overlap-tile-widening", "bool",
           /*default=*/"false",
           "MQA-like decode (query rows across the lanes) on caches widened "
           "into f32 tiles (f16; bf16 without inline-bf16-widening): widen "
           "the value tile during the score loop and the next key tile "
           "during the value loop, a vector per FMA-loop step, instead of "
           "in loops of their own. attn-compile-pipeline sets it for AMD "
           "Zen 4 and later with AVX-512">,
    Option<"keyRowsInOrder", "key-rows-in-order", "bool", /*default=*/"false",
           "Decode with the head dimension across the lanes (few query "
           "heads per KV head, MHA): the score loop reads each key row of a "
           "block whole, in address order, instead of one vector of every "
           "row per head-dimension step, in tiles of 64 keys instead of 32. "
           "attn-compile-pipeline sets it for "
           "AMD Zen 4 and later with AVX-512">,
    Option<"groupedTileKeys", "grouped-tile-keys", "int64_t",
           /*default=*/"0",
           "Decode with 2 to lanes / 2 query heads per KV head (the "
           "periodic layout, GQA): keys per online-softmax tile, rounded up "
           "to the key block; 0 means 32 (attn-compile-pipeline's default)">,
    Option<"f16GroupedTileKeys", "f16-grouped-tile-keys", "int64_t",
           /*default=*/"0",
           "Decode of 4 to lanes / 2 query heads per KV head on an f16 key "
           "cache: keys per online-softmax tile (0: as grouped-tile-keys "
           "says). attn-compile-pipeline sets 128 for AMD Zen 4 and later, "
           "where that decode is bound by the FP pipes at one thread">,
    Option<"tileAlignment", "tile-alignment", "int64_t", /*default=*/"0",
           "Alignment in bytes of the kernels' stack tiles (queries, "
           "scores, accumulators, widened cache tiles, softmax state); 0 "
           "means the element's (4 bytes). A vector load or store of a tile "
           "that straddles two cache lines costs two. attn-compile-pipeline "
           "sets one f32 vector of the target (64 with AVX-512, 32 with "
           "AVX2)">,
    Option<"claimWorkItems", "claim-work-items", "bool", /*default=*/"true",
           "Threads take the work items (batch row, KV head, query tile, "
           "key split) one at a time from a shared atomic counter, so a "
           "thread that runs faster takes more of them; false deals them out "
           "as equal blocks (the parallel loop's static schedule)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::LLVM::LLVMDialect"
  ];
}

def ConvertAttnToGPU : Pass<"convert-attn-to-gpu", "ModuleOp"> {
  let summary = "Lower attn ops on memrefs to launches of flash-decoding GPU kernels";
  let description = [{
    For the `cuda` target, on a bufferised module whose buffers are device
    memory. Each `attn.attention` and `attn.decode` becomes
    `gpu.launch_func`s of kernels that the pass builds, specialised on the
    op's static shapes and element types, in the `gpu.module
    @attn_kernels`:

    - `attn_check_N` (decode): one block that checks every row's position
      (and, with a block table, every table entry the rows reach) and
      records the first bad one in the run's error record
      (`attn_rt_cuda_error_record`, asked for once at the host function's
      entry), which the runtime reads after the run and reports;
    - `attn_append_N` (decode): writes the new keys/values into the caches
      at `position` (read on the device when it comes from a rank-0 buffer),
      into the page that holds it for a paged cache, quantised for an
      8-bit cache;
    - `attn_partial_N`: flash-decoding. A block of 128 threads takes one
      (key split, batch, KV head, chunk of query heads, query row) and
      reads each key/value row of its split once for all of those heads
      (16-byte vector loads, f32 accumulation, online softmax in log2 units
      with `math.exp2`). On CUDA cores (up to 4 heads a block, lanes of a
      key row reduced with `gpu.shuffle xor`), or for groups of 4 or more
      f16/bf16 heads on tensor cores (`nvvm.mma.sync` m16n8k16, 16 heads a
      block as the rows of the mma). The number of splits is chosen so that
      one wave of blocks fills the multiprocessors (132 on an H100/H200);
    - `attn_merge_N` (more than one split): combines the splits' partial
      results, kept in a `gpu.alloc` workspace.

    Scale, softcap, boolean/additive masks with broadcasting, causal
    offsets, kv_seq_lens, Dv != D, f16/bf16/f32 and any group ratio follow
    `attn.attention`; a fully masked row gives 0. Paged caches are read and
    written through the block table in place; int8/fp8 caches are
    dequantised in the kernels (f32 accumulation). A decode position
    outside the cache, or a table entry outside the pool, gives NaN,
    appends nothing and fails the run with the CPU's message.

    Other host code is left alone: `attn-device-buffers`, after it in the
    cuda pipeline, moves host allocations and copies to the device and
    refuses host ops that would touch device memory.

    Example:

    ```mlir
    attn.attention heads(8, 2) scale(0.125)
      ins(%q, %k, %v : memref<1x8x1x64xf16>, memref<1x2x4096x64xf16>,
                       memref<1x2x4096x64xf16>)
      outs(%o : memref<1x8x1x64xf16>)
    ```

    becomes a `gpu.alloc` of the workspace, `gpu.launch_func
    @attn_kernels::@attn_partial_0 blocks in (%splits, 2, 1) threads in
    (128, 1, 1)`, `gpu.launch_func @attn_kernels::@attn_merge_0` and a
    `gpu.dealloc`.

    With `wgmma-prefill` (sm_90a only), prompts of 128 or more rows with
    D = Dv = 128 in f16/bf16 take `attn_wgmma_prefill_N` instead of the
    mma.sync prefill kernel: warpgroup MMAs (wgmma) on 128-byte swizzled
    shared-memory tiles, launched with dynamic shared memory.
  }];
  let options = [
    Option<"wgmmaPrefill", "wgmma-prefill", "bool", /*default=*/"false",
           "Use the Hopper (sm_90a) wgmma prefill kernel where it fits">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def AttnDeviceConstants : Pass<"attn-device-constants", "ModuleOp"> {
  let summary = "Give each constant memref.global that host functions use a device copy made once";
  let description = [{
    For the `cuda` target, on a bufferised module. Model weights are
    `memref.global` constants in host memory, which kernels cannot read.
    Each `memref.get_global` of a constant in a host function becomes a call
    of the runtime's `attnCudaConstant(slot, host, bytes)`, which returns the
    device copy as a `memref<?xi8>` (uploaded on the first call and kept in
    `slot`, a private mutable global of the module, so later runs reuse it),
    and a `memref.view` of that copy with the global's type:

    ```mlir
    %w = memref.get_global @w : memref<128x32xf32>
    ```

    becomes

    ```mlir
    %h = memref.get_global @w : memref<128x32xf32>
    %s = memref.get_global @__attn_device_w : memref<2xi64>
    %hp = memref.extract_aligned_pointer_as_index %h
    %sp = memref.extract_aligned_pointer_as_index %s
    %d = func.call @attnCudaConstant(%sp, %hp, %c16384) : (index, index, index) -> memref<?xi8>
    %w = memref.view %d[%c0][] : memref<?xi8> to memref<128x32xf32>
    ```

    The host only takes the globals' addresses. A non-constant global, or
    a global with a layout, is an error.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
    "::mlir::memref::MemRefDialect", "::mlir::LLVM::LLVMDialect"
  ];
}

def AttnFuseElementwise : Pass<"attn-fuse-elementwise", "func::FuncOp"> {
  let summary = "Fuse element-wise linalg chains on tensors into their consumers (cuda target: fewer kernels)";
  let description = [{
    For the `cuda` target, on tensors before bufferisation, where every
    linalg op becomes one kernel launch. Upstream's element-wise fusion
    (`populateElementwiseOpsFusionPatterns`) merges a `linalg.generic`
    producer whose result has a single use into its `linalg.generic`
    consumer. Into an op with reduction loops a producer is fused only
    where the reduction reads it through a permutation (each element once):
    the sum of squares of an RMSNorm takes the squaring and the residual
    add before it, while the vector operand of a projection (broadcast
    along the output columns) stays a separate kernel, so the product keeps
    the matrix-vector kernel's form and nothing is recomputed per column.

    Example: `%s = x + y`, `%n = %s * %s`, `sum(%n)` (three ops, %s used
    once) become one reduction computing `(x + y) * (x + y)` per element.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def AttnLinalgToGPU : Pass<"attn-linalg-to-gpu", "func::FuncOp"> {
  let summary = "Run each linalg op on memrefs as a gpu.launch: tensor-core matrix products, matvec and cooperative-reduction kernels, else one thread per point";
  let description = [{
    For the `cuda` target, on a bufferised host function. Each linalg op
    (named or generic, static shapes) becomes one `gpu.launch`:

    - a matrix product `out[batch.., rows.., n] += A[batch.., rows.., k] *
      B[[batch..], k, n]` (or B `[n, k]`) with f16/bf16 A and B, at least
      64 rows, K (and N for a `[k, n]` B) multiples of 8: tensor cores
      (lib/Conversion/LinalgToGPU/TensorCoreGemm.cpp): blocks of 8 warps
      for 128 x 128 outputs (128 x 64 or 64 x 64 when that leaves
      multiprocessors idle), `nvgpu.device_async_copy` (cp.async) of
      K-tiles of 32 into two shared-memory stages, `nvgpu.ldmatrix`,
      `nvvm.mma.sync` m16n8k16 into f32 accumulators, the M/N/K edges
      zero-filled on load and guarded on store; f32 products stay on the
      CUDA-core forms below;
    - a matrix-vector product `y[rows, n] += x[rows, k] * W[k, n]` (named
      contractions are generalised first; W a contiguous 2-D f32/f16/bf16
      buffer with 16-byte rows, at most 8 rows of x): blocks of 256 threads
      = 16 column groups x 16 slices of K; a thread reads 16 bytes of a W
      row at a time (`vector.load {alignment = 16}`, `ld.global.v4`), four
      rows in flight, accumulates in f32; the slices are summed in shared
      memory; with an f32 output and few column blocks K is also split over
      the grid's y dimension, the blocks adding into the output with
      `memref.atomic_rmw addf`;
    - a reduction whose body yields `out <add|max|min> f(inputs)` over at
      least 64 points: a warp per output point (a block per point from
      2048 points), lanes strided over the reduction, a `gpu.shuffle xor`
      tree (and shared memory across warps), f32 accumulation; this covers
      norms, softmax, and products with a transposed (W[n, k]) weight;
    - anything else is lowered to `scf.parallel` loops inside the launch
      and the outermost parallel loop nest is flattened onto the threads
      (the last parallel dimension fastest), blocks of up to 256 threads, a
      bounds check when the threads do not divide the points; reductions
      stay sequential loops inside each thread, their accumulator in a
      register when the loop's only store writes one output element at
      indices fixed in the loop; an op without parallel loops runs on one
      thread.

    A `memref.copy` between buffers that are not both contiguous (a subview
    of a KV cache) becomes a copy kernel the generic way.
    `gpu-kernel-outlining` then makes kernels of the launches.

    Example:

    ```mlir
    linalg.matmul ins(%x, %w : memref<1x128xf32>, memref<128x512xf32>)
                  outs(%y : memref<1x512xf32>)
    ```

    becomes `gpu.launch blocks(8, 2, 1) threads(256, 1, 1)` with
    `workgroup(memref<16x64xf32, 3>)`: thread (c, s) of block (bx, by) sums
    `x[0, k] * W[k, 4 c' .. 4 c' + 3]` (c' = 16 bx + c) over its rows k of
    the block's half of K.

    Dynamic shapes and linalg ops on tensors are errors.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::LLVM::LLVMDialect",
    "::mlir::memref::MemRefDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def AttnDeviceBuffers : Pass<"attn-device-buffers", "ModuleOp"> {
  let summary = "Move host buffer operations of a cuda module to the device and reject host accesses to device memory";
  let description = [{
    For the `cuda` target, after the kernels are launched from the host
    (`attn-linalg-to-gpu`, `gpu-kernel-outlining`, `convert-attn-to-gpu`).
    In host functions `memref.alloc` / `memref.dealloc` of identity-layout
    buffers become `gpu.alloc` / `gpu.dealloc`, `memref.copy` between
    contiguous buffers becomes `gpu.memcpy` (device to device). Any other
    host op that reads or writes a buffer (a `memref.load` of a shape or
    position, a linalg op left over) would dereference device memory on the
    CPU: it is an error naming the op.

    Ops that only pass buffers or their addresses along are allowed:
    launches, calls, returns, views (`subview`, `expand_shape`,
    `collapse_shape`, `cast`, `reinterpret_cast`, `view`), `dim`, metadata
    and address extraction, and `get_global` of a constant whose address is
    all the host takes (`attn-device-constants`).
  }];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect"
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

    With `row-streaming`, a contraction whose weights are `[K, N]` and whose
    other loops (M rows) number at most 16, with M x N f32 partials of at
    most 256 KiB, becomes instead an `scf.parallel` over C chunks of K
    (C = clamp(K / 128, 1, 8), fewer for wide N): each chunk zeroes its
    partial rows in a scratch `memref.alloc`, then streams its weight rows
    whole, in memory order, one FMA per weight vector and row into the
    partial rows (blocks of several weight rows per pass over the partials
    when there are several rows, or one row past 16 KiB such as lm_head);
    a sequential loop then adds the chunks' partials to the
    output in chunk order (rounded once for f16/bf16 outputs). The
    hardware prefetchers of AMD Zen 4 follow this stream; they lose the
    tiled form's strided pieces of rows.

    A contraction whose weights are stored `[N, K]` (k innermost, the map
    `(.., n, k) -> (n, k)`: ONNX Gemm with `transB`, or weights that
    `attn-transpose-matvec-weights` transposed) with at most 16 rows, its
    activations contiguous along k, becomes dot products over weight rows
    on every target: an `scf.parallel` over up to 8 chunks of columns, each
    output element an `scf.for` over K of FMAs into vector accumulators (two
    with one row; with more rows up to 4 columns a step share each
    activation load), a masked vector past the last whole one, and a
    reassociated `vector.reduction` onto the output's value.

    With `claim-chunks` as well, the chunks are finer (C = clamp(K / 64, 1,
    16), partials up to 2 MiB: lm_head's [576, 49152] takes 9 chunks) and
    the threads claim them from a shared counter (an scf.parallel whose
    iterations each run an scf.while of atomic adds), so that a thread that
    streams faster takes more chunks instead of waiting for the other at
    the loop's end. The partials are summed in chunk order as before: the
    result does not depend on which thread ran which chunk, nor on the
    thread count. The dot-product form claims its chunks of columns the
    same way (C = clamp(N / 16, 1, 32)).
  }];
  let options = [
    Option<"vectorLanes", "vector-lanes", "int64_t", /*default=*/"0",
           "f32 lanes per vector: 4, 8 or 16; 0 means 8. The pass never looks "
           "at the host: attn-compile-pipeline sets this from its mcpu/mattr">,
    Option<"rowStreaming", "row-streaming", "bool", /*default=*/"false",
           "Decode matvecs (at most 16 rows, small partial rows) read whole "
           "weight rows in memory order, K split into chunks of partial rows "
           "summed in chunk order. attn-compile-pipeline sets it for AMD "
           "Zen 4 (mcpu znver*)">,
    Option<"claimChunks", "claim-chunks", "bool", /*default=*/"false",
           "With row-streaming: finer chunks (at least 64 rows, at most 16, "
           "2 MiB of partials) that threads claim from a shared counter "
           "instead of a static split. Off in attn-compile-pipeline: on the "
           "2-vCPU Zen 4 VM it was 3-5% slower on 2 threads (bench/RESULTS.md)">,
    Option<"prefetchBytes", "prefetch-bytes", "int64_t", /*default=*/"0",
           "With row-streaming: each full weight vector read also prefetches "
           "(into L2: prefetcht1) the weights this many bytes further in "
           "memory order; 0: none. attn-compile-pipeline sets 1024 with "
           "row-streaming">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def AttnMarkEntryPoint : Pass<"attn-mark-entry-point", "ModuleOp"> {
  let summary = "Record, before bufferisation, what attn-export-entry-point needs";
  let description = [{
    Runs on tensors, before bufferisation turns results into out-parameters.
    On the function to export (the `entry-function` option, else the only
    public function) it sets `attn.num_outputs` to its number of results
    unless present, so that attn-export-entry-point can tell outputs from
    inputs whatever marks the bufferisation leaves.

    For a decode step (a function with an in-place KV cache, an argument
    carrying `attn.tied_result`), it also gives the buffers that a decoding
    loop feeds and reads an `attn.role`, by the naming conventions of
    exported decoders (this is the one place that knows them): the
    arguments named `input_ids`, `position_ids`, `attention_mask` and
    `cache_position`, and the result named `logits`. attn-export-entry-point
    writes them as `role` lines of the model signature, which
    `attn-run --generate` reads (docs/runtime-abi.md).

    Example:

    ```mlir
    func.func @main(%ids: tensor<1x1xi64> {attn.name = "input_ids"}, ...)
        -> (tensor<1x1x50xf32> {attn.name = "logits"}, ...)
    ```

    gains `attn.num_outputs = 3`, and, with a tied cache argument,
    `attn.role = "input_ids"` on `%ids` and `attn.role = "logits"` on the
    first result.
  }];
  let options = [
    Option<"entryFunction", "entry-function", "std::string", /*default=*/"\"\"",
           "Function to mark (default: the only public function)">
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
           "Function to export (default: the only public function)">,
    Option<"device", "device", "std::string", /*default=*/"\"cpu\"",
           "Where the buffers live, for the signature's `device` line: cpu "
           "or cuda">
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

    With `external-data=true`, a constant whose value is a `dense_resource`
    blob that the importer recorded in the module's `attn.external_data`
    (blob key -> {file, offset}) and whose bytes equal that range of the file
    (checked here), at an offset that keeps its element type's alignment, is
    read from that file instead: one base global per file, bound by the
    exported `attn_model_bind_param_files(const void *const *bases)`, one
    `params-external PATH SIZE FINGERPRINT` line per file and signature
    version 4. Other constants still go to the parameter file.

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
           "(needed when anything moves)">,
    Option<"externalData", "external-data", "bool", /*default=*/"false",
           "Reference the byte ranges of ONNX external data files that the "
           "module's `attn.external_data` records (`params-external` lines, "
           "signature version 4) instead of copying those constants">,
    Option<"libraryDir", "library-dir", "std::string", /*default=*/"\"\"",
           "With external-data: the library's directory, which external "
           "file paths are recorded relative to (absolute when empty)">
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
