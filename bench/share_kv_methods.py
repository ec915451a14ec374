#!/usr/bin/env python3
"""GQA -> MQA conversion methods on a trained decoder, measured on held-out text.

Research prototype (numpy) for issue 11: which training-free conversion of
SmolLM2-135M (9 query / 3 KV heads of 64, 30 layers) to 1 KV head moves the
next-token distribution least. Every method rewrites the weights so the
converted model computes 1 K and 1 V head (Shazeer's multi-query form); the
per-query-head maps fold into the Q and O projections.

Methods (--methods, comma separated):
  mean          the group's K and V projection rows averaged;
  aligned       bench/share_kv_trained.py's `aligned` (RoPE-plane complex
                rank-1 keys, output-weighted value PCA);
  aligned+fit   bench/share_kv_trained.py's `aligned+fit` (O refit);
  joint[:opts]  aligned, then per layer a joint local fit of the merged K
                and V projections, the Q projection and the O projection
                (L-BFGS on the attention output's squared error, with a
                ridge toward the aligned weights), layer by layer on the
                converted model's own activations. Options, '/' separated:
                  target=local   the original attention on the converted
                                 input (default);
                  target=global  the original model's residual stream after
                                 the attention (corrects the error that
                                 earlier layers left);
                  free=kvqo      which projections the fit changes;
                  iters=N        L-BFGS iterations per layer (default 80);
                  ridge=R        relative ridge toward the aligned weights
                                 (default 1e-3);
                  weight=norm    weight the squared error of dimension j of
                                 token t by g_j^2 / rms_t^2 (what later RMS
                                 norms read; default none).
              The default (`joint`) is the best measured: bench/RESULTS.md,
              "Joint layer-wise fit of K, V, Q and O".

  bench/share_kv_methods.py [--work DIR] [--layers N] [--convert N] [--watch]
      [--methods ...] [--calib-batch 16 --calib-len 64] [--log FILE]

--convert N converts only the first N layers (a cheap probe); --watch also
reports each layer's local error on the held-out tokens (the fit never sees
them). Keep OMP_NUM_THREADS=1 on shared machines.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import share_kv_trained as T  # noqa: E402

E = T.E


# --------------------------------------------------------------------------
# Data: the same calibration / held-out windows as export_trained_decoder.py


def load_data(work: str, w, calib_batch: int, calib_len: int, eval_batch: int,
              eval_len: int, seed: int = 0):
    """Held-out windows exactly as export_trained_decoder.py draws them
    (after 16 x 64 calibration windows, seed 0), whatever the calibration
    size, so every calibration size is measured on the same held-out text;
    calibration of another size is drawn with seed + 1."""
    path = os.path.join(work, f"data-{calib_batch}x{calib_len}-{eval_batch}x{eval_len}.npz")
    if os.path.exists(path):
        d = np.load(path)
        return d["calib"], d["held"], d["targets"]
    tok = E.Tokenizer(w)
    ids = tok.encode(E.corpus_text())
    half = len(ids) // 2
    rng = np.random.default_rng(seed)
    calib = E.windows(ids[:half], 16, 64, rng)
    held = E.windows(ids[half:], eval_batch, eval_len + 1, rng)
    if (calib_batch, calib_len) != (16, 64):
        calib = E.windows(ids[:half], calib_batch, calib_len, np.random.default_rng(seed + 1))
    np.savez(path, calib=calib, held=held[:, :-1], targets=held[:, 1:])
    return calib, held[:, :-1], held[:, 1:]


# --------------------------------------------------------------------------
# One attention layer with one KV head: forward and backward in float64


def rot(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


class Attn:
    """Attention of one layer on fixed normed inputs H [B, S, d]."""

    def __init__(self, h, cos, sin, hq, hd):
        # float32 products (twice as fast on these cores); the optimiser
        # keeps its state in float64.
        self.h = h.astype(np.float32)
        self.hf = self.h.reshape(-1, h.shape[-1])
        self.cos, self.sin = cos.astype(np.float32), sin.astype(np.float32)
        self.hq, self.hd = hq, hd
        s = h.shape[1]
        self.mask = np.triu(np.full((s, s), -1e30, np.float32), 1)

    def forward(self, p):
        p = {n: v.astype(np.float32) for n, v in p.items()}
        b, s, _ = self.h.shape
        hq, hd = self.hq, self.hd
        q = (self.hf @ p["wq"].T).reshape(b, s, hq, hd).transpose(0, 2, 1, 3)
        k = (self.hf @ p["wk"].T).reshape(b, s, 1, hd).transpose(0, 2, 1, 3)
        v = (self.hf @ p["wv"].T).reshape(b, s, 1, hd).transpose(0, 2, 1, 3)
        qr = q * self.cos + rot(q) * self.sin
        kr = k * self.cos + rot(k) * self.sin
        sc = qr @ kr.transpose(0, 1, 3, 2) / np.float32(np.sqrt(hd)) + self.mask
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        pr = sc / sc.sum(-1, keepdims=True)
        ctx = pr @ v                                            # [B, Hq, S, hd]
        cf = ctx.transpose(0, 2, 1, 3).reshape(b * s, hq * hd)
        out = cf @ p["wo"].T
        return out, (qr, kr, v, pr, cf)

    def backward(self, p, cache, dout):
        p = {n: v.astype(np.float32) for n, v in p.items()}
        dout = dout.astype(np.float32)
        b, s, _ = self.h.shape
        hq, hd = self.hq, self.hd
        qr, kr, v, pr, cf = cache
        g = {"wo": dout.T @ cf}
        dctx = (dout @ p["wo"]).reshape(b, s, hq, hd).transpose(0, 2, 1, 3)
        dpr = dctx @ v.transpose(0, 1, 3, 2)
        dv = (pr.transpose(0, 1, 3, 2) @ dctx).sum(1)           # [B, S, hd]
        dsc = pr * (dpr - (dpr * pr).sum(-1, keepdims=True)) / np.float32(np.sqrt(hd))
        dqr = dsc @ kr                                          # [B, Hq, S, hd]
        dkr = (dsc.transpose(0, 1, 3, 2) @ qr).sum(1)           # [B, S, hd]
        c, sn = self.cos[:, 0], self.sin[:, 0]
        dq = dqr * self.cos - rot(dqr * self.sin)
        dk = dkr * c - rot(dkr * sn)
        g["wq"] = dq.transpose(0, 2, 1, 3).reshape(b * s, hq * hd).T @ self.hf
        g["wk"] = dk.reshape(b * s, hd).T @ self.hf
        g["wv"] = dv.reshape(b * s, hd).T @ self.hf
        return {n: v.astype(np.float64) for n, v in g.items()}


def lbfgs(fg, x0, iters: int, memory: int = 10):
    """Minimise fg(x) -> (f, grad) with L-BFGS and backtracking (Armijo)."""
    x = x0.copy()
    f, g = fg(x)
    ss, ys = [], []
    for _ in range(iters):
        d = -g
        alphas = []
        for s_, y_ in reversed(list(zip(ss, ys))):
            a = (s_ @ d) / (y_ @ s_)
            alphas.append(a)
            d = d - a * y_
        if ss:
            d = d * ((ss[-1] @ ys[-1]) / (ys[-1] @ ys[-1]))
        for (s_, y_), a in zip(zip(ss, ys), reversed(alphas)):
            d = d + s_ * (a - (y_ @ d) / (y_ @ s_))
        slope = g @ d
        if slope >= 0:
            d, slope, ss, ys = -g, -(g @ g), [], []
        step = 1.0 if ss else 1.0 / max(1e-12, np.sqrt(g @ g))
        for _ in range(20):
            xn = x + step * d
            fn, gn = fg(xn)
            if fn <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s_, y_ = xn - x, gn - g
        if s_ @ y_ > 1e-12:
            ss.append(s_)
            ys.append(y_)
            if len(ss) > memory:
                ss.pop(0)
                ys.pop(0)
        x, f, g = xn, fn, gn
    return x, f


def fit_layer(attn: Attn, init: dict, target, free: str, iters: int, ridge: float,
              weight=None):
    """Minimise ||out - target||_W^2 / ||target||_W^2 + ridge * sum_g
    ||p_g - init_g||^2 / ||init_g||^2 over the projections named in `free`."""
    names = [n for n, c in (("wk", "k"), ("wv", "v"), ("wq", "q"), ("wo", "o")) if c in free]
    p0 = {n: init[n].astype(np.float64) for n in ("wq", "wk", "wv", "wo")}
    shapes = [p0[n].shape for n in names]
    sizes = [p0[n].size for n in names]
    scale = {n: 1.0 / (p0[n] ** 2).sum() for n in names}
    wgt = np.ones((1, target.shape[1])) if weight is None else weight
    tn = 1.0 / (wgt * target ** 2).sum()

    def unpack(x):
        p, at = dict(p0), 0
        for n, sh, sz in zip(names, shapes, sizes):
            p[n] = x[at:at + sz].reshape(sh)
            at += sz
        return p

    def fg(x):
        p = unpack(x)
        out, cache = attn.forward(p)
        r = out.astype(np.float64) - target
        f = (wgt * r * r).sum() * tn
        g = attn.backward(p, cache, 2 * tn * wgt * r)
        parts = []
        for n in names:
            dlt = p[n] - p0[n]
            f += ridge * scale[n] * (dlt * dlt).sum()
            parts.append((g[n] + 2 * ridge * scale[n] * dlt).ravel())
        return f, np.concatenate(parts)

    x0 = np.concatenate([p0[n].ravel() for n in names])
    f0 = fg(x0)[0]
    x, f = lbfgs(fg, x0, iters)
    return unpack(x), f0, f


# --------------------------------------------------------------------------
# Conversion, layer by layer on the converted model's activations


def parse(method: str) -> tuple[str, dict]:
    name, _, rest = method.partition(":")
    opts = {"target": "local", "free": "kvqo", "iters": "80", "ridge": "1e-3",
            "weight": "none"}
    for item in filter(None, rest.split("/")):
        k, _, v = item.partition("=")
        if k not in opts:
            sys.exit(f"error: method {method!r}: unknown option {k!r}")
        opts[k] = v
    return name, opts


def local_error(w, L, new, x, cos, sin) -> float:
    """Relative squared error of `new`'s attention output against the
    original attention `L`'s on the same residual stream x."""
    h = E.rms(x, L["attn_norm"], w.eps)
    ref = T.attention_out(*T.qkv(w, L, h, cos, sin), L["wo"])
    got = T.attention_out(*T.qkv(w, new, h, cos, sin), new["wo"])
    return float(((got - ref) ** 2).sum() / (ref ** 2).sum())


def convert(w, calib: np.ndarray, method: str, log, held: np.ndarray | None = None,
            first: int | None = None):
    """`held`: tokens on which each layer's local error is also reported
    (the fit never sees them); `first`: convert only the first N layers
    (the others stay as they are: a cheap probe of a method)."""
    name, opts = parse(method)
    if first is not None and first < len(w.layers):
        head = copy.copy(w)
        head.layers = w.layers[:first]
        wt = convert(head, calib, method, log, held)
        wt.layers = wt.layers + w.layers[first:]
        return wt
    if name in ("mean", "aligned", "aligned+fit", "aligned-pca"):
        return T.convert(w, calib, 1, name)
    if name != "joint":
        sys.exit(f"error: unknown method {name!r}")
    wt = copy.copy(w)
    wt.layers = []
    b, s = calib.shape
    cos, sin = E.rope_tables(w.hd, w.theta, np.arange(s))
    cos, sin = cos[None, None], sin[None, None]
    if held is not None:
        hcos, hsin = E.rope_tables(w.hd, w.theta, np.arange(held.shape[1]))
        hcos, hsin = hcos[None, None], hsin[None, None]
        xh = w.embed[held]
    x = w.embed[calib].astype(np.float32)
    xo = x.copy()                          # the original model's residual stream
    for i, L in enumerate(w.layers):
        h = E.rms(x, L["attn_norm"], w.eps)
        q, k, v = T.qkv(w, L, h, cos, sin)
        new = T.merge_layer(w, L, h, q, 1, "aligned", weighted=True)
        ho = E.rms(xo, L["attn_norm"], w.eps)
        ao = T.attention_out(*T.qkv(w, L, ho, cos, sin), L["wo"])
        if opts["target"] == "local":
            target = T.attention_out(q, k, v, L["wo"])
        elif opts["target"] == "global":
            target = xo + ao - x
        else:
            sys.exit(f"error: target {opts['target']!r}: expected local or global")
        attn = Attn(h, cos, sin, w.n_head, w.hd)
        weight = None
        if opts["weight"] == "norm":
            # What later layers read of the residual stream: x / rms(x) * g,
            # so an error in dimension j of token t counts g_j^2 / rms_t^2
            # (g_j^2 averaged over every later norm).
            gs = [w.layers[i]["ffn_norm"]] + [n for M in w.layers[i + 1:]
                                               for n in (M["attn_norm"], M["ffn_norm"])]
            gs.append(w.final_norm)
            omega = np.mean([g.astype(np.float64) ** 2 for g in gs], 0)
            ms = ((xo + ao).astype(np.float64) ** 2).mean(-1).reshape(-1, 1)
            weight = omega[None] / ms
        elif opts["weight"] != "none":
            sys.exit(f"error: weight {opts['weight']!r}: expected none or norm")
        t0 = time.time()
        p, f0, f1 = fit_layer(attn, new, target.reshape(b * s, -1).astype(np.float64),
                              opts["free"], int(opts["iters"]), float(opts["ridge"]), weight)
        fitted = dict(new)
        for n in ("wq", "wk", "wv", "wo"):
            fitted[n] = p[n].astype(np.float32)
        line = f"  layer {i}: calibration loss {f0:.4f} -> {f1:.4f} ({time.time() - t0:.1f} s)"
        if held is not None:
            e0 = local_error(w, L, new, xh, hcos, hsin)
            e1 = local_error(w, L, fitted, xh, hcos, hsin)
            line += f"; held-out local error {e0:.4f} -> {e1:.4f}"
            hh = E.rms(xh, L["attn_norm"], w.eps)
            xh = T.mlp(w, fitted, xh + T.attention_out(*T.qkv(w, fitted, hh, hcos, hsin),
                                                      fitted["wo"]))
        log(line)
        new = fitted
        x = T.mlp(w, new, x + T.attention_out(*T.qkv(w, new, h, cos, sin), new["wo"]))
        xo = T.mlp(w, L, xo + ao)
        wt.layers.append(new)
    wt.n_kv = 1
    return wt


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/attn-share-kv-methods")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/attn-mlir/weights"))
    ap.add_argument("--layers", type=int, help="keep only the first N layers")
    ap.add_argument("--methods", default="mean,aligned,aligned+fit,joint")
    ap.add_argument("--calib-batch", type=int, default=16)
    ap.add_argument("--calib-len", type=int, default=64)
    ap.add_argument("--eval-batch", type=int, default=8)
    ap.add_argument("--eval-len", type=int, default=128)
    ap.add_argument("--convert", type=int,
                    help="convert only the first N layers (the rest stay unconverted)")
    ap.add_argument("--watch", action="store_true",
                    help="report each layer's local error on the held-out tokens too")
    ap.add_argument("--log", help="also append the lines printed to this file")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)

    def log(line):
        print(line, flush=True)
        if args.log:
            with open(args.log, "a") as f:
                f.write(line + "\n")

    w = E.Weights(E.locate_gguf(args.cache), args.layers)
    calib, held, targets = load_data(args.work, w, args.calib_batch, args.calib_len,
                                     args.eval_batch, args.eval_len)
    ref_path = os.path.join(args.work, f"reference-{w.n_layer}-{held.shape[0]}x{held.shape[1]}.npy")
    if os.path.exists(ref_path):
        ref = np.load(ref_path)
    else:
        ref = E.forward(w, held)
        np.save(ref_path, ref)
    log(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, load "
        f"{os.getloadavg()[0]:.1f}; {w.n_layer} layers, {args.convert or w.n_layer} converted; calibration {calib.shape[0]}x"
        f"{calib.shape[1]}, held-out {held.shape[0]}x{held.shape[1]}; "
        f"unconverted perplexity {T.metrics(ref, ref, targets)['ppl']:.2f}")
    for method in args.methods.split(","):
        t = time.time()
        wt = convert(w, calib, method, log, held if args.watch else None, args.convert)
        seconds = time.time() - t
        m = T.metrics(ref, E.forward(wt, held), targets)
        log(f"| {method} | {m['kl']:.3f} | {100 * m['top1']:.1f}% | {m['ppl']:.2f} | "
            f"{seconds:.0f} |")


if __name__ == "__main__":
    main()
