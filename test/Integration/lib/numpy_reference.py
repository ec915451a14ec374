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
              causal_offset=None, softcap=None, window=None, query_offset=None):
    """query_offset: query row i stands at i + query_offset for the window
    (default: the causal offset, else 0)."""
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
    if window is not None:
        if query_offset is None:
            query_offset = causal_offset or 0
        p = i + query_offset  # the query's absolute position
        left, right = window
        if left >= 0:
            keep &= j >= p - left
        if right >= 0:
            keep &= j <= p + right
    if kv_lens is not None:
        keep &= j[None, None] < np.asarray(kv_lens).reshape(b, 1, 1, 1)
    s = np.where(keep, s, -np.inf)
    row_max = s.max(axis=-1, keepdims=True)
    dead = np.isneginf(row_max)
    p = np.exp(s - np.where(dead, 0.0, row_max))
    denom = np.where(dead, 1.0, p.sum(axis=-1, keepdims=True))
    return np.where(dead, 0.0, (p @ v) / denom)


def decode(q, k, v, key_cache, value_cache, positions, scale, mask=None,
           mask_kind=None, causal=False, softcap=None, window=None):
    """Row by row: each batch row appends at its own position and attends
    over its own prefix [0, position + Sn)."""
    sn, sq = k.shape[2], q.shape[2]
    key_cache, value_cache = key_cache.copy(), value_cache.copy()
    out = np.zeros(q.shape[:3] + (v.shape[3],))
    for row, position in enumerate(positions):
        key_cache[row, :, position:position + sn] = k[row]
        value_cache[row, :, position:position + sn] = v[row]
        valid = position + sn
        row_mask = None
        if mask is not None:
            full = np.broadcast_to(mask, q.shape[:3] + (key_cache.shape[2],))
            row_mask = full[row:row + 1, ..., :valid]
        out[row:row + 1] = attention(
            q[row:row + 1], key_cache[row:row + 1, :, :valid],
            value_cache[row:row + 1, :, :valid], scale, row_mask, mask_kind,
            causal_offset=valid - sq if causal else None, softcap=softcap,
            window=window, query_offset=valid - sq)
    return out, key_cache, value_cache


def paged_decode(q, k, v, key_pool, value_pool, table, positions, scale, **common):
    """Decode over page pools [pages, Hkv, page_size, *] addressed through
    `table` [B, max_pages]: the rows' prefixes gathered into contiguous
    caches, decode() on those, the appended rows scattered back."""
    page_size, sn = key_pool.shape[2], k.shape[2]
    capacity = table.shape[1] * page_size
    where = lambda row, t: (int(table[row, t // page_size]), t % page_size)
    caches = []
    for pool in (key_pool, value_pool):
        cache = np.zeros((q.shape[0], pool.shape[1], capacity, pool.shape[3]))
        for row, position in enumerate(positions):
            for t in range(position):
                page, slot = where(row, t)
                cache[row, :, t] = pool[page, :, slot]
        caches.append(cache)
    out, kc, vc = decode(q, k, v, caches[0], caches[1], positions, scale, **common)
    pools = []
    for pool, cache in ((key_pool, kc), (value_pool, vc)):
        pool = pool.copy()
        for row, position in enumerate(positions):
            for t in range(position, position + sn):
                page, slot = where(row, t)
                pool[page, :, slot] = cache[row, :, t]
        pools.append(pool)
    return out, pools[0], pools[1]


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
        window = cfg.get("window")
        return {"out": attention(x["query"], x["key"], x["value"], cfg["scale"],
                                 kv_lens=lens, causal_offset=cfg["causal"],
                                 window=window, **common)}
    positions = (cfg["positions"] if cfg.get("positions") is not None
                 else [int(inputs["position"])] * cfg["batch"])
    if cfg.get("page_size"):
        out, kc, vc = paged_decode(x["query"], x["key"], x["value"],
                                   widen(inputs["key_cache"], dt),
                                   widen(inputs["value_cache"], dt), inputs["block_table"],
                                   positions, cfg["scale"], causal=cfg["causal"] is not None,
                                   window=cfg.get("window"), **common)
        return {"out": out, "new_key_cache": kc, "new_value_cache": vc}
    out, kc, vc = decode(x["query"], x["key"], x["value"], widen(inputs["key_cache"], dt),
                         widen(inputs["value_cache"], dt), positions,
                         cfg["scale"], causal=cfg["causal"] is not None,
                         window=cfg.get("window"), **common)
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
