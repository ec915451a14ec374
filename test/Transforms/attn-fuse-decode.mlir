// RUN: attn-opt %s -split-input-file -attn-fuse-decode | FileCheck %s

// A decode step (16 cached positions, one new token): the past arguments
// become 17-position caches updated in place by attn.decode at a new
// trailing `cache_position` argument; the present results are the op's
// updated caches, tied to their arguments.
// CHECK-LABEL: func.func @decode_step
// CHECK-SAME: %[[PK:[a-z0-9]+]]: tensor<1x2x17x16xf32> {attn.tied_result = 1 : i64, bufferization.writable = true}
// CHECK-SAME: %[[PV:[a-z0-9]+]]: tensor<1x2x17x16xf32> {attn.tied_result = 2 : i64, bufferization.writable = true}
// CHECK-SAME: %[[POS:[a-z0-9]+]]: tensor<i64> {attn.name = "cache_position"}
// CHECK-SAME: -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>)
// CHECK: %[[P:.+]] = tensor.extract %[[POS]][] : tensor<i64>
// CHECK: %[[I:.+]] = arith.index_cast %[[P]] : i64 to index
// CHECK-NOT: tensor.concat
// CHECK: %[[D:.+]]:3 = attn.decode heads(8, 2) scale(2.500000e-01) causal
// CHECK-SAME: position(%[[I]])
// CHECK-SAME: outs(%{{.+}}, %[[PK]], %[[PV]] :
// CHECK: return %[[D]]#0, %[[D]]#1, %[[D]]#2
func.func @decode_step(%q: tensor<1x8x1x16xf32>, %k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %pk: tensor<1x2x16x16xf32>, %pv: tensor<1x2x16x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %o = tensor.empty() : tensor<1x8x1x16xf32>
  %r = attn.attention heads(8, 2) scale(0.25) causal(16) ins(%q, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) outs(%o : tensor<1x8x1x16xf32>) -> tensor<1x8x1x16xf32>
  return %r, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>
}

// -----

// The mask over all cache positions carries over to the decode op.
// CHECK-LABEL: func.func @decode_step_with_mask
// CHECK: attn.decode heads(4, 4) scale(1.000000e+00) ins(
// CHECK-SAME: mask(%{{.+}} : tensor<1x1x1x9xf32>)
func.func @decode_step_with_mask(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>, %m: tensor<1x1x1x9xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r = attn.attention heads(4, 4) scale(1.0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) mask(%m : tensor<1x1x1x9xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  return %r, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
}

// -----

// Near miss: a causal offset other than the past length (here 0, the
// upper-left alignment) is not the decode op's alignment: left alone.
// CHECK-LABEL: func.func @other_causal_alignment
// CHECK: tensor.concat
// CHECK: attn.attention
// CHECK-NOT: attn.decode
func.func @other_causal_alignment(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r = attn.attention heads(4, 4) scale(1.0) causal(0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  return %r, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
}

// -----

// Near miss: the past argument is also read elsewhere, so it cannot become
// the cache that the op overwrites.
// CHECK-LABEL: func.func @past_read_elsewhere
// CHECK-NOT: attn.decode
func.func @past_read_elsewhere(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r = attn.attention heads(4, 4) scale(1.0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  return %r, %pk : tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>
}

// -----

// The function's type changes, so its callers change with it: a caller
// passes its 16-position past as the front of a 17-position cache and 16 as
// the position; the results keep their types.
// CHECK-LABEL: func.func @step
// CHECK-SAME: tensor<1x2x17x16xf32> {attn.tied_result = 1 : i64
// CHECK-SAME: %{{[a-z0-9]+}}: tensor<i64> {attn.name = "cache_position"}
// CHECK: attn.decode heads(8, 2)
// CHECK-LABEL: func.func @caller
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x8x1x16xf32>, %[[K:[a-z0-9]+]]: tensor<1x2x1x16xf32>, %[[V:[a-z0-9]+]]: tensor<1x2x1x16xf32>, %[[PK:[a-z0-9]+]]: tensor<1x2x16x16xf32>, %[[PV:[a-z0-9]+]]: tensor<1x2x16x16xf32>)
// CHECK: %[[EK:.+]] = tensor.empty() : tensor<1x2x17x16xf32>
// CHECK: %[[CK:.+]] = tensor.insert_slice %[[PK]] into %[[EK]][0, 0, 0, 0] [1, 2, 16, 16] [1, 1, 1, 1]
// CHECK: %[[EV:.+]] = tensor.empty() : tensor<1x2x17x16xf32>
// CHECK: %[[CV:.+]] = tensor.insert_slice %[[PV]] into %[[EV]][0, 0, 0, 0] [1, 2, 16, 16] [1, 1, 1, 1]
// CHECK: %[[POS:.+]] = arith.constant dense<16> : tensor<i64>
// CHECK: %[[R:.+]]:3 = call @step(%[[Q]], %[[K]], %[[V]], %[[CK]], %[[CV]], %[[POS]])
// CHECK-SAME: -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>)
// CHECK: return %[[R]]#0, %[[R]]#1
func.func @step(%q: tensor<1x8x1x16xf32>, %k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %pk: tensor<1x2x16x16xf32>, %pv: tensor<1x2x16x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x2x16x16xf32>, tensor<1x2x1x16xf32>) -> tensor<1x2x17x16xf32>
  %o = tensor.empty() : tensor<1x8x1x16xf32>
  %r = attn.attention heads(8, 2) scale(0.25) causal(16) ins(%q, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>) outs(%o : tensor<1x8x1x16xf32>) -> tensor<1x8x1x16xf32>
  return %r, %kc, %vc : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>
}
func.func @caller(%q: tensor<1x8x1x16xf32>, %k: tensor<1x2x1x16xf32>, %v: tensor<1x2x1x16xf32>, %pk: tensor<1x2x16x16xf32>, %pv: tensor<1x2x16x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>) {
  %r:3 = func.call @step(%q, %k, %v, %pk, %pv) : (tensor<1x8x1x16xf32>, tensor<1x2x1x16xf32>, tensor<1x2x1x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) -> (tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>, tensor<1x2x17x16xf32>)
  return %r#0, %r#1 : tensor<1x8x1x16xf32>, tensor<1x2x17x16xf32>
}

// -----

// Several blocks and returns: both exits return the caches at the same
// results, after the attention, so they return the decode op's caches and
// the arguments stay tied to results 1 and 2.
// CHECK-LABEL: func.func @two_exits
// CHECK-SAME: {attn.tied_result = 1 : i64, bufferization.writable = true}
// CHECK-SAME: {attn.tied_result = 2 : i64, bufferization.writable = true}
// CHECK: %[[D:.+]]:3 = attn.decode
// CHECK: cf.cond_br
// CHECK: return %[[D]]#0, %[[D]]#1, %[[D]]#2
// CHECK: return %{{.+}}, %[[D]]#1, %[[D]]#2
func.func @two_exits(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>, %skip: i1) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r = attn.attention heads(4, 4) scale(1.0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  cf.cond_br %skip, ^zero, ^out
^out:
  return %r, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
^zero:
  return %o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
}

// -----

// Near miss: one exit returns the cache, the other returns the past it was
// given at that result; the argument cannot be tied to one result, so the
// function is left alone.
// CHECK-LABEL: func.func @exits_disagree
// CHECK-NOT: attn.decode
// CHECK: attn.attention
func.func @exits_disagree(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>, %old: tensor<1x4x9x8xf32>, %skip: i1) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r = attn.attention heads(4, 4) scale(1.0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  cf.cond_br %skip, ^zero, ^out
^out:
  return %r, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
^zero:
  return %o, %old, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
}

// -----

// Near miss: an exit the attention does not dominate returns the cache; it
// could not return the decode op's result, so the function is left alone.
// CHECK-LABEL: func.func @exit_before_attention
// CHECK-NOT: attn.decode
// CHECK: attn.attention
func.func @exit_before_attention(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>, %skip: i1) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  cf.cond_br %skip, ^zero, ^attend
^attend:
  %r = attn.attention heads(4, 4) scale(1.0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  return %r, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
^zero:
  return %o, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
}

// -----

// Near miss: the function's symbol is also taken as a value (func.constant),
// a use that cannot follow a change of type: the function is left alone.
// CHECK-LABEL: func.func @taken_as_value
// CHECK-NOT: attn.decode
// CHECK: attn.attention
// CHECK-LABEL: func.func @holder
// CHECK: constant @taken_as_value
func.func @taken_as_value(%q: tensor<1x4x1x8xf32>, %k: tensor<1x4x1x8xf32>, %v: tensor<1x4x1x8xf32>, %pk: tensor<1x4x8x8xf32>, %pv: tensor<1x4x8x8xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) {
  %kc = tensor.concat dim(2) %pk, %k : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %vc = tensor.concat dim(2) %pv, %v : (tensor<1x4x8x8xf32>, tensor<1x4x1x8xf32>) -> tensor<1x4x9x8xf32>
  %o = tensor.empty() : tensor<1x4x1x8xf32>
  %r = attn.attention heads(4, 4) scale(1.0) ins(%q, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>) outs(%o : tensor<1x4x1x8xf32>) -> tensor<1x4x1x8xf32>
  return %r, %kc, %vc : tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>
}
func.func @holder() -> ((tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>)) {
  %f = func.constant @taken_as_value : (tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>)
  return %f : (tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x1x8xf32>, tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>) -> (tensor<1x4x1x8xf32>, tensor<1x4x9x8xf32>, tensor<1x4x9x8xf32>)
}
