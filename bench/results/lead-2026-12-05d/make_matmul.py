#!/usr/bin/env python3
"""The compiled model cold_decode.c runs before each decode (its 4th argument):
one MatMul x [1, 1, K] @ W [K, N] with W an initializer (K x N x 4 bytes).
   python3 make_matmul.py mv.onnx 1536 9216   (56.6 MB of weights)
   build/bin/attn-compile mv.onnx -o mv.so"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

path, k, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
w = np.random.default_rng(0).standard_normal((k, n)).astype(np.float32) * 0.01
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "W"], ["y"])], "matmul",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, k])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, n])],
    [numpy_helper.from_array(w, "W")])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
