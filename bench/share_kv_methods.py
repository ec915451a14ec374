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
                                 norms read; default none);
                  maps=qo        Q and/or O not free matrices but the
                                 aligned ones times one 64 x 64 map per
                                 query head (fewer free weights);
                  rank=R         Q and O (not in maps) the aligned ones
                                 plus a rank-R update U V^T (fewer free
                                 weights; ridge on U and V);
                  fitb=N         calibration windows the attention fit
                                 reads (default 16, the export's; more
                                 with --calib-extra);
                  val=N          the next N windows: early stopping (keep
                                 the L-BFGS iterate, checked every 5, with
                                 the lowest loss on them);
                  mlp=down       block-output refit: after the attention
                                 fit, the MLP down projection by ridge
                                 least squares (mridge=R, default 1e-2,
                                 toward the original) so the block output
                                 matches the original block on the
                                 converted input, on every calibration
                                 window (--calib-extra adds windows);
                  mlp=in         the MLP's input map: after the attention
                                 fit, one d x d map A (ridge least squares,
                                 iridge=R, default 1e-2, toward I) from the
                                 converted block's normed MLP input to the
                                 one the original attention gives on the
                                 same stream, folded into the gate and up
                                 projections (W A^T): the pre-activations
                                 are corrected before the nonlinearity;
                  mlp=in+down    both, the input map first;
                  drift=L        with mlp=down: the block target moved by
                                 L x (original model's stream - that
                                 target) (default 0).
              The best measured is `joint:fitb=32/mlp=down/drift=0.25` with
              --calib-extra 112 (bench/RESULTS.md, "GQA -> MQA on
              SmolLM2-135M: what closes the gap of the joint fit"); plain
              `joint` is the fit of "Joint layer-wise fit of K, V, Q and O".

  bench/share_kv_methods.py [--work DIR] [--layers N] [--convert N] [--watch]
      [--methods ...] [--calib-batch 16 --calib-len 64] [--calib-extra N]
      [--calib-synth N [--synth-prefix P] [--synth-temperature T]] [--log FILE]

--calib-synth N adds N windows that the unconverted model writes itself
(sampled after the first P tokens of a calibration window): measured on the
8-layer screen, they do not stand in for real text (bench/RESULTS.md).

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
              eval_len: int, seed: int = 0, extra: int = 0):
    """Held-out windows exactly as export_trained_decoder.py draws them
    (after 16 x 64 calibration windows, seed 0), whatever the calibration
    size, so every calibration size is measured on the same held-out text;
    calibration of another size is drawn with seed + 1. `extra`: that many
    more windows of 64 tokens appended to the 16 x 64 export windows (drawn
    with seed + 1 from the first half's other 64-token slots, so the
    calibration set grows without repeating text; the held-out half is
    never touched)."""
    tag = f"+{extra}" if extra else ""
    path = os.path.join(work, f"data-{calib_batch}x{calib_len}{tag}-{eval_batch}x{eval_len}.npz")
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
    elif extra:
        slots = half // 64
        used = set(np.random.default_rng(seed).choice(slots, size=16, replace=False).tolist())
        free = np.array(sorted(set(range(slots)) - used))
        pick = np.sort(np.random.default_rng(seed + 1).choice(free, size=extra, replace=False))
        more = np.array([ids[p * 64:(p + 1) * 64] for p in pick], dtype=np.int64)
        calib = np.concatenate([calib, more])
    np.savez(path, calib=calib, held=held[:, :-1], targets=held[:, 1:])
    return calib, held[:, :-1], held[:, 1:]


def sample_windows(w, prompts: np.ndarray, count: int, length: int, prefix: int,
                   temperature: float, seed: int) -> np.ndarray:
    """`count` windows of `length` tokens that the unconverted model writes
    itself: window j starts with the first `prefix` tokens of calibration
    window j % len(prompts) and continues by sampling the model's next-token
    distribution at `temperature` (an incremental forward with a KV cache,
    float32). Data the user did not have to supply: what the model says."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((count, length), np.int64)
    ids[:, :prefix] = prompts[np.arange(count) % prompts.shape[0], :prefix]
    cos, sin = E.rope_tables(w.hd, w.theta, np.arange(length))
    # Per layer K and V caches [count, Hkv, length, hd], filled position by position.
    caches = np.zeros((len(w.layers), 2, count, w.n_kv, length, w.hd), np.float32)
    for t in range(length - 1):
        x = w.embed[ids[:, t]][:, None, :]
        c, s_ = cos[None, None, t:t + 1], sin[None, None, t:t + 1]
        for i, L in enumerate(w.layers):
            q, k, v = T.qkv(w, L, E.rms(x, L["attn_norm"], w.eps), c, s_)
            caches[i, :, :, :, t:t + 1] = k, v
            K, V = caches[i, 0, :, :, :t + 1], caches[i, 1, :, :, :t + 1]
            rep = w.n_head // w.n_kv
            qg = q.reshape(count, w.n_kv, rep, w.hd)
            sc = np.einsum("bgrd,bgsd->bgrs", qg, K) / np.float32(np.sqrt(w.hd))
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            sc /= sc.sum(-1, keepdims=True)
            ctx = np.einsum("bgrs,bgsd->bgrd", sc, V).reshape(count, 1, w.n_head * w.hd)
            x = T.mlp(w, L, x + E.mm(ctx, L["wo"]))
        if t + 1 < prefix:
            continue
        logits = E.mm(E.rms(x[:, 0], w.final_norm, w.eps), w.lm_head).astype(np.float64)
        logits /= temperature
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        u = rng.random((count, 1))
        ids[:, t + 1] = np.minimum((np.cumsum(p, -1) < u).sum(-1), p.shape[1] - 1)
    return ids


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


def lbfgs(fg, x0, iters: int, memory: int = 10, callback=None):
    """Minimise fg(x) -> (f, grad) with L-BFGS and backtracking (Armijo)."""
    x = x0.copy()
    f, g = fg(x)
    ss, ys = [], []
    for it in range(iters):
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
        if callback is not None and (it % 5 == 4 or it == iters - 1):
            callback(it + 1, x)
    return x, f


def fit_layer(attn: Attn, init: dict, target, free: str, iters: int, ridge: float,
              weight=None, val=None, maps: str = "", rank: int = 0):
    """Minimise ||out - target||_W^2 / ||target||_W^2 + ridge * sum_g
    ||p_g - init_g||^2 / ||init_g||^2 over the projections named in `free`.
    Projections named in `maps` ('q', 'o') are not free matrices but the
    initial ones times one hd x hd map per query head (Wq_h = M_h Wq0_h,
    Wo_h = Wo0_h M_h; 9 x 64 x 64 parameters instead of 576 x 576), with
    the ridge on M - I. With `rank` > 0, Q and O (those not in `maps`) are
    the initial ones plus a rank-`rank` update U V^T (U zero and V small at
    the start), with the ridge on U and V."""
    names = [n for n, c in (("wk", "k"), ("wv", "v"), ("wq", "q"), ("wo", "o")) if c in free]
    p0 = {n: init[n].astype(np.float64) for n in ("wq", "wk", "wv", "wo")}
    hq, hd = attn.hq, attn.hd
    mapped = {n for n in names if n[1] in maps}
    lowrank = {n for n in names if rank > 0 and n in ("wq", "wo") and n not in mapped}
    eye = np.broadcast_to(np.eye(hd), (hq, hd, hd))
    rng = np.random.default_rng(0)

    def start(n):
        if n in mapped:
            return eye.copy()
        if n in lowrank:
            o, i = p0[n].shape
            return np.concatenate([np.zeros((o, rank)),
                                   rng.standard_normal((i, rank)) / np.sqrt(i)])
        return p0[n]
    v0 = {n: start(n) for n in names}
    shapes = [v0[n].shape for n in names]
    sizes = [v0[n].size for n in names]
    scale = {n: 1.0 / ((p0[n] if n in lowrank else v0[n]) ** 2).sum() for n in names}
    wq0 = p0["wq"].reshape(hq, hd, -1)
    wo0 = p0["wo"].reshape(-1, hq, hd).transpose(1, 0, 2)         # [Hq, D, hd]
    wgt = np.ones((1, target.shape[1])) if weight is None else weight
    tn = 1.0 / (wgt * target ** 2).sum()

    def weights(vals):
        p = dict(p0)
        for n, v in vals.items():
            if n in lowrank:
                o = p0[n].shape[0]
                p[n] = p0[n] + v[:o] @ v[o:].T
            elif n not in mapped:
                p[n] = v
            elif n == "wq":
                p[n] = np.matmul(v, wq0).reshape(hq * hd, -1)
            else:
                p[n] = np.matmul(wo0, v).transpose(1, 0, 2).reshape(-1, hq * hd)
        return p

    def back(n, v, g):
        if n in lowrank:
            o = p0[n].shape[0]
            return np.concatenate([g @ v[o:], g.T @ v[:o]])
        if n not in mapped:
            return g
        if n == "wq":
            return np.matmul(g.reshape(hq, hd, -1), wq0.transpose(0, 2, 1))
        return np.matmul(wo0.transpose(0, 2, 1), g.reshape(-1, hq, hd).transpose(1, 0, 2))

    def split(x):
        vals, at = {}, 0
        for n, sh, sz in zip(names, shapes, sizes):
            vals[n] = x[at:at + sz].reshape(sh)
            at += sz
        return vals

    def unpack(x):
        return weights(split(x))

    def fg(x):
        vals = split(x)
        p = weights(vals)
        out, cache = attn.forward(p)
        r = out.astype(np.float64) - target
        f = (wgt * r * r).sum() * tn
        g = attn.backward(p, cache, 2 * tn * wgt * r)
        parts = []
        for n in names:
            dlt = vals[n] - v0[n]
            f += ridge * scale[n] * (dlt * dlt).sum()
            parts.append((back(n, vals[n], g[n]) + 2 * ridge * scale[n] * dlt).ravel())
        return f, np.concatenate(parts)

    x0 = np.concatenate([v0[n].ravel() for n in names])
    f0 = fg(x0)[0]
    if val is None:
        x, f = lbfgs(fg, x0, iters)
        return unpack(x), f0, f, ""
    # Early stopping: keep the iterate with the lowest loss on `val`
    # (attention, target) windows that the fit does not read.
    va, vt = val
    vn = 1.0 / (vt ** 2).sum()

    def vloss(x):
        out, _ = va.forward(unpack(x))
        return float(((out.astype(np.float64) - vt) ** 2).sum() * vn)

    best = [vloss(x0), x0, 0]
    first = best[0]

    def watch(it, x):
        e = vloss(x)
        if e < best[0]:
            best[:] = [e, x.copy(), it]

    x, f = lbfgs(fg, x0, iters, callback=watch)
    return (unpack(best[1]), f0, fg(best[1])[0],
            f" (validation {first:.4f} -> {best[0]:.4f} at iteration {best[2]} of {iters})")


# --------------------------------------------------------------------------
# Conversion, layer by layer on the converted model's activations


def parse(method: str) -> tuple[str, dict]:
    name, _, rest = method.partition(":")
    opts = {"target": "local", "free": "kvqo", "iters": "80", "ridge": "1e-3",
            "weight": "none", "fitb": "16", "val": "0", "mlp": "none",
            "mridge": "1e-2", "iridge": "1e-2", "drift": "0", "maps": "", "rank": "0"}
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


def block(w, L, x, cos, sin):
    """The whole block (attention + MLP, residual adds included) on x."""
    h = E.rms(x, L["attn_norm"], w.eps)
    return T.mlp(w, L, x + T.attention_out(*T.qkv(w, L, h, cos, sin), L["wo"]))


def block_error(w, L, new, x, cos, sin) -> float:
    """Relative squared error of `new`'s block update (output - input)
    against the original block's on the same residual stream x."""
    ref = block(w, L, x, cos, sin) - x
    got = block(w, new, x, cos, sin) - x
    return float(((got - ref) ** 2).sum() / (ref ** 2).sum())


def mlp_hidden(w, L, x):
    """The SwiGLU activations [N, F] that the down projection reads."""
    h = E.rms(x, L["ffn_norm"], w.eps)
    g = E.mm(h, L["w_gate"])
    z = (g / (1 + np.exp(-g))) * E.mm(h, L["w_up"])
    return z.reshape(-1, z.shape[-1])


def refit_down(w, new, L, x1, target, ridge: float):
    """Ridge least squares of the down projection so that the converted
    block's output x1 + down(z(x1)) matches `target` (both [N, D]), toward
    the original down projection: W^T = (Z^T Z + lam I)^-1 (Z^T R + lam W0^T),
    R = target - x1, lam = ridge * trace(Z^T Z) / F."""
    z = mlp_hidden(w, new, x1).astype(np.float64)
    r = (target - x1).reshape(z.shape[0], -1).astype(np.float64)
    gram = z.T @ z
    lam = ridge * np.trace(gram) / gram.shape[0]
    w0 = L["w_down"].astype(np.float64)
    sol = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), z.T @ r + lam * w0.T)
    return sol.T.astype(np.float32)


def refit_input_map(w, L, x1, target_stream, ridge: float) -> dict:
    """The MLP's input map: A = argmin ||H1 A - Ht||^2 + lam ||A - I||^2 with
    H1 the converted block's normed MLP input (on x1) and Ht the one the
    original attention would give (on target_stream = x + T), lam = ridge *
    trace(H1^T H1) / d; folded into the gate and up projections (W A^T), so
    the MLP's pre-activations on the converted stream match the original
    attention's, before the nonlinearity (which a down refit cannot undo)."""
    h1 = E.rms(x1, L["ffn_norm"], w.eps).reshape(-1, x1.shape[-1]).astype(np.float64)
    ht = E.rms(target_stream, L["ffn_norm"], w.eps).reshape(h1.shape).astype(np.float64)
    gram = h1.T @ h1
    lam = ridge * np.trace(gram) / gram.shape[0]
    eye = np.eye(gram.shape[0])
    a = np.linalg.solve(gram + lam * eye, h1.T @ ht + lam * eye)
    return {n: (L[n].astype(np.float64) @ a.T).astype(np.float32) for n in ("w_gate", "w_up")}


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
        return T.convert(w, calib[:min(int(opts["fitb"]), calib.shape[0])], 1, name)
    if name != "joint":
        sys.exit(f"error: unknown method {name!r}")
    # fitb: the export's 16 windows by default (all of a smaller set).
    fitb, nval = min(int(opts["fitb"]), calib.shape[0]), int(opts["val"])
    if fitb + nval > calib.shape[0]:
        sys.exit(f"error: fitb={fitb} + val={nval} windows but the calibration set has "
                 f"{calib.shape[0]} (pass --calib-extra)")
    if opts["mlp"] not in ("none", "down", "in", "in+down"):
        sys.exit(f"error: mlp {opts['mlp']!r}: expected none, down, in or in+down")
    drift = float(opts["drift"])
    wt = copy.copy(w)
    wt.layers = []
    b, s = calib.shape
    cos, sin = E.rope_tables(w.hd, w.theta, np.arange(s))
    cos, sin = cos[None, None], sin[None, None]
    if held is not None:
        hcos, hsin = E.rope_tables(w.hd, w.theta, np.arange(held.shape[1]))
        hcos, hsin = hcos[None, None], hsin[None, None]
        xh = w.embed[held]
    # Every calibration window propagates (the down refit reads them all);
    # the attention fit reads the first `fitb`, early stopping the next `val`.
    x = w.embed[calib].astype(np.float32)
    xo = x.copy()                          # the original model's residual stream
    fit, va = slice(0, fitb), slice(fitb, fitb + nval)
    for i, L in enumerate(w.layers):
        h = E.rms(x, L["attn_norm"], w.eps)
        q, k, v = T.qkv(w, L, h, cos, sin)
        new = T.merge_layer(w, L, h[fit], q[fit], 1, "aligned", weighted=True)
        ho = E.rms(xo, L["attn_norm"], w.eps)
        ao = T.attention_out(*T.qkv(w, L, ho, cos, sin), L["wo"])
        t_all = T.attention_out(q, k, v, L["wo"])       # original attention, converted input
        if opts["target"] == "local":
            target = t_all
        elif opts["target"] == "global":
            target = xo + ao - x
        else:
            sys.exit(f"error: target {opts['target']!r}: expected local or global")
        attn = Attn(h[fit], cos, sin, w.n_head, w.hd)
        weight = None
        if opts["weight"] == "norm":
            # What later layers read of the residual stream: x / rms(x) * g,
            # so an error in dimension j of token t counts g_j^2 / rms_t^2
            # (g_j^2 averaged over every later norm).
            gs = [w.layers[i]["ffn_norm"]] + [n for M in w.layers[i + 1:]
                                               for n in (M["attn_norm"], M["ffn_norm"])]
            gs.append(w.final_norm)
            omega = np.mean([g.astype(np.float64) ** 2 for g in gs], 0)
            ms = ((xo + ao)[fit].astype(np.float64) ** 2).mean(-1).reshape(-1, 1)
            weight = omega[None] / ms
        elif opts["weight"] != "none":
            sys.exit(f"error: weight {opts['weight']!r}: expected none or norm")
        val = None
        if nval:
            val = (Attn(h[va], cos, sin, w.n_head, w.hd),
                   target[va].reshape(-1, target.shape[-1]).astype(np.float64))
        t0 = time.process_time()
        p, f0, f1, note = fit_layer(attn, new, target[fit].reshape(fitb * s, -1).astype(np.float64),
                                    opts["free"], int(opts["iters"]), float(opts["ridge"]),
                                    weight, val, opts["maps"], int(opts["rank"]))
        fitted = dict(new)
        for n in ("wq", "wk", "wv", "wo"):
            fitted[n] = p[n].astype(np.float32)
        line = (f"  layer {i}: calibration loss {f0:.4f} -> {f1:.4f}{note} "
                f"({time.process_time() - t0:.1f} CPU-s)")
        if held is not None:
            e0 = local_error(w, L, new, xh, hcos, hsin)
            e1 = local_error(w, L, fitted, xh, hcos, hsin)
            line += f"; held-out local error {e0:.4f} -> {e1:.4f}"
        new = fitted
        x1 = x + T.attention_out(*T.qkv(w, new, h, cos, sin), new["wo"])
        xo_next = T.mlp(w, L, xo + ao)
        if opts["mlp"] in ("in", "in+down"):
            if held is not None:
                ei0 = block_error(w, L, new, xh, hcos, hsin)
            new = dict(new)
            new.update(refit_input_map(w, L, x1, x + t_all, float(opts["iridge"])))
            if held is not None:
                ei1 = block_error(w, L, new, xh, hcos, hsin)
                line += f"; held-out block error (input map) {ei0:.4f} -> {ei1:.4f}"
        if opts["mlp"] in ("down", "in+down"):
            # Block-output refit: the original block on the converted input
            # (+ drift * what separates it from the original model's stream).
            tgt = T.mlp(w, L, x + t_all)
            if drift:
                tgt = tgt + drift * (xo_next - tgt)
            if held is not None:
                eb0 = block_error(w, L, new, xh, hcos, hsin)
            new = dict(new)
            new["w_down"] = refit_down(w, new, L, x1, tgt, float(opts["mridge"]))
            if held is not None:
                eb1 = block_error(w, L, new, xh, hcos, hsin)
                line += f"; held-out block error {eb0:.4f} -> {eb1:.4f}"
        elif held is not None:
            line += f"; held-out block error {block_error(w, L, new, xh, hcos, hsin):.4f}"
        if held is not None:
            xh = block(w, new, xh, hcos, hsin)
        log(line)
        x = T.mlp(w, new, x1)
        xo = xo_next
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
    ap.add_argument("--calib-extra", type=int, default=0,
                    help="more 64-token calibration windows after the export's 16 x 64")
    ap.add_argument("--calib-synth", type=int, default=0,
                    help="more 64-token calibration windows that the unconverted model "
                         "samples itself, each starting with --synth-prefix tokens of a "
                         "calibration window (after any --calib-extra ones)")
    ap.add_argument("--synth-prefix", type=int, default=8)
    ap.add_argument("--synth-temperature", type=float, default=1.0)
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
                                     args.eval_batch, args.eval_len, extra=args.calib_extra)
    if args.calib_synth:
        path = os.path.join(args.work, f"synth-{w.n_layer}-{calib.shape[0]}-{args.calib_synth}"
                            f"-p{args.synth_prefix}-t{args.synth_temperature:g}.npy")
        if os.path.exists(path):
            synth = np.load(path)
        else:
            t0 = time.time()
            synth = sample_windows(w, calib, args.calib_synth, calib.shape[1], args.synth_prefix,
                                   args.synth_temperature, seed=2)
            np.save(path, synth)
            print(f"# sampled {synth.shape[0]} x {synth.shape[1]} tokens in {time.time() - t0:.0f} s",
                  flush=True)
        calib = np.concatenate([calib, synth])
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
        t, c = time.time(), time.process_time()
        wt = convert(w, calib, method, log, held if args.watch else None, args.convert)
        seconds, cpu = time.time() - t, time.process_time() - c
        m = T.metrics(ref, E.forward(wt, held), targets)
        log(f"| {method} | {args.convert or w.n_layer} | {m['kl']:.3f} | {100 * m['top1']:.1f}% "
            f"| {m['ppl']:.2f} | {cpu:.0f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
