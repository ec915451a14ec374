// Hand-computable cases of the oracle itself. Query row 0 is zero, so its
// scores tie and it averages the values (1 and 3 -> 2); causal(0) leaves row 0
// only key 0 (-> 1); the mask removes every key of row 1 (-> 0, not NaN).
// RUN: %python -c "import numpy as np; q = np.zeros((1, 2, 2, 4), np.float32); q[:, :, 1] = 1; k = np.ones((1, 1, 2, 4), np.float32); v = np.stack([np.full(3, 1.0), np.full(3, 3.0)])[None, None].astype(np.float32); m = np.array([[True, True], [False, False]]); np.savez('%t.in.npz', q=q, k=k, v=v, m=m)"
// RUN: attn-reference %s --inputs %t.in.npz --outputs %t.out.npz
// RUN: %python -c "import numpy as np; r = np.load('%t.out.npz'); print('mean', r['mean'][0, :, :, 0].tolist()); print('causal', r['causal'][0, :, :, 0].tolist())" | FileCheck %s

// CHECK: mean {{\[}}[2.0, 0.0], [2.0, 0.0]]
// CHECK: causal {{\[}}[1.0, 0.0], [1.0, 0.0]]
func.func @known(%q: tensor<1x2x2x4xf32> {attn.name = "q"},
                 %k: tensor<1x1x2x4xf32> {attn.name = "k"},
                 %v: tensor<1x1x2x3xf32> {attn.name = "v"},
                 %m: tensor<2x2xi1> {attn.name = "m"})
    -> (tensor<1x2x2x3xf32> {attn.name = "mean"},
        tensor<1x2x2x3xf32> {attn.name = "causal"}) {
  %init = tensor.empty() : tensor<1x2x2x3xf32>
  %mean = attn.attention heads(2, 1) scale(0.5)
      ins(%q, %k, %v : tensor<1x2x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x3xf32>)
      mask(%m : tensor<2x2xi1>)
      outs(%init : tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
  %causal = attn.attention heads(2, 1) scale(0.5) causal(0)
      ins(%q, %k, %v : tensor<1x2x2x4xf32>, tensor<1x1x2x4xf32>, tensor<1x1x2x3xf32>)
      mask(%m : tensor<2x2xi1>)
      outs(%init : tensor<1x2x2x3xf32>) -> tensor<1x2x2x3xf32>
  return %mean, %causal : tensor<1x2x2x3xf32>, tensor<1x2x2x3xf32>
}
