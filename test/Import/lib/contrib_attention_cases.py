#!/usr/bin/env python3
"""ONNX Runtime's com.microsoft GroupQueryAttention and MultiHeadAttention:
one-node models run through attn-run and through onnxruntime (the
reference), outputs compared with |got - want| <= atol + rtol * |want|
(float32: atol 1e-5, rtol 1e-4; float16: 5e-3 / 5e-3).

  contrib_attention_cases.py --work DIR [--attn-run PATH] [--only SUBSTRING]
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import onnx.numpy_helper
from onnx import TensorProto, helper

NP_TO_ONNX = {np.dtype(np.float32): TensorProto.FLOAT,
              np.dtype(np.float16): TensorProto.FLOAT16,
              np.dtype(np.int32): TensorProto.INT32,
              np.dtype(np.int64): TensorProto.INT64}


def model(op, inputs, outputs, attrs, constants=()):
    """inputs: list of (name, array or None); outputs: names ('' skips) of
    the query's type; `constants` are input names given as initializers."""
    names = [n if a is not None else "" for n, a in inputs]
    while names and not names[-1]:
        names.pop()
    node = helper.make_node(op, names, outputs, domain="com.microsoft",
                            name=op.lower(), **attrs)
    graph_inputs = [helper.make_tensor_value_info(n, NP_TO_ONNX[a.dtype],
                                                  list(a.shape))
                    for n, a in inputs if a is not None and n not in constants]
    out_type = NP_TO_ONNX[inputs[0][1].dtype]
    graph_outputs = [helper.make_tensor_value_info(n, out_type, None)
                     for n in outputs if n]
    inits = [onnx.numpy_helper.from_array(a, n) for n, a in inputs
             if n in constants]
    graph = helper.make_graph([node], op, graph_inputs, graph_outputs,
                              initializer=inits)
    m = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 10
    return m


def rand(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(np.float32).astype(dtype)


def gqa_case(name, batch=2, seq=1, n=4, kvh=2, h=8, past=0, seqlens=None,
             total=None, packed=False, rotary=False, interleaved=False,
             window=-1, softcap=0.0, bias=False, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    total = total if total is not None else past + seq
    seqlens = np.array(seqlens if seqlens is not None
                       else [total - 1] * batch, dtype=np.int32)
    q = rand(rng, (batch, seq, n * h), dtype)
    k = rand(rng, (batch, seq, kvh * h), dtype)
    v = rand(rng, (batch, seq, kvh * h), dtype)
    if packed:
        q, k, v = np.concatenate([q, k, v], axis=-1), None, None
    pk = rand(rng, (batch, kvh, past, h), dtype) if past else None
    pv = rand(rng, (batch, kvh, past, h), dtype) if past else None
    cos = sin = None
    if rotary:
        angles = rng.random((32, h // 2)) * 3
        cos, sin = np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)
    cache = max(past, total)
    ab = rand(rng, (batch, 1, seq, cache), dtype) if bias else None
    inputs = [("query", q), ("key", k), ("value", v), ("past_key", pk),
              ("past_value", pv), ("seqlens_k", seqlens),
              ("total_sequence_length", np.array(total, dtype=np.int32)),
              ("cos_cache", cos), ("sin_cache", sin), ("position_ids", None),
              ("attention_bias", ab)]
    attrs = dict(num_heads=n, kv_num_heads=kvh, local_window_size=window,
                 do_rotary=int(rotary), rotary_interleaved=int(interleaved))
    if softcap:
        attrs["softcap"] = softcap
    # total_sequence_length must be known when compiling: make it a constant.
    m = model("GroupQueryAttention", inputs,
              ["output", "present_key", "present_value"], attrs,
              constants=("total_sequence_length",))
    feeds = {nm: a for nm, a in inputs
             if a is not None and nm != "total_sequence_length"}
    # Past rows of the cache that the sequence does not use stay as ORT
    # leaves them; compare only the valid prefix of present_*.
    valid = [int(s) + 1 for s in seqlens]
    return name, m, feeds, dtype, valid, None


def mha_case(name, batch=2, seq=3, kv=5, n=2, h=8, past=0, bnsh=False,
             packed_kv=False, bias=False, kpm=None, attn_bias=False,
             causal=False, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    q = rand(rng, (batch, seq, n * h), dtype)
    if bnsh:
        k, v = rand(rng, (batch, n, kv, h), dtype), rand(rng, (batch, n, kv, h), dtype)
    elif packed_kv:
        k, v = rand(rng, (batch, kv, n, 2, h), dtype), None
    else:
        k, v = rand(rng, (batch, kv, n * h), dtype), rand(rng, (batch, kv, n * h), dtype)
    b = rand(rng, (3 * n * h,), dtype) if bias else None
    pk = rand(rng, (batch, n, past, h), dtype) if past else None
    pv = rand(rng, (batch, n, past, h), dtype) if past else None
    total = past + kv
    mask = None
    if kpm == "lengths":
        mask = np.array([total - 1, total][:batch], dtype=np.int32)
    elif kpm == "2d":
        mask = (rng.random((batch, total)) < 0.8).astype(np.int32)
        mask[:, 0] = 1
    ab = rand(rng, (1, n, seq, total), dtype) if attn_bias else None
    inputs = [("query", q), ("key", k), ("value", v), ("bias", b),
              ("key_padding_mask", mask), ("attention_bias", ab),
              ("past_key", pk), ("past_value", pv)]
    outputs = ["output"] + (["present_key", "present_value"] if past else [])
    attrs = dict(num_heads=n, unidirectional=int(causal))
    m = model("MultiHeadAttention", inputs, outputs, attrs)
    feeds = {nm: a for nm, a in inputs if a is not None}
    if packed_kv:
        # ORT's CPU kernel has no packed KV: the reference runs the unpacked
        # model on the same numbers.
        unpacked = [("key", k[:, :, :, 0].reshape(batch, kv, n * h)),
                    ("value", k[:, :, :, 1].reshape(batch, kv, n * h))]
        inputs = [inputs[0]] + unpacked + inputs[3:]
        ref = (model("MultiHeadAttention", inputs, outputs, attrs),
               {nm: a for nm, a in inputs if a is not None})
        return name, m, feeds, dtype, None, ref
    return name, m, feeds, dtype, None, None


def cases():
    yield gqa_case("gqa_prompt", seq=5)
    yield gqa_case("gqa_prompt_padded", seq=5, seqlens=[4, 2])
    yield gqa_case("gqa_decode_grow", past=8)
    yield gqa_case("gqa_decode_shared_buffer", past=16, seqlens=[5, 9],
                   total=10)
    # ORT takes a chunk after a past only for batch 1.
    yield gqa_case("gqa_chunk_shared_buffer", batch=1, seq=3, past=12,
                   seqlens=[8], total=9)
    yield gqa_case("gqa_packed", seq=4, packed=True, kvh=1)
    # ORT's rotary needs head sizes that are multiples of 16.
    yield gqa_case("gqa_rotary", seq=4, rotary=True, h=16)
    yield gqa_case("gqa_rotary_decode_interleaved", past=8, rotary=True,
                   interleaved=True, seqlens=[6, 8], total=9, h=16)
    yield gqa_case("gqa_window", seq=6, window=3)
    yield gqa_case("gqa_softcap", seq=4, softcap=1.5)
    yield gqa_case("gqa_bias", batch=1, seq=3, past=4, bias=True)
    yield gqa_case("gqa_f16", past=8, dtype=np.float16)
    # Serving forms (attn.decode with per-row positions and a window): a
    # ragged decode batch with a row at position 0 and a row at the last
    # position of the shared buffer; windows on decode, on a chunk after a
    # past and on a padded prompt.
    yield gqa_case("gqa_decode_ragged_pos0_last", batch=3, past=16,
                   seqlens=[0, 15, 6], total=16)
    yield gqa_case("gqa_decode_ragged_window", batch=3, past=16,
                   seqlens=[2, 15, 9], total=16, window=4)
    yield gqa_case("gqa_chunk_window", batch=1, seq=3, past=12, seqlens=[10],
                   total=11, window=3)
    yield gqa_case("gqa_prompt_padded_window", seq=7, seqlens=[6, 3], window=2)
    yield gqa_case("gqa_decode_window_f16_softcap", batch=2, past=12,
                   seqlens=[11, 4], total=12, window=5, softcap=2.0,
                   dtype=np.float16)
    yield mha_case("mha_self")
    yield mha_case("mha_past_causal", seq=2, kv=2, past=4, causal=True)
    yield mha_case("mha_bias", bias=True)
    yield mha_case("mha_kpm_lengths", kpm="lengths")
    yield mha_case("mha_kpm_2d", kpm="2d")
    yield mha_case("mha_attention_bias", attn_bias=True)
    yield mha_case("mha_bnsh_cross", bnsh=True)
    yield mha_case("mha_packed_kv", packed_kv=True)
    # unidirectional only with as many new keys as queries: ORT's CPU kernel
    # has no consistent causal rule otherwise.
    yield mha_case("mha_f16_past", kv=3, past=3, dtype=np.float16, causal=True)


def write_malformed(directory):
    """GroupQueryAttention models whose seqlens_k is wrong (float, [B, 1],
    B + 1 entries), and GroupQueryAttention / MultiHeadAttention models whose
    key, value, past or bias has another element type than the query (an
    int16 key before the rotary once crashed the importer): attn-compile must
    refuse them with an error naming the input."""
    os.makedirs(directory, exist_ok=True)
    good = gqa_case("x", past=8)[1]
    def variant(name, input_name, dtype, shape, base=good):
        m = onnx.ModelProto()
        m.CopyFrom(base)
        for vi in m.graph.input:
            if vi.name == input_name:
                vi.CopyFrom(helper.make_tensor_value_info(input_name, dtype, shape))
        onnx.save(m, os.path.join(directory, name + ".onnx"))
    variant("seqlens_float", "seqlens_k", TensorProto.FLOAT, [2])
    variant("seqlens_rank2", "seqlens_k", TensorProto.INT32, [2, 1])
    variant("seqlens_batch", "seqlens_k", TensorProto.INT32, [3])
    rotary = gqa_case("x", rotary=True)[1]
    variant("gqa_key_int16_rotary", "key", TensorProto.INT16, [2, 1, 16], rotary)
    variant("gqa_value_f16", "value", TensorProto.FLOAT16, [2, 1, 16])
    variant("gqa_past_key_f16", "past_key", TensorProto.FLOAT16, [2, 2, 8, 8])
    mha = mha_case("x", past=2, bias=True)[1]
    variant("mha_key_f16", "key", TensorProto.FLOAT16, [2, 5, 16], mha)
    variant("mha_bias_int64", "bias", TensorProto.INT64, [48], mha)
    variant("mha_past_value_bf16", "past_value", TensorProto.BFLOAT16, [2, 2, 2, 8], mha)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--write-malformed", action="store_true",
                    help="only write the malformed models into --work")
    ap.add_argument("--attn-run", default="attn-run")
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if args.write_malformed:
        write_malformed(args.work)
        return
    failed = total = 0
    for name, m, feeds, dtype, valid, ref in cases():
        if args.only not in name:
            continue
        total += 1
        base = os.path.join(args.work, name)
        onnx.save(m, base + ".onnx")
        np.savez(base + ".in.npz", **feeds)
        ref_model, ref_feeds = ref if ref else (m, feeds)
        sess = ort.InferenceSession(ref_model.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        want = dict(zip([o.name for o in sess.get_outputs()],
                        sess.run(None, ref_feeds)))
        proc = subprocess.run([args.attn_run, base + ".onnx", "--inputs",
                               base + ".in.npz", "--outputs",
                               base + ".out.npz"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"FAIL {name}: attn-run exited {proc.returncode}\n"
                  + proc.stdout + proc.stderr)
            failed += 1
            continue
        got = np.load(base + ".out.npz")
        atol, rtol = (5e-3, 5e-3) if dtype == np.float16 else (1e-5, 1e-4)
        ok, notes = True, []
        for key, w in want.items():
            a = got[key].astype(np.float64)
            w = w.astype(np.float64)
            if a.shape != w.shape:
                ok = False
                notes.append(f"{key}: shape {a.shape} != {w.shape}")
                continue
            if valid is not None and key.startswith("present"):
                a = np.concatenate([a[i, :, :valid[i]] .reshape(-1)
                                    for i in range(a.shape[0])])
                w = np.concatenate([w[i, :, :valid[i]].reshape(-1)
                                    for i in range(w.shape[0])])
            err = np.abs(a - w)
            ok &= bool((err <= atol + rtol * np.abs(w)).all())
            notes.append(f"{key}: max err {err.max():.2g}")
        print(("PASS " if ok else "FAIL ") + name + ": " + "; ".join(notes))
        failed += not ok
    print(f"{total - failed}/{total} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
