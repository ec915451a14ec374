// RUN: attn-opt %s -split-input-file -attn-export-entry-point -verify-diagnostics

// expected-error @+1 {{argument #0 ('input_0' : 'memref<?x4xf32>') has a dynamic shape}}
func.func @dynamic(%a: memref<?x4xf32>, %b: memref<4xf32> {bufferize.result}) {
  return
}

// -----

// expected-error @+1 {{argument #1 ('output_0' : 'memref<4xcomplex<f32>>') has an unsupported element type}}
func.func @complex(%a: memref<4xf32>, %b: memref<4xcomplex<f32>> {bufferize.result}) {
  return
}

// -----

// expected-error @+1 {{is not a memref}}
func.func @tensor(%a: tensor<4xf32>, %b: memref<4xf32> {bufferize.result}) {
  return
}

// -----

// expected-error @+1 {{has a non-identity layout}}
func.func @strided(%a: memref<4xf32, strided<[2]>>, %b: memref<4xf32> {bufferize.result}) {
  return
}

// -----

// expected-error @+1 {{still returns values; results must be out-parameters}}
func.func @results(%a: memref<4xf32>) -> memref<4xf32> {
  return %a : memref<4xf32>
}

// -----

// expected-error @+1 {{cannot tell which arguments of @unmarked are outputs}}
func.func @unmarked(%a: memref<4xf32>, %b: memref<4xf32>) {
  return
}

// -----

// expected-error @+1 {{'attn.num_outputs' is 3 but @toomany has 2 arguments}}
func.func @toomany(%a: memref<4xf32>, %b: memref<4xf32>) attributes {attn.num_outputs = 3 : i64} {
  return
}

// -----

// expected-error @+1 {{argument #1 ('x' : 'memref<4xf32>') has the same name as an earlier argument}}
func.func @duplicate(%a: memref<4xf32> {attn.name = "x"}, %b: memref<4xf32> {attn.name = "x", bufferize.result}) {
  return
}

// -----

// expected-error @+1 {{several public functions could be exported (@a, @b); make the others private or choose one with entry-function=NAME}}
module {
  func.func @a(%x: memref<4xf32> {bufferize.result}) {
    return
  }
  func.func @b(%x: memref<4xf32> {bufferize.result}) {
    return
  }
}

// -----

// expected-error @+1 {{no public function to export}}
module {
  func.func private @hidden(%x: memref<4xf32> {bufferize.result}) {
    return
  }
}

// -----

module {
  func.func @model(%x: memref<4xf32> {bufferize.result}) {
    return
  }
  // expected-error @+1 {{the module already defines @attn_model_signature; was attn-export-entry-point run twice?}}
  llvm.mlir.global external constant @attn_model_signature("x\00")
}

// -----

// expected-error @+1 {{argument #1 is marked both as an output and as tied to a result}}
func.func @inout_and_output(%a: memref<4xf32>, %b: memref<4xf32> {bufferize.result, attn.tied_result = 0 : i64}) {
  return
}

// -----

// expected-error @+1 {{argument #1 is tied to a result but is among the trailing 'attn.num_outputs' outputs}}
func.func @inout_counted_as_output(%a: memref<4xf32>, %b: memref<4xf32> {attn.tied_result = 0 : i64}) attributes {attn.num_outputs = 1 : i64} {
  return
}
