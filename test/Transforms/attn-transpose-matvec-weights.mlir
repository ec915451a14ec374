// RUN: attn-opt %s -split-input-file -attn-transpose-matvec-weights -canonicalize | FileCheck %s
// RUN: attn-opt %s -split-input-file -attn-transpose-matvec-weights=dot-rows=2 -canonicalize | FileCheck %s --check-prefix=ROWS2
// RUN: attn-opt %s -split-input-file -attn-transpose-matvec-weights="dot-rows=0 blocked-rows=0" | FileCheck %s --check-prefix=NONE

#lhs = affine_map<(b, m, n, k) -> (b, m, k)>
#rhs = affine_map<(b, m, n, k) -> (k, n)>
#out = affine_map<(b, m, n, k) -> (b, m, n)>

// A decode projection [1, 1, 4] x [4, 3] with a constant f32 weight: the
// weight becomes its transpose [3, 4] (row n holds column n of the
// original) and the contraction reads it (n, k).
// CHECK-DAG:   #[[NK:.+]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
// CHECK-LABEL: func.func @proj
// NONE-LABEL:  func.func @proj
// NONE:          arith.constant dense<{{.*}}> : tensor<4x3xf32>
// CHECK:         %[[WT:.+]] = arith.constant dense<{{\[}}[1.000000e+00, 4.000000e+00, 7.000000e+00, 1.000000e+01], [2.000000e+00, 5.000000e+00, 8.000000e+00, 1.100000e+01], [3.000000e+00, 6.000000e+00, 9.000000e+00, 1.200000e+01]]> : tensor<3x4xf32>
// CHECK:         linalg.generic {indexing_maps = [#{{.+}}, #[[NK]], #{{.+}}]
// CHECK-SAME:      ins(%{{.+}}, %[[WT]] : tensor<1x1x4xf32>, tensor<3x4xf32>)
func.func @proj(%x: tensor<1x1x4xf32>) -> tensor<1x1x3xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0], [10.0, 11.0, 12.0]]> : tensor<4x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x1x3xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x3xf32>) -> tensor<1x1x3xf32>
  %y = linalg.generic {indexing_maps = [#lhs, #rhs, #out], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : tensor<1x1x4xf32>, tensor<4x3xf32>) outs(%f : tensor<1x1x3xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x1x3xf32>
  return %y : tensor<1x1x3xf32>
}

// -----

// A weight in a dense_resource blob (as the ONNX importer stores weights)
// read by two projections: both read the one transposed constant (a blob
// of 48 bytes comes back as a dense attribute; 4 KiB and up stay blobs).
// CHECK-LABEL: func.func @shared_blob
// CHECK:         %[[WT:.+]] = arith.constant dense<{{\[}}[1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK:         linalg.generic {{.*}} ins(%{{.+}}, %[[WT]] : tensor<1x2xf32>, tensor<2x2xf32>)
// CHECK:         linalg.generic {{.*}} ins(%{{.+}}, %[[WT]] : tensor<1x2xf32>, tensor<2x2xf32>)
func.func @shared_blob(%x: tensor<1x2xf32>, %z: tensor<1x2xf32>) -> (tensor<1x2xf32>, tensor<1x2xf32>) {
  %w = arith.constant dense_resource<wq> : tensor<2x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x2xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y2 = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%z, %w : tensor<1x2xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x2xf32>
  return %y, %y2 : tensor<1x2xf32>, tensor<1x2xf32>
}

{-#
  dialect_resources: {
    builtin: {
      wq: "0x040000000000803F000000400000404000008040"
    }
  }
#-}

// -----

// A bf16 weight widened in the graph (an ONNX Cast to f32): the bf16
// constant is transposed and the widening rebuilt on it ([2, 4]).
// CHECK-LABEL: func.func @widened
// CHECK:         %[[WT:.+]] = arith.constant dense<{{\[}}[1.000000e+00, 3.000000e+00, 5.000000e+00, 7.000000e+00], [2.000000e+00, 4.000000e+00, 6.000000e+00, 8.000000e+00]]> : tensor<2x4xbf16>
// CHECK:         %[[E:.+]] = tensor.empty() : tensor<2x4xf32>
// CHECK:         %[[WIDE:.+]] = linalg.generic {{.*}} ins(%[[WT]] : tensor<2x4xbf16>) outs(%[[E]] : tensor<2x4xf32>)
// CHECK:           arith.extf
// CHECK:         linalg.generic {{.*}} ins(%{{.+}}, %[[WIDE]] : tensor<1x4xf32>, tensor<2x4xf32>)
// CHECK-NOT:     tensor<4x2x
func.func @widened(%x: tensor<1x4xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xbf16>
  %e0 = tensor.empty() : tensor<4x2xf32>
  %ww = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]} ins(%w : tensor<4x2xbf16>) outs(%e0 : tensor<4x2xf32>) {
  ^bb0(%a: bf16, %b: f32):
    %v = arith.extf %a : bf16 to f32
    linalg.yield %v : f32
  } -> tensor<4x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul ins(%x, %ww : tensor<1x4xf32>, tensor<4x2xf32>) outs(%f : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}

// -----

// Two rows (batch-2 decode): over the default dot-rows=1, kept; with
// dot-rows=2 transposed.
// CHECK-LABEL: func.func @two_rows
// CHECK:         arith.constant dense<{{.*}}> : tensor<3x2xf32>
// CHECK:         linalg.matmul
// ROWS2-LABEL: func.func @two_rows
// ROWS2:         arith.constant dense<{{.*}}> : tensor<2x3xf32>
// ROWS2:         linalg.generic
func.func @two_rows(%x: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<2x3xf32>, tensor<3x2xf32>) outs(%f : tensor<2x2xf32>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// Kept: a weight with another use (here returned; a Gather of tied
// embeddings alike), a weight already read (n, k), activations read with k
// outermost, and an f64 weight.
// CHECK-LABEL: func.func @other_use
// CHECK:         arith.constant dense<{{.*}}> : tensor<3x2xf32>
// CHECK:         linalg.matmul
// CHECK-LABEL: func.func @already_nk
// CHECK:         arith.constant dense<{{.*}}> : tensor<2x3xf32>
// CHECK-LABEL: func.func @lhs_k_outer
// CHECK:         arith.constant dense<{{.*}}> : tensor<3x2xf32>
// CHECK-LABEL: func.func @f64_weight
// CHECK:         arith.constant dense<{{.*}}> : tensor<3x2xf64>
func.func @other_use(%x: tensor<1x3xf32>) -> (tensor<1x2xf32>, tensor<3x2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x3xf32>, tensor<3x2xf32>) outs(%f : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y, %w : tensor<1x2xf32>, tensor<3x2xf32>
}
func.func @already_nk(%x: tensor<1x3xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<1x3xf32>, tensor<2x3xf32>) outs(%f : tensor<1x2xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
func.func @lhs_k_outer(%x: tensor<3x1xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (k, m)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<3x1xf32>, tensor<3x2xf32>) outs(%f : tensor<1x2xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
func.func @f64_weight(%x: tensor<1x3xf64>) -> tensor<1x2xf64> {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf64>
  %zero = arith.constant 0.0 : f64
  %e = tensor.empty() : tensor<1x2xf64>
  %f = linalg.fill ins(%zero : f64) outs(%e : tensor<1x2xf64>) -> tensor<1x2xf64>
  %y = linalg.matmul ins(%x, %w : tensor<1x3xf64>, tensor<3x2xf64>) outs(%f : tensor<1x2xf64>) -> tensor<1x2xf64>
  return %y : tensor<1x2xf64>
}

// -----

// A blob of 4 KiB (f16 [32, 64]) stays a blob: the transposed constant is a
// dense_resource named after the original with "_t", whose bytes are the
// transpose (w[k, n] = (64 k + n) mod 251: the new row 0 is 0, 64, 128,
// 192, ..., f16 0x0000 0x5400 0x5800 0x5A00 little-endian, where the
// original row 0 is 0, 1, 2, 3).
// CHECK-LABEL: func.func @big_blob
// CHECK:         arith.constant dense_resource<wbig_t> : tensor<64x32xf16>
// CHECK:         linalg.generic
// CHECK:       wbig_t: "0x02000000000000540058005A
func.func @big_blob(%x: tensor<1x32xf32>) -> tensor<1x64xf32> {
  %w = arith.constant dense_resource<wbig> : tensor<32x64xf16>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x64xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x64xf32>) -> tensor<1x64xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<1x32xf32>, tensor<32x64xf16>) outs(%f : tensor<1x64xf32>) {
  ^bb0(%a: f32, %b: f16, %c: f32):
    %bw = arith.extf %b : f16 to f32
    %m = arith.mulf %a, %bw : f32
    %s = arith.addf %c, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x64xf32>
  return %y : tensor<1x64xf32>
}

{-#
  dialect_resources: {
    builtin: {
      wbig: "0x020000000000003C0040004200440045004600470048804800498049004A804A004B804B004C404C804CC04C004D404D804DC04D004E404E804EC04E004F404F804FC04F00502050405060508050A050C050E05000512051405160518051A051C051E05100522052405260528052A052C052E05200532053405360538053A053C053E0530054105420543054405450546054705480549054A054B054C054D054E054F0540055105520553055405550556055705580559055A055B055C055D055E055F0550056105620563056405650566056705680569056A056B056C056D056E056F0560057105720573057405750576057705780579057A057B057C057D057E057F05700580858105818582058285830583858405848585058585860586858705878588058885890589858A058A858B058B858C058C858D058D858E058E858F058F85800590859105918592059285930593859405948595059585960596859705978598059885990599859A059A859B059B859C059C859D059D859E059E859F059F859005A085A105A185A205A285A305A385A405A485A505A585A605A685A705A785A805A885A905A985AA05AA85AB05AB85AC05AC85AD05AD85AE05AE85AF05AF85A005B085B105B185B205B285B305B385B405B485B505B585B605B685B705B785B805B885B905B985BA05BA85BB05BB85BC05BC85BD05B0000003C0040004200440045004600470048804800498049004A804A004B804B004C404C804CC04C004D404D804DC04D004E404E804EC04E004F404F804FC04F00502050405060508050A050C050E05000512051405160518051A051C051E05100522052405260528052A052C052E05200532053405360538053A053C053E0530054105420543054405450546054705480549054A054B054C054D054E054F0540055105520553055405550556055705580559055A055B055C055D055E055F0550056105620563056405650566056705680569056A056B056C056D056E056F0560057105720573057405750576057705780579057A057B057C057D057E057F05700580858105818582058285830583858405848585058585860586858705878588058885890589858A058A858B058B858C058C858D058D858E058E858F058F85800590859105918592059285930593859405948595059585960596859705978598059885990599859A059A859B059B859C059C859D059D859E059E859F059F859005A085A105A185A205A285A305A385A405A485A505A585A605A685A705A785A805A885A905A985AA05AA85AB05AB85AC05AC85AD05AD85AE05AE85AF05AF85A005B085B105B185B205B285B305B385B405B485B505B585B605B685B705B785B805B885B905B985BA05BA85BB05BB85BC05BC85BD05B0000003C0040004200440045004600470048804800498049004A804A004B804B004C404C804CC04C004D404D804DC04D004E404E804EC04E004F404F804FC04F00502050405060508050A050C050E05000512051405160518051A051C051E05100522052405260528052A052C052E05200532053405360538053A053C053E0530054105420543054405450546054705480549054A054B054C054D054E054F0540055105520553055405550556055705580559055A055B055C055D055E055F0550056105620563056405650566056705680569056A056B056C056D056E056F0560057105720573057405750576057705780579057A057B057C057D057E057F05700580858105818582058285830583858405848585058585860586858705878588058885890589858A058A858B058B858C058C858D058D858E058E858F058F85800590859105918592059285930593859405948595059585960596859705978598059885990599859A059A859B059B859C059C859D059D859E059E859F059F859005A085A105A185A205A285A305A385A405A485A505A585A605A685A705A785A805A885A905A985AA05AA85AB05AB85AC05AC85AD05AD85AE05AE85AF05AF85A005B085B105B185B205B285B305B385B405B485B505B585B605B685B705B785B805B885B905B985BA05BA85BB05BB85BC05BC85BD05B0000003C0040004200440045004600470048804800498049004A804A004B804B004C404C804CC04C004D404D804DC04D004E404E804EC04E004F404F804FC04F00502050405060508050A050C050E05000512051405160518051A051C051E05100522052405260528052A052C052E05200532053405360538053A053C053E0530054105420543054405450546054705480549054A054B054C054D054E054F0540055105520553055405550556055705580559055A055B055C055D055E055F0550056105620563056405650566056705680569056A056B056C056D056E056F0560057105720573057405750576057705780579057A057B057C057D057E057F05700580858105818582058285830583858405848585058585860586858705878588058885890589858A058A858B058B858C058C858D058D858E058E858F058F85800590859105918592059285930593859405948595059585960596859705978598059885990599859A059A859B059B859C059C859D059D859E059E859F059F859005A085A105A185A205A285A305A385A405A485A505A585A605A685A705A785A805A885A905A985AA05AA85AB05AB85AC05AC85AD05AD85AE05AE85AF05AF85A005B085B105B185B205B285B305B385B405B485B505B585B605B685B705B785B805B885B905B985BA05BA85BB05BB85BC05BC85BD05B0000003C0040004200440045004600470048804800498049004A804A004B804B004C404C804CC04C004D404D804DC04D004E404E804EC04E004F404F804FC04F00502050405060508050A050C050E05000512051405160518051A051C051E05100522052405260528052A052C052E05200532053405360538053A053C053E0530054105420543054405450546054705480549054A054B054C054D054E054F0540055105520553055405550556055705580559055A055B055C055D055E055F0550056105620563056405650566056705680569056A056B056C056D056E056F0560057105720573057405750576057705780579057A057B057C057D057E057F05700580858105818582058285830583858405848585058585860586858705878588058885890589858A058A858B058B858C058C858D058D858E058E858F058F85800590859105918592059285930593859405948595059585960596859705978598059885990599859A059A859B059B859C059C859D059D859E059E859F059F859005A085A105A185A205A285A305A385A405A485A505A585A605A685A705A785A805A885A905A985AA05AA85AB05AB85AC05AC85AD05AD85AE05AE85AF05AF85A005B085B105B185B205B285B305B385B405B485B505B585B605B685B705B785B805B885B905B985BA05BA85BB05BB85BC05BC85BD05B0000003C0040004200440045004600470048804800498049004A804A004B804B004C404C804CC04C004D404D804DC04D004E404E804EC04E004F404F804FC04F00502050405060508050A050C050E05000512051405160518051A051C051E05100522052405260528052A052C052E05200532053405360538053A053C053E0530054105420543054405450546054705480549054A054B054C054D054E054F0540055105520553055405550556055705580559055A055B055C055D055E055F0550056105620563056405650566056705680569056A056B056C056D056E056F0560057105720573057405750576057705780579057A057B057C057D057E057F05700580858105818582058285830583858405848585058585860586858705878588058885890589858A058A858B058B858C058C858D058D858E058E858F058F85800590859105918592059285930593859405948595059585960596859705978598059885990599859A059A859B059B859C059C859D059D859E059E859F059F859005A085A105A185A205A285A305A385A405A485A505A585A605A685A705A785A805A885A905A985AA05AA85AB05AB85AC05AC85AD05AD85AE05AE85AF05AF85A005B085B105B185B205B285B305B385B405B485B505B585B605B685B705B785B805B885B905B985BA05BA85BB05BB85BC05BC85BD05B0000003C0040004200440045004600470048804800498049004A804A004B804B004C404C804CC04C004D404D804DC04D004E404E804EC04E004F404F804FC04F00502050405060508050A050C050E05000512051405160518051A051C051E05100522052405260528052A052C052E05200532053405360538053A053C053E0530054105420543054405450546054705480549054A054B054C054D054E054F0540055105520553055405550556055705580559055A055B055C055D055E055F0550056105620563056405650566056705680569056A056B056C056D056E056F0560057105720573057405750576057705780579057A057B057C057D057E057F05700580858105818582058285830583858405848585058585860586858705878588058885890589858A058A858B058B858C058C858D058D858E058E858F058F85800590859105918592059285930593859405948595059585960596859705978598059885990599859A059A859B059B859C059C859D059D859E059E859F059F859005A085A105A185A205A285A305A385A405A485A505A585A605A685A705A785A805A885A905A985AA05AA85AB05AB85AC05AC85AD05AD85AE05AE85AF05AF85A005B085B105B185B205B285B305B385B405B485B505B585B605B685B705B785B805B885B905B985BA05BA85BB05BB85BC05BC85BD05B0000003C0040004200440045004600470048804800498049004A804A004B804B004C404C804CC04C004D404D804DC04D004E404E804EC04E004F404F804FC04F00502050405060508050A050C050E05000512051405160518051A051C051E05100522052405260528052A052C052E05200532053405360538053A053C053E0530054105420543054405450546054705480549054A054B054C054D054E054F0540055105520553055405550556055705580559055A055B055C055D055E055F0550056105620563056405650566056705680569056A056B056C056D056E056F0560057105720573057405750576057705780579057A057B057C057D057E057F05700580858105818582058285830583858405848585058585860586858705878588058885890589858A058A858B058B858C058C858D058D858E058E858F058F85800590859105918592059285930593859405948595059585960596859705978598059885990599859A059A859B059B859C059C859D059D859E059E859F059F859005A085A105A185A205A285A305A385A405A485A505A585A605A685A705A785A805A885A905A985AA05AA85AB05AB85AC05AC85AD05AD85AE05AE85AF05AF85A005B085B105B185B205B285B305B385B405B485B505B585B605B685B705B785B805B885B905B985BA05BA85BB05BB85BC05BC85BD05B0000003C0040004200440045004600470048804800498049004A804A004B804B004C404C804CC04C004D404D804DC04D004E404E804EC04E004F404F804FC04F00502050405060508050A050C050E050"
    }
  }
#-}

// -----

// The other way: a weight read (n, k) ([N, K]: ONNX Gemm with transB) by a
// contraction of 32 rows (a prefill; at least blocked-rows=17) is stored
// [K, N] and read (k, n), the layout of the tiled kernel's row blocks. One
// row (the dot-product form's) keeps [N, K]; a weight that a 32-row and a
// 1-row contraction both read keeps it too.
// CHECK-DAG:   #[[KN:.+]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-LABEL: func.func @gemm_transb_prefill
// CHECK:         %[[W:.+]] = arith.constant dense<{{\[}}[1.000000e+00, 4.000000e+00], [2.000000e+00, 5.000000e+00], [3.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>
// CHECK:         linalg.generic {indexing_maps = [#{{.+}}, #[[KN]], #{{.+}}]
// CHECK-SAME:      ins(%{{.+}}, %[[W]] : tensor<32x3xf32>, tensor<3x2xf32>)
// CHECK-LABEL: func.func @gemm_transb_decode
// CHECK:         arith.constant dense<{{.*}}> : tensor<2x3xf32>
// CHECK-LABEL: func.func @gemm_transb_both
// CHECK:         arith.constant dense<{{.*}}> : tensor<2x3xf32>
// CHECK-NOT:     tensor<3x2xf32>
#gemm_nt = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
func.func @gemm_transb_prefill(%x: tensor<32x3xf32>) -> tensor<32x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<32x2xf32>) -> tensor<32x2xf32>
  %y = linalg.matmul indexing_maps = #gemm_nt ins(%x, %w : tensor<32x3xf32>, tensor<2x3xf32>) outs(%f : tensor<32x2xf32>) -> tensor<32x2xf32>
  return %y : tensor<32x2xf32>
}
func.func @gemm_transb_decode(%x: tensor<1x3xf32>) -> tensor<1x2xf32> {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul indexing_maps = #gemm_nt ins(%x, %w : tensor<1x3xf32>, tensor<2x3xf32>) outs(%f : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y : tensor<1x2xf32>
}
func.func @gemm_transb_both(%x: tensor<32x3xf32>, %z: tensor<1x3xf32>) -> (tensor<32x2xf32>, tensor<1x2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<32x2xf32>) -> tensor<32x2xf32>
  %y = linalg.matmul indexing_maps = #gemm_nt ins(%x, %w : tensor<32x3xf32>, tensor<2x3xf32>) outs(%f : tensor<32x2xf32>) -> tensor<32x2xf32>
  %e1 = tensor.empty() : tensor<1x2xf32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y1 = linalg.matmul indexing_maps = #gemm_nt ins(%z, %w : tensor<1x3xf32>, tensor<2x3xf32>) outs(%f1 : tensor<1x2xf32>) -> tensor<1x2xf32>
  return %y, %y1 : tensor<32x2xf32>, tensor<1x2xf32>
}

// -----

// A square weight read (k, n) by a one-row contraction (which wants
// [N, K]) and (n, k) by a 32-row one (which wants [K, N]): one transposed
// constant serves both, each map swapped on its own.
// CHECK-DAG:   #[[NKM:.+]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG:   #[[KNM:.+]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-LABEL: func.func @square_both_ways
// CHECK:         %[[WT:.+]] = arith.constant dense<{{\[}}[1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK:         linalg.generic {indexing_maps = [#{{.+}}, #[[NKM]], #{{.+}}]{{.*}} ins(%{{.+}}, %[[WT]] : tensor<1x2xf32>, tensor<2x2xf32>)
// CHECK:         linalg.generic {indexing_maps = [#{{.+}}, #[[KNM]], #{{.+}}]{{.*}} ins(%{{.+}}, %[[WT]] : tensor<32x2xf32>, tensor<2x2xf32>)
func.func @square_both_ways(%x: tensor<1x2xf32>, %z: tensor<32x2xf32>) -> (tensor<1x2xf32>, tensor<32x2xf32>) {
  %w = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x2xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2xf32>) -> tensor<1x2xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x2xf32>, tensor<2x2xf32>) outs(%f : tensor<1x2xf32>) -> tensor<1x2xf32>
  %e2 = tensor.empty() : tensor<32x2xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<32x2xf32>) -> tensor<32x2xf32>
  %y2 = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>] ins(%z, %w : tensor<32x2xf32>, tensor<2x2xf32>) outs(%f2 : tensor<32x2xf32>) -> tensor<32x2xf32>
  return %y, %y2 : tensor<1x2xf32>, tensor<32x2xf32>
}
