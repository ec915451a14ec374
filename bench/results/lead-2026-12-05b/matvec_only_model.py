# A model of SmolLM2-135M's decode-step matvecs alone (30 layers of q, k,
# v, o, gate, up, down at its shapes, then lm_head [576, 49152]; f32 random
# weights in external data): the compiled matvec kernels without attention,
# timed with attn-run --bench. Writes syn.onnx (+ .data) and in.npz here.
import numpy as np, onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
rng = np.random.default_rng(0)
inits, nodes = [], []
def W(name, k, n):
    a = (rng.standard_normal((k, n), dtype=np.float32) * 0.02)
    inits.append(nh.from_array(a, name)); return name
x = "x"
for l in range(30):
    q = f"q{l}"; nodes.append(h.make_node("MatMul", [x, W(f"wq{l}",576,576)], [q]))
    k = f"k{l}"; nodes.append(h.make_node("MatMul", [x, W(f"wk{l}",576,192)], [k]))
    v = f"v{l}"; nodes.append(h.make_node("MatMul", [x, W(f"wv{l}",576,192)], [v]))
    kv = f"kv{l}"; nodes.append(h.make_node("Concat", [k, v, k], [kv], axis=-1))
    qa = f"qa{l}"; nodes.append(h.make_node("Add", [q, kv], [qa]))
    o = f"o{l}"; nodes.append(h.make_node("MatMul", [qa, W(f"wo{l}",576,576)], [o]))
    g = f"g{l}"; nodes.append(h.make_node("MatMul", [o, W(f"wg{l}",576,1536)], [g]))
    u = f"u{l}"; nodes.append(h.make_node("MatMul", [o, W(f"wu{l}",576,1536)], [u]))
    m = f"m{l}"; nodes.append(h.make_node("Mul", [g, u], [m]))
    d = f"d{l}"; nodes.append(h.make_node("MatMul", [m, W(f"wd{l}",1536,576)], [d]))
    x2 = f"x{l}"; nodes.append(h.make_node("Add", [x, d], [x2])); x = x2
nodes.append(h.make_node("MatMul", [x, W("lm",576,49152)], ["logits"]))
g = h.make_graph(nodes, "syn", [h.make_tensor_value_info("x", T.FLOAT, [1,1,576])], [h.make_tensor_value_info("logits", T.FLOAT, [1,1,49152])], inits)
m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
onnx.save(m, "syn.onnx", save_as_external_data=True, location="syn.onnx.data")
np.savez("in.npz", x=rng.standard_normal((1,1,576), dtype=np.float32))
