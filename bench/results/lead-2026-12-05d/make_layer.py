#!/usr/bin/env python3
"""A SmolLM2-135M layer's matrix-vector products without its attention, in the
decode step's order (O, gate, up, down, then the next layer's Q, K, V): the
model cold_decode.c runs before each decode when given one per layer
(LAYERDIR/layer_L.so). f32 weights, 18.6 MB per layer.
   python3 make_layer.py OUT.onnx SEED"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

path, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)
d, f, kv = 576, 1536, 192
shapes = {"Wo": (d, d), "Wg": (d, f), "Wu": (d, f), "Wd": (f, d), "Wq": (d, d), "Wk": (d, kv), "Wv": (d, kv)}
inits = [numpy_helper.from_array((rng.standard_normal(s) * 0.02).astype(np.float32), n)
         for n, s in shapes.items()]
nodes = [helper.make_node("MatMul", ["x", "Wo"], ["o"]),
         helper.make_node("MatMul", ["o", "Wg"], ["g"]),
         helper.make_node("MatMul", ["o", "Wu"], ["u"]),
         helper.make_node("Mul", ["g", "u"], ["gu"]),
         helper.make_node("MatMul", ["gu", "Wd"], ["h"]),
         helper.make_node("MatMul", ["h", "Wq"], ["q"]),
         helper.make_node("MatMul", ["h", "Wk"], ["k"]),
         helper.make_node("MatMul", ["h", "Wv"], ["v"])]
out = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, s])
       for n, s in (("q", d), ("k", kv), ("v", kv))]
graph = helper.make_graph(nodes, "layer", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, d])],
                          out, inits)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
