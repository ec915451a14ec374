// RUN: attn-opt %s --attn-linalg-to-gpu -cse -split-input-file -verify-diagnostics | FileCheck %s

// The generic form (the dedicated kernels are in
// attn-linalg-to-gpu-kernels.mlir). A product with 64 rows of x (too many
// for the matvec kernel, too many points for a warp each) and 301 columns:
// 19264 threads (76 blocks of 256, the tail guarded), thread t takes
// (m, n) = (t / 301, t % 301); the k loop runs in the thread and reads
// w[k, n], consecutive threads reading consecutive columns; the
// accumulator y[m, n] stays in a register (loaded before the loop, stored
// after it).
// CHECK-LABEL: func.func @matvec
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<64x128xf32>, %[[W:[a-z0-9]+]]: memref<128x301xf32>, %[[Y:[a-z0-9]+]]: memref<64x301xf32>
// CHECK-DAG: %[[C76:.+]] = arith.constant 76 : index
// CHECK-DAG: %[[C256:.+]] = arith.constant 256 : index
// CHECK: gpu.launch blocks(%[[BX:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C76]], %{{.+}} = %{{.+}}, %{{.+}} = %{{.+}}) threads(%[[TX:.+]], %{{.+}}, %{{.+}}) in (%{{.+}} = %[[C256]],
// CHECK: %[[B0:.+]] = arith.muli %[[BX]], %{{.+}} : index
// CHECK: %[[ID:.+]] = arith.addi %[[B0]], %[[TX]] : index
// CHECK: %[[IN:.+]] = arith.cmpi ult, %[[ID]], %{{.+}} : index
// CHECK: scf.if %[[IN]]
// CHECK: %[[N:.+]] = arith.remui %[[ID]], %{{.+}} : index
// CHECK: %[[Y0:.+]] = memref.load %[[Y]][%{{.+}}, %[[N]]]
// CHECK: %[[SUM:.+]] = scf.for %[[K:.+]] = %{{.+}} to %{{.+}} step %{{.+}} iter_args(%[[ACC:.+]] = %[[Y0]]) -> (f32)
// CHECK: memref.load %[[X]]
// CHECK: memref.load %[[W]][%[[K]], %[[N]]]
// CHECK: %[[P:.+]] = arith.mulf
// CHECK: %[[NEXT:.+]] = arith.addf %[[ACC]], %[[P]]
// CHECK: scf.yield %[[NEXT]]
// CHECK: memref.store %[[SUM]], %[[Y]][%{{.+}}, %[[N]]]
// CHECK: gpu.terminator
// CHECK-NOT: linalg.
func.func @matvec(%x: memref<64x128xf32>, %w: memref<128x301xf32>, %y: memref<64x301xf32>) {
  linalg.matmul ins(%x, %w : memref<64x128xf32>, memref<128x301xf32>) outs(%y : memref<64x301xf32>)
  return
}

// -----

// A short row reduction (under 64 points, no warp each): a thread per
// row, no guard when the threads match the rows.
// CHECK-LABEL: func.func @rowsum
// CHECK-DAG: %[[C4:.+]] = arith.constant 4 : index
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.+}} = %[[C4]],
// CHECK-NOT: scf.if
// CHECK: scf.for
// CHECK: arith.addf
#rows = affine_map<(i, j) -> (i, j)>
#row = affine_map<(i, j) -> (i)>
func.func @rowsum(%x: memref<4x48xf32>, %y: memref<4xf32>) {
  linalg.generic {indexing_maps = [#rows, #row], iterator_types = ["parallel", "reduction"]} ins(%x : memref<4x48xf32>) outs(%y : memref<4xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A short reduction to a scalar runs on one thread; a parallel dimension after a
// reduction one is a sequential loop of its thread.
// CHECK-LABEL: func.func @total
// CHECK: gpu.launch blocks({{.*}}) in (%{{.+}} = %[[ONE:.+]], %{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]]) threads({{.*}}) in (%{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]], %{{.+}} = %[[ONE]])
// CHECK: scf.for {{.*}} iter_args
// CHECK: memref.store %{{.+}}, %{{.+}}[] : memref<f32>
// The output y[i, j] changes with the inner loop: no register accumulator.
// CHECK-LABEL: func.func @middle_reduction
// CHECK: gpu.launch
// CHECK: scf.for
// CHECK-NEXT: scf.for
// CHECK-NOT: iter_args
// CHECK: memref.load %arg1
// CHECK: memref.store
// CHECK-NOT: scf.parallel
func.func @total(%x: memref<48xf32>, %y: memref<f32>) {
  linalg.generic {indexing_maps = [affine_map<(j) -> (j)>, affine_map<(j) -> ()>], iterator_types = ["reduction"]} ins(%x : memref<48xf32>) outs(%y : memref<f32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  return
}
func.func @middle_reduction(%x: memref<2x8x3xf32>, %y: memref<2x3xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, k, j) -> (i, k, j)>, affine_map<(i, k, j) -> (i, j)>], iterator_types = ["parallel", "reduction", "parallel"]} ins(%x : memref<2x8x3xf32>) outs(%y : memref<2x3xf32>) {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// An embedding lookup: the token id is read and the table indexed inside
// the kernel, never on the host.
// CHECK-LABEL: func.func @gather
// CHECK-SAME: %[[IDS:[a-z0-9]+]]: memref<1x1xi64>, %[[TABLE:[a-z0-9]+]]: memref<256x16xf32>
// CHECK-NOT: memref.load
// CHECK: gpu.launch
// CHECK: %[[ID:.+]] = memref.load %[[IDS]]
// CHECK: %[[ROW:.+]] = arith.index_cast %[[ID]] : i64 to index
// CHECK: memref.load %[[TABLE]][%[[ROW]],
func.func @gather(%ids: memref<1x1xi64>, %table: memref<256x16xf32>, %out: memref<1x1x16xf32>) {
  linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b)>, affine_map<(a, b, c) -> (a, b, c)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%ids : memref<1x1xi64>) outs(%out : memref<1x1x16xf32>) {
  ^bb0(%id: i64, %o: f32):
    %i = arith.index_cast %id : i64 to index
    %c = linalg.index 2 : index
    %v = memref.load %table[%i, %c] : memref<256x16xf32>
    linalg.yield %v : f32
  }
  return
}

// -----

// A copy into a KV-cache row (a strided subview) becomes a copy kernel of
// 32 threads; a copy between contiguous buffers is left for gpu.memcpy.
// CHECK-LABEL: func.func @cache_copy
// CHECK-DAG: %[[C32:.+]] = arith.constant 32 : index
// CHECK-DAG: %[[SV:.+]] = memref.subview
// CHECK: gpu.launch {{.*}} threads({{.*}}) in (%{{.+}} = %[[C32]],
// CHECK: %[[V:.+]] = memref.load %arg0
// CHECK: memref.store %[[V]], %[[SV]]
// CHECK: memref.copy %arg0, %arg2 : memref<1x2x1x16xf32> to memref<1x2x1x16xf32>
func.func @cache_copy(%new: memref<1x2x1x16xf32>, %cache: memref<1x2x64x16xf32>, %flat: memref<1x2x1x16xf32>) {
  %sv = memref.subview %cache[0, 0, 63, 0] [1, 2, 1, 16] [1, 1, 1, 1] : memref<1x2x64x16xf32> to memref<1x2x1x16xf32, strided<[2048, 1024, 16, 1], offset: 1008>>
  memref.copy %new, %sv : memref<1x2x1x16xf32> to memref<1x2x1x16xf32, strided<[2048, 1024, 16, 1], offset: 1008>>
  memref.copy %new, %flat : memref<1x2x1x16xf32> to memref<1x2x1x16xf32>
  return
}

// -----

func.func @dynamic(%x: memref<?xf32>, %y: memref<?xf32>) {
  // expected-error @+1 {{the cuda target needs static shapes}}
  linalg.copy ins(%x : memref<?xf32>) outs(%y : memref<?xf32>)
  return
}

// -----

func.func @tensors(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{attn-linalg-to-gpu expects linalg ops on memrefs (run it after bufferisation)}}
  %r = linalg.copy ins(%x : tensor<4xf32>) outs(%y : tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
