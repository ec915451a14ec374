// attn-reference names what it cannot evaluate and what is wrong with the inputs.
// RUN: %python -c "import numpy as np; np.savez('%t.ok.npz', input_0=np.zeros((1, 2, 1, 4), np.float32)); np.savez('%t.f16.npz', input_0=np.zeros((1, 2, 1, 4), np.float16)); np.savez('%t.extra.npz', input_0=np.zeros((1, 2, 1, 4), np.float32), bogus=np.zeros(1))"
// RUN: not attn-reference %s --inputs %t.ok.npz --outputs %t.out.npz 2>&1 | FileCheck %s --check-prefix=OP
// RUN: not attn-reference %s --inputs %t.f16.npz --outputs %t.out.npz 2>&1 | FileCheck %s --check-prefix=DTYPE
// RUN: not attn-reference %s --inputs %t.extra.npz --outputs %t.out.npz 2>&1 | FileCheck %s --check-prefix=EXTRA
// RUN: not attn-reference %s --inputs %t.missing.npz --outputs %t.out.npz 2>&1 | FileCheck %s --check-prefix=FILE
// RUN: not ls %t.out.npz

// OP: error: attn-reference: unsupported op 'arith.negf'
// DTYPE: error: input 'input_0' is f16 [1x2x1x4], the function takes f32 [1x2x1x4]
// EXTRA: error: 'bogus' is not an input of the function
// FILE: attn-reference: error:
func.func @f(%q: tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32> {
  %0 = arith.negf %q : tensor<1x2x1x4xf32>
  return %0 : tensor<1x2x1x4xf32>
}
