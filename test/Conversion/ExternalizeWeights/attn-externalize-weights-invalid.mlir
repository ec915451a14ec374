// RUN: attn-opt %s -split-input-file -verify-diagnostics \
// RUN:   -attn-externalize-weights="min-bytes=64"
// A name that is a path (or has spaces) is refused alike.
// RUN: attn-opt %s -split-input-file -verify-diagnostics \
// RUN:   -attn-externalize-weights="min-bytes=64 params-file=../m.params"

// Something to move but no (usable) file name to put in the signature.
// expected-error @below {{attn-externalize-weights needs params-file=NAME (a file name without spaces or '/') to move 1 constants out of the module}}
module {
  llvm.mlir.global private constant @big(dense<1.5> : tensor<16xf32>) {addr_space = 0 : i32} : !llvm.array<16 x f32>
  llvm.func @use() -> !llvm.ptr {
    %0 = llvm.mlir.addressof @big : !llvm.ptr
    llvm.return %0 : !llvm.ptr
  }
}

// -----

// A module that already has parameters (the pass ran before).
// expected-error @below {{the module already has parameters; was attn-externalize-weights run twice?}}
module attributes {attn.parameters = {}} {
}
