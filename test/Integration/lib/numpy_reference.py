#!/usr/bin/env python3
"""An independent NumPy model of attn.attention / attn.decode, to cross-check attn-reference.

Written the way exported models compute attention (repeat_kv, a full score
matrix, np.where masking) and decode as slicing the valid cache prefix, so it
shares no structure with the C++ oracle (per-row loops, key lengths).

  numpy_reference.py --config case.json --inputs in.npz --outputs ref.npz
"""

import argparse
import json

import numpy as np


def widen(array, dtype):
    if dtype == "bf16" and array.dtype == np.uint16:
        return (array.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return array.astype(np.float64)


def attention(q, k, v, scale, mask=None, mask_kind=None, kv_lens=None,
              causal_offset=None, softcap=None):
    b, hq, sq, _ = q.shape
    group = hq // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    s = scale * np.einsum("bhid,bhjd->bhij", q, k)
    if softcap is not None:
        s = softcap * np.tanh(s / softcap)
    skv = k.shape[2]
    keep = np.ones(s.shape, dtype=bool)
    if mask_kind == "bool":
        keep &= np.broadcast_to(mask.astype(bool), s.shape)
    elif mask_kind == "additive":
        s = s + np.broadcast_to(mask, s.shape)
    i = np.arange(sq)[:, None]
    j = np.arange(skv)[None, :]
    if causal_offset is not None:
        keep &= j <= i + causal_offset
    if kv_lens is not None:
        keep &= j[None, None] < np.asarray(kv_lens).reshape(b, 1, 1, 1)
    s = np.where(keep, s, -np.inf)
    row_max = s.max(axis=-1, keepdims=True)
    dead = np.isneginf(row_max)
    p = np.exp(s - np.where(dead, 0.0, row_max))
    denom = np.where(dead, 1.0, p.sum(axis=-1, keepdims=True))
    return np.where(dead, 0.0, (p @ v) / denom)


def decode(q, k, v, key_cache, value_cache, position, scale, mask=None,
           mask_kind=None, causal=False, softcap=None):
    sn, sq = k.shape[2], q.shape[2]
    key_cache, value_cache = key_cache.copy(), value_cache.copy()
    key_cache[:, :, position:position + sn] = k
    value_cache[:, :, position:position + sn] = v
    valid = position + sn
    out = attention(q, key_cache[:, :, :valid], value_cache[:, :, :valid], scale,
                    mask[..., :valid] if mask is not None else None, mask_kind,
                    causal_offset=valid - sq if causal else None, softcap=softcap)
    return out, key_cache, value_cache


def evaluate(cfg, inputs):
    """Output arrays (float64) of the case `cfg` keyed like the generated function's results."""
    dt = cfg["dtype"]
    x = {n: widen(inputs[n], dt) for n in ("query", "key", "value")}
    mask = None
    if cfg["mask"]:
        mask = inputs["mask"]
        mask = mask.astype(bool) if cfg["mask"] == "bool" else widen(mask, cfg["mask_dtype"])
    common = dict(mask=mask, mask_kind=cfg["mask"], softcap=cfg["softcap"])
    if cfg["op"] == "attention":
        lens = inputs["kv_seq_lens"] if cfg["kv_lens"] else None
        return {"out": attention(x["query"], x["key"], x["value"], cfg["scale"],
                                 kv_lens=lens, causal_offset=cfg["causal"], **common)}
    out, kc, vc = decode(x["query"], x["key"], x["value"], widen(inputs["key_cache"], dt),
                         widen(inputs["value_cache"], dt), int(inputs["position"]),
                         cfg["scale"], causal=cfg["causal"] is not None, **common)
    return {"out": out, "new_key_cache": kc, "new_value_cache": vc}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--outputs", required=True)
    args = parser.parse_args()
    with open(args.config) as f:
        cfg = json.load(f)
    outputs = evaluate(cfg, dict(np.load(args.inputs)))
    np.savez(args.outputs, **{k: v.astype(np.float32) for k, v in outputs.items()})


if __name__ == "__main__":
    main()
