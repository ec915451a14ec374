#!/usr/bin/env python3
"""ONNX Gemm with transB (y = x W^T + c, W stored [N, K] as exporters of
nn.Linear on 2-D inputs write it) and onnxruntime's output for it.

  gemm_transb_case.py make DIR ROWS K N   # DIR/gemm.onnx, DIR/in.npz, DIR/want.npz
  gemm_transb_case.py check WANT.npz GOT.npz ATOL

W is above 4 KiB, so it is imported as a dense_resource blob.
"""
import os
import sys

import numpy as np


def make(out_dir, rows, k, n):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(rows * 131 + k * 7 + n)
    w = rng.uniform(-1, 1, (n, k)).astype(np.float32)
    c = rng.uniform(-1, 1, (n,)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=1)], "gemm_transb",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c")])
    path = os.path.join(out_dir, "gemm.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = rng.uniform(-1, 1, (rows, k)).astype(np.float32)
    np.savez(os.path.join(out_dir, "in.npz"), x=x)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    np.savez(os.path.join(out_dir, "want.npz"), y=sess.run(["y"], {"x": x})[0])


def check(want_path, got_path, atol):
    want, got = np.load(want_path)["y"], np.load(got_path)["y"]
    err = float(np.abs(want - got).max()) if want.shape == got.shape else float("inf")
    ok = err <= atol
    print(f"shape {got.shape} max_abs_error {err:.3g} {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], *(int(a) for a in sys.argv[3:6]))
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], float(sys.argv[4])))
