#!/usr/bin/env python3
"""ONNX `Attention` models of our own, run through attn-run and compared with
attention_reference.py (the current operator specification).

  attention_cases.py --work DIR [--attn-run PATH] [--only SUBSTRING]

Each case builds a one-node model with onnx.helper, seeded random inputs,
runs `attn-run model.onnx --inputs in.npz --outputs out.npz` and checks every
output with |got - want| <= atol + rtol * |want|: float32 atol 1e-5 rtol 1e-3,
float16 5e-3 / 5e-3, bfloat16 2e-2 / 2e-2 (ONNX's conformance tolerances;
the reference computes in float64). Prints PASS/FAIL per case; exits 1 on
any failure.
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attention_reference import attention  # noqa: E402

try:
    from ml_dtypes import bfloat16
except ImportError:  # bf16 cases are skipped without ml_dtypes
    bfloat16 = None

INPUT_NAMES = ["Q", "K", "V", "attn_mask", "past_key", "past_value",
               "nonpad_kv_seqlen"]
OUTPUT_NAMES = ["Y", "present_key", "present_value", "qk_matmul_output"]


def onnx_type(dtype):
    if dtype == np.float32:
        return TensorProto.FLOAT
    if dtype == np.float16:
        return TensorProto.FLOAT16
    if bfloat16 is not None and dtype == bfloat16:
        return TensorProto.BFLOAT16
    if dtype == np.bool_:
        return TensorProto.BOOL
    if dtype == np.int64:
        return TensorProto.INT64
    raise ValueError(dtype)


def case(name, shapes, opset=23, dtype=np.float32, outputs=("Y",), seed=0,
         mask=None, nonpad=None, **attrs):
    """shapes: dict of Q/K/V/past_key/past_value shapes; mask: (shape, kind)
    with kind 'float', 'bool', 'neginf' or an explicit array."""
    return dict(name=name, shapes=shapes, opset=opset, dtype=dtype,
                outputs=outputs, seed=seed, mask=mask, nonpad=nonpad,
                attrs=attrs)


def make_inputs(c):
    rng = np.random.default_rng(c["seed"])
    dtype = c["dtype"]
    inputs = {}
    for key in ["Q", "K", "V", "past_key", "past_value"]:
        if key in c["shapes"]:
            inputs[key] = rng.standard_normal(c["shapes"][key]).astype(
                np.float32).astype(dtype)
    if c["mask"] is not None:
        shape, kind = c["mask"]
        if isinstance(kind, np.ndarray):
            inputs["attn_mask"] = kind
        elif kind == "bool":
            m = rng.random(shape) < 0.7
            m[..., 0] = True  # no row fully masked unless asked for
            inputs["attn_mask"] = m
        elif kind == "neginf":
            m = np.where(rng.random(shape) < 0.7, 0.0, -np.inf)
            m[..., 0] = 0.0
            inputs["attn_mask"] = m.astype(np.float32).astype(dtype)
        else:
            inputs["attn_mask"] = rng.standard_normal(shape).astype(
                np.float32).astype(dtype)
    if c["nonpad"] is not None:
        inputs["nonpad_kv_seqlen"] = np.array(c["nonpad"], dtype=np.int64)
    return inputs


def make_model(c, inputs):
    node_inputs = []
    last = max(INPUT_NAMES.index(k) for k in inputs)
    for name in INPUT_NAMES[:last + 1]:
        node_inputs.append(name if name in inputs else "")
    node_outputs = [n if n in c["outputs"] else "" for n in OUTPUT_NAMES]
    while node_outputs and not node_outputs[-1]:
        node_outputs.pop()
    node = helper.make_node("Attention", node_inputs, node_outputs,
                            name=c["name"], **c["attrs"])
    graph_inputs = [helper.make_tensor_value_info(k, onnx_type(v.dtype),
                                                  list(v.shape))
                    for k, v in inputs.items()]
    graph_outputs = [helper.make_tensor_value_info(n, onnx_type(c["dtype"]),
                                                   None)
                     for n in node_outputs if n]
    graph = helper.make_graph([node], c["name"], graph_inputs, graph_outputs)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", c["opset"])])
    model.ir_version = 10
    return model


def expected(c, inputs):
    kw = dict(inputs)
    attrs = dict(c["attrs"])
    attrs.pop("softmax_precision", None)
    res = attention(**kw, **attrs)
    return {n: r for n, r in zip(OUTPUT_NAMES, res) if n in c["outputs"]}


def tolerance(dtype):
    if dtype == np.float16:
        return 5e-3, 5e-3
    if bfloat16 is not None and dtype == bfloat16:
        return 2e-2, 2e-2
    return 1e-5, 1e-3


def cases():
    q4 = {"Q": (2, 3, 4, 8), "K": (2, 3, 6, 8), "V": (2, 3, 6, 8)}
    gqa = {"Q": (2, 9, 4, 8), "K": (2, 3, 6, 8), "V": (2, 3, 6, 8)}
    mqa = {"Q": (1, 8, 5, 16), "K": (1, 1, 7, 16), "V": (1, 1, 7, 16)}
    dv = {"Q": (2, 4, 3, 8), "K": (2, 2, 6, 8), "V": (2, 2, 6, 10)}
    past = {"Q": (2, 6, 3, 8), "K": (2, 2, 3, 8), "V": (2, 2, 3, 8),
            "past_key": (2, 2, 5, 8), "past_value": (2, 2, 5, 8)}
    q3 = {"Q": (2, 4, 24), "K": (2, 6, 24), "V": (2, 6, 24)}
    q3gqa = {"Q": (2, 4, 72), "K": (2, 6, 24), "V": (2, 6, 30)}
    q3past = {"Q": (2, 3, 24), "K": (2, 3, 12), "V": (2, 3, 12),
              "past_key": (2, 2, 4, 6), "past_value": (2, 2, 4, 6)}
    decode = {"Q": (2, 4, 1, 8), "K": (2, 2, 8, 8), "V": (2, 2, 8, 8)}
    chunk = {"Q": (2, 2, 3, 8), "K": (2, 2, 6, 8), "V": (2, 2, 6, 8)}
    full_rows = np.array([[True, False, True, False, True, True],
                          [False] * 6, [True] * 6, [False, True] + [False] * 4])
    yield case("mha_4d", q4)
    yield case("gqa_9_3", gqa)
    yield case("mqa_8_1", mqa)
    yield case("dv_ne_d", dv)
    yield case("scaled", q4, scale=0.05)
    yield case("mha_3d", q3, q_num_heads=3, kv_num_heads=3)
    yield case("gqa_3d_dv", q3gqa, q_num_heads=9, kv_num_heads=3)
    yield case("past_3d", q3past, q_num_heads=4, kv_num_heads=2,
               outputs=("Y", "present_key", "present_value"))
    yield case("past_present_gqa", past,
               outputs=("Y", "present_key", "present_value"))
    # Masks of every rank, broadcast dims, padding of a short last dim.
    yield case("mask_float_2d", q4, mask=((4, 6), "float"))
    yield case("mask_float_3d_bcast", gqa, mask=((9, 1, 6), "float"))
    yield case("mask_float_4d_bcast", gqa, mask=((2, 1, 4, 6), "float"))
    yield case("mask_float_4d_full", q4, mask=((2, 3, 4, 6), "float"))
    yield case("mask_bool_2d", q4, mask=((4, 6), "bool"))
    yield case("mask_bool_4d", gqa, mask=((2, 9, 4, 6), "bool"))
    yield case("mask_neginf_3d", dv, mask=((1, 3, 6), "neginf"))
    yield case("mask_short_float", q4, mask=((4, 4), "float"))
    yield case("mask_short_bool_4d", q4, mask=((2, 1, 4, 3), "bool"))
    yield case("mask_with_past", past, mask=((3, 8), "float"),
               outputs=("Y", "present_key", "present_value"))
    # Causal alignment: Sq < T, Sq == T, Sq > T, with a past.
    yield case("causal_sq_lt_t", q4, is_causal=1)
    yield case("causal_square", {"Q": (1, 2, 5, 8), "K": (1, 2, 5, 8),
                                 "V": (1, 2, 5, 8)}, is_causal=1)
    yield case("causal_sq_gt_t", {"Q": (1, 2, 6, 8), "K": (1, 2, 4, 8),
                                  "V": (1, 2, 4, 8)}, is_causal=1)
    yield case("causal_past", past, is_causal=1,
               outputs=("Y", "present_key", "present_value"))
    yield case("causal_past_mask", past, is_causal=1,
               mask=((2, 1, 3, 8), "float"),
               outputs=("Y", "present_key", "present_value"))
    yield case("causal_bool_mask_empty_rows",
               {"Q": (1, 2, 4, 8), "K": (1, 2, 6, 8), "V": (1, 2, 6, 8)},
               is_causal=1, mask=((4, 6), full_rows))
    yield case("bool_mask_empty_rows",
               {"Q": (1, 2, 4, 8), "K": (1, 2, 6, 8), "V": (1, 2, 6, 8)},
               mask=((4, 6), full_rows))
    # Softcap, before the mask.
    yield case("softcap", q4, softcap=2.0)
    yield case("softcap_neginf_mask", q4, softcap=0.5,
               mask=((4, 6), "neginf"))
    yield case("softcap_causal_gqa", gqa, softcap=3.0, is_causal=1)
    yield case("softcap_float_mask_3d", q3, softcap=1.5, q_num_heads=3,
               kv_num_heads=3, mask=((4, 6), "float"))
    # qk_matmul_output in every mode.
    for mode in range(4):
        yield case(f"qk_mode{mode}_past_mask_softcap", past,
                   outputs=OUTPUT_NAMES, mask=((3, 8), "float"),
                   softcap=2.0, qk_matmul_output_mode=mode)
        yield case(f"qk_mode{mode}_causal_bool", q4,
                   outputs=("Y", "qk_matmul_output"),
                   mask=((2, 3, 4, 6), "bool"), is_causal=1,
                   qk_matmul_output_mode=mode)
    yield case("qk_mode3_empty_rows",
               {"Q": (1, 2, 4, 8), "K": (1, 2, 6, 8), "V": (1, 2, 6, 8)},
               outputs=("Y", "qk_matmul_output"), mask=((4, 6), full_rows),
               qk_matmul_output_mode=3)
    yield case("qk_mode2_3d_gqa", q3gqa, outputs=("Y", "qk_matmul_output"),
               q_num_heads=9, kv_num_heads=3, mask=((4, 6), "bool"),
               qk_matmul_output_mode=2)
    # nonpad_kv_seqlen (opset 24): padding, external-cache causal frontier.
    yield case("nonpad_padding", dv, opset=24, nonpad=[4, 6])
    yield case("nonpad_mask_short", q4, opset=24, nonpad=[3, 5],
               mask=((2, 3, 4, 4), "float"))
    yield case("nonpad_causal_decode", decode, opset=24, nonpad=[8, 5],
               is_causal=1)
    yield case("nonpad_causal_decode_f16", decode, opset=24, nonpad=[8, 5],
               is_causal=1, dtype=np.float16)
    yield case("nonpad_causal_chunk", chunk, opset=24, nonpad=[4, 6],
               is_causal=1)
    yield case("nonpad_causal_negative_offset",
               {"Q": (1, 2, 4, 8), "K": (1, 2, 4, 8), "V": (1, 2, 4, 8)},
               opset=24, nonpad=[2], is_causal=1)
    yield case("nonpad_causal_bool_mask", chunk, opset=24, nonpad=[4, 5],
               is_causal=1, mask=((2, 1, 3, 6), "bool"))
    yield case("nonpad_causal_float_mask", chunk, opset=24, nonpad=[5, 6],
               is_causal=1, mask=((3, 6), "float"),
               outputs=("Y", "qk_matmul_output"), qk_matmul_output_mode=2)
    yield case("nonpad_softcap", decode, opset=24, nonpad=[3, 7],
               softcap=1.0, is_causal=1)
    # Other element types.
    yield case("f16_gqa_past", past, dtype=np.float16,
               mask=((3, 8), "float"),
               outputs=("Y", "present_key", "present_value"))
    yield case("f16_softmax_precision", q4, dtype=np.float16,
               softmax_precision=1, outputs=("Y", "qk_matmul_output"),
               qk_matmul_output_mode=3, mask=((4, 6), "bool"))
    yield case("f16_3d_causal", q3, dtype=np.float16, is_causal=1,
               q_num_heads=3, kv_num_heads=3)
    if bfloat16 is not None:
        yield case("bf16_gqa_causal", gqa, dtype=bfloat16, is_causal=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--attn-run", default="attn-run")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    failed = total = 0
    for c in cases():
        if args.only not in c["name"]:
            continue
        total += 1
        inputs = make_inputs(c)
        base = os.path.join(args.work, c["name"])
        onnx.save(make_model(c, inputs), base + ".onnx")
        np.savez(base + ".in.npz", **inputs)
        proc = subprocess.run(
            [args.attn_run, base + ".onnx", "--inputs", base + ".in.npz",
             "--outputs", base + ".out.npz"], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"FAIL {c['name']}: attn-run exited {proc.returncode}\n"
                  + proc.stdout + proc.stderr)
            failed += 1
            continue
        got = np.load(base + ".out.npz")
        atol, rtol = tolerance(c["dtype"])
        notes, ok = [], True
        for key, want in expected(c, inputs).items():
            a = got[key]
            if a.dtype == np.uint16 and bfloat16 is not None:
                a = a.view(bfloat16)  # attn-run writes bf16 as its bits
            a = a.astype(np.float64)
            w = want.astype(np.float64)
            if a.shape != w.shape:
                ok = False
                notes.append(f"{key}: shape {a.shape} != {w.shape}")
                continue
            finite = np.isfinite(w)
            err = np.abs(np.where(finite, a, 0) - np.where(finite, w, 0))
            good = (err <= atol + rtol * np.abs(np.where(finite, w, 0))) & \
                (finite | (a == w))
            ok &= bool(good.all()) and not np.isnan(a).any()
            notes.append(f"{key}: max err {err.max():.2g}")
        print(("PASS " if ok else "FAIL ") + c["name"] + ": " +
              "; ".join(notes))
        failed += not ok
    print(f"{total - failed}/{total} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
