#!/usr/bin/env python3
"""GQA -> MLA on a trained decoder, without training, against GQA -> MQA.

Model, text and metrics as bench/share_kv_trained.py (SmolLM2-135M-Instruct,
9 query / 3 KV heads of 64, 30 layers; calibration 16 x 64 tokens from the
first half of Python's reference manual, held-out 8 x 128 from the second;
mean KL(original || converted), top-1 agreement, perplexity).

The latent conversion (TransMLA-style, weight level, numpy), per layer, on
the converted model's own activations of the calibration tokens:

- rotary part: dims i and i + hd/2 of a head are one complex plane that RoPE
  multiplies by a phase, the same for every head, so a complex combination of
  the heads' planes commutes with RoPE. Per plane the shared rotary key is the
  first complex principal component of the KV heads' planes (weighted by the
  energy of the queries that read them), each KV head keeps its complex scale
  of it (folded into the queries). `rope` / 2 planes get one: the most
  energetic (`--select energy`) or the ones whose loss hurts most once their
  rotation is dropped (`--select rotation`: energy times the mean of
  |1 - e^{i w d}|^2 over distances d < --context);
- latent: what the shared rotary key does not hold (every other plane, and
  the residual of the kept planes) loses its RoPE (NoPE, as TransMLA does),
  and joins the values in one joint PCA of the concatenated [W_K; W_V] head
  blocks applied to the calibration activations; the key columns weighted by
  the energy of the queries that read them, the value columns by the O
  projection of the query heads that read them (the keys' block scaled to
  the values' total energy); the top `rank` components are the latent.
  Per token the cache holds rank + rope floats: at rank + rope = 128 that is
  one KV head of 64 (K + V), the MQA cache.

Decode in the absorbed form attends over [latent, rotary key] as MQA with
head dim rank + rope (the up-projections fold into Q and O); here the model
is evaluated in the equivalent per-head form (each head's keys and values
rebuilt from the latent and the shared rotary key).

  bench/share_kv_mla.py [--work DIR] [--configs 32:96,64:64] [--select energy,rotation]
      [--baselines mean,aligned] [--no-append]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "export"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import export_trained_decoder as E  # noqa: E402
import share_kv_trained as T  # noqa: E402


def plane_frequencies(w) -> np.ndarray:
    return 1.0 / w.theta ** (np.arange(0, w.hd, 2, dtype=np.float64) / w.hd)


def convert_layer(w, L, h, q, rope: int, rank: int, select: str, context: int,
                  residual: str) -> dict:
    """The latent form of layer L fitted on its normed input h [B, S, d] and
    rotated queries q [B, Hq, S, hd] (calibration tokens)."""
    hd, half, hkv, hq = w.hd, w.hd // 2, w.n_kv, w.n_head
    qpk = hq // hkv
    x = h.reshape(-1, h.shape[-1]).astype(np.float64)
    wk = L["wk"].astype(np.float64).reshape(hkv, hd, -1)
    wv = L["wv"].astype(np.float64).reshape(hkv, hd, -1)
    wo = L["wo"].astype(np.float64).reshape(-1, hq, hd)
    # Query energy per KV head and plane: how much each key plane matters.
    qe = (q[:, :, :, :half].astype(np.float64) ** 2 +
          q[:, :, :, half:].astype(np.float64) ** 2).mean((0, 2))       # [Hq, planes]
    alpha = qe.reshape(hkv, qpk, half).sum(1) + 1e-12                    # [Hkv, planes]
    sa = np.sqrt(alpha)

    # Rotary part: the first complex principal component of every plane.
    wz = wk[:, :half] + 1j * wk[:, half:]                                # [Hkv, planes, d]
    z = np.einsum("nd,gpd->png", x, wz)                                  # [planes, N, Hkv]
    _, sv, vh = np.linalg.svd(z * sa.T[:, None, :], full_matrices=False)
    u = vh[:, 0, :].conj()                                               # [planes, Hkv]
    c = sa.T * u                                    # shared = sum_g c_g z_g
    beta = u.conj() / sa.T                          # z_g ~ beta_g shared
    energy = sv[:, 0] ** 2
    score = energy
    if select == "rotation":
        d = np.arange(context, dtype=np.float64)
        score = energy * (2 - 2 * np.cos(np.outer(plane_frequencies(w), d))).mean(1)
    kept = np.sort(np.argsort(-score)[:rope // 2])
    shared = np.einsum("pg,gpd->pd", c, wz)[kept]                        # [P/2, d] complex

    # NoPE key rows: every plane not kept, the residual of the kept ones.
    wn = wk.copy()
    for idx, p in enumerate(kept):
        res = wz[:, p] - beta[p][:, None] * shared[idx][None]
        if residual == "drop":
            res = np.zeros_like(res)
        wn[:, p], wn[:, p + half] = res.real, res.imag

    # Joint PCA of [NoPE keys, values] on the calibration activations.
    key_w = np.concatenate([sa, sa], 1).reshape(-1)                      # [Hkv * hd]
    roots, inv_roots = [], []
    for g in range(hkv):
        s_ = sum(wo[:, hh].T @ wo[:, hh] for hh in range(g * qpk, (g + 1) * qpk))
        ev, vec = np.linalg.eigh(s_)
        ev = np.maximum(ev, ev.max() * 1e-8)
        roots.append(vec @ np.diag(np.sqrt(ev)) @ vec.T)
        inv_roots.append(vec @ np.diag(1 / np.sqrt(ev)) @ vec.T)
    yk = (x @ wn.reshape(hkv * hd, -1).T) * key_w
    yv = np.concatenate([x @ wv[g].T @ roots[g] for g in range(hkv)], 1)
    balance = np.sqrt((yv ** 2).sum() / max((yk ** 2).sum(), 1e-30))
    yk *= balance
    _, _, vt = np.linalg.svd(np.concatenate([yk, yv], 1), full_matrices=False)
    basis = vt[:rank].T                                                  # [2 Hkv hd, r]
    # Column weights S: key dims key_w * balance, value blocks roots; the
    # latent is x W^T S basis and W^T ~ latent basis^T S^-1.
    nk = hkv * hd
    w_lat = (wn.reshape(nk, -1).T * (key_w * balance)) @ basis[:nk] + sum(
        wv[g].T @ roots[g] @ basis[nk + g * hd:nk + (g + 1) * hd] for g in range(hkv))
    up_k = basis[:nk].T / (key_w * balance)                              # [r, Hkv hd]
    up_v = np.concatenate([basis[nk + g * hd:nk + (g + 1) * hd].T @ inv_roots[g]
                           for g in range(hkv)], 1)                      # [r, Hkv hd]
    return {"kept": kept, "shared": shared, "beta": beta[kept], "w_lat": w_lat,
            "up_k": up_k, "up_v": up_v}


def latent_attention(w, L, M, h):
    """The converted layer's attention context [B, Hq, S, hd] on h."""
    b, s, _ = h.shape
    hd, half, hkv, hq = w.hd, w.hd // 2, w.n_kv, w.n_head
    cos, sin = E.rope_tables(hd, w.theta, np.arange(s))
    q = E.mm(h, L["wq"]).reshape(b, s, hq, hd).transpose(0, 2, 1, 3)
    qr = E.rotate(q, cos[None, None], sin[None, None]).astype(np.float64)
    x = h.reshape(-1, h.shape[-1]).astype(np.float64)
    kept = M["kept"]
    # Shared rotary key, rotated: [B, S, P/2] complex.
    sz = (x @ M["shared"].T).reshape(b, s, -1)
    phase = np.exp(1j * np.outer(np.arange(s), plane_frequencies(w)[kept]))
    sz = sz * phase[None]
    lat = x @ M["w_lat"]                                                 # [N, r]
    kn = (lat @ M["up_k"]).reshape(b, s, hkv, hd).transpose(0, 2, 1, 3)
    v = (lat @ M["up_v"]).reshape(b, s, hkv, hd).transpose(0, 2, 1, 3)
    kz = M["beta"].T[None, :, None, :] * sz[:, None]                     # [B, Hkv, S, P/2]
    k = np.concatenate([kz.real, kz.imag, kn], -1)
    qz = qr[..., kept] + 1j * qr[..., kept + half]
    qq = np.concatenate([qz.real, qz.imag, q.astype(np.float64)], -1)
    return attend(qq.astype(np.float32), k.astype(np.float32), v.astype(np.float32),
                  1 / np.sqrt(hd))


def attend(q, k, v, scale):
    """Causal attention with the given scale; q [B, Hq, S, Dq], v [B, Hkv, S, Dv]."""
    b, hq, s, _ = q.shape
    rep = hq // k.shape[1]
    mask = np.triu(np.full((s, s), -np.inf, np.float32), 1)
    out = np.empty((b, hq, s, v.shape[-1]), np.float32)
    for i in range(b):
        for h in range(hq):
            sc = q[i, h] @ k[i, h // rep].T * np.float32(scale) + mask
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            out[i, h] = (sc / sc.sum(-1, keepdims=True)) @ v[i, h // rep]
    return out


def convert(w, calib, rope, rank, select, context, residual):
    """Per-layer latent forms, fitted on the converted model's activations."""
    maps = []

    def attention(i, h, q, k, v):
        M = convert_layer(w, w.layers[i], h, q, rope, rank, select, context, residual)
        maps.append(M)
        return latent_attention(w, w.layers[i], M, h)

    E.forward(w, calib, attention=attention)
    return maps


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/attn-share-kv-trained")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/attn-mlir/weights"))
    ap.add_argument("--configs", default="0:128,16:112,32:96,64:64",
                    help="rope:rank pairs (cache floats per token = rope + rank)")
    ap.add_argument("--select", default="energy,rotation")
    ap.add_argument("--residual", default="nope", choices=("nope", "drop"))
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--baselines", default="mean,aligned")
    ap.add_argument("--layers", type=int, help="only the first N layers (quick checks)")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    model_dir = os.path.join(args.work, "model")
    if not os.path.exists(os.path.join(model_dir, "model.onnx")):
        import subprocess
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "export",
                                                     "export_trained_decoder.py"),
                        "--out", model_dir, "--cache", args.cache], check=True)
    w = E.Weights(E.locate_gguf(args.cache), args.layers)
    held = dict(np.load(os.path.join(model_dir, "heldout.npz")))
    targets = np.load(os.path.join(model_dir, "heldout_targets.npy"))
    calib = np.load(os.path.join(model_dir, "calibration.npz"))["input_ids"]
    ref_path = os.path.join(args.work, "reference.npy" if not args.layers
                            else f"reference-{args.layers}.npy")
    if os.path.exists(ref_path):
        ref = np.load(ref_path)
    else:
        ref = E.forward(w, held["input_ids"])
        np.save(ref_path, ref)
    hd = w.hd
    rows = []
    for method in filter(None, args.baselines.split(",")):
        t = time.time()
        wt = T.convert(w, calib, 1, method)
        seconds = time.time() - t
        rows.append((f"MQA {method} (1 KV head)", 2 * hd,
                     T.metrics(ref, E.forward(wt, held["input_ids"]), targets), seconds))
        print(rows[-1], flush=True)
    for cfg in args.configs.split(","):
        rope, rank = (int(x) for x in cfg.split(":"))
        for select in args.select.split(","):
            if rope == 0 and select != args.select.split(",")[0]:
                continue
            t = time.time()
            maps = convert(w, calib, rope, rank, select, args.context, args.residual)
            seconds = time.time() - t
            got = E.forward(w, held["input_ids"], attention=lambda i, h, q, k, v:
                            latent_attention(w, w.layers[i], maps[i], h))
            name = f"MLA rank {rank} + rope {rope}" + (f" ({select})" if rope else "")
            rows.append((name, rank + rope, T.metrics(ref, got, targets), seconds))
            print(rows[-1], flush=True)

    lines = ["| method | cache floats/token/layer | KL nats/token | top-1 = original | "
             "perplexity | convert s |", "| --- | ---: | ---: | ---: | ---: | ---: |",
             f"| unconverted (3 KV heads) | {2 * w.n_kv * hd} | 0 | 100% | "
             f"{T.metrics(ref, ref, targets)['ppl']:.2f} | |"]
    for name, floats, m, t in rows:
        lines.append(f"| {name} | {floats} | {m['kl']:.3f} | {100 * m['top1']:.1f}% | "
                     f"{m['ppl']:.2f} | {t:.0f} |")
    table = "\n".join(lines)
    print(table)
    if args.no_append:
        return
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
        f.write(f"""
## GQA -> MLA on a trained decoder (SmolLM2-135M, latent + shared rotary key)

- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: 2 shared cores (load average {os.getloadavg()[0]:.1f} at the end)
- command: `bench/share_kv_mla.py --configs {args.configs} --select {args.select} --residual {args.residual} --context {args.context} --baselines {args.baselines}`
- model, text, metrics: as `bench/share_kv_trained.py` (same export, calibration 16 x 64, held-out 8 x 128 tokens){f"; first {args.layers} layers only" if args.layers else ""}

{table}
""")


if __name__ == "__main__":
    main()
