#!/usr/bin/env python3
"""Writes one seeded attn.attention / attn.decode test case.

Outputs: a .mlir function (static shapes, named arguments and results), an
.npz of random inputs keyed by those names, and (with --config) the case as
JSON for numpy_reference.py. Values are rounded to the input dtype here, so
every consumer sees the same numbers.

  gen_case.py --q-heads 8 --kv-heads 2 --sq 3 --skv 37 --d 16 --causal 34 \
      --mask bool --mask-shape 1x8x1x37 --mlir t.mlir --inputs t.npz
"""

import argparse
import json
import math

import numpy as np

DTYPES = {"f32": np.float32, "f16": np.float16, "bf16": np.uint16}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--op", choices=["attention", "decode"], default="attention")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--q-heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True)
    p.add_argument("--sq", type=int, default=1)
    p.add_argument("--skv", type=int, default=16, help="attention: key length")
    p.add_argument("--smax", type=int, default=64, help="decode: cache length")
    p.add_argument("--sn", type=int, default=1, help="decode: new keys")
    p.add_argument("--position", type=int, default=0, help="decode: append position")
    p.add_argument("--positions",
                   help="decode: one append position per batch row, comma-separated "
                        "(a [B] operand instead of --position)")
    p.add_argument("--positions-dtype", choices=["i32", "i64"], default="i64")
    p.add_argument("--window", help="LEFT,RIGHT sliding window (-1: unbounded side)")
    p.add_argument("--page-size", type=int,
                   help="decode: paged caches, --smax / PAGE_SIZE pages per row")
    p.add_argument("--pool-pages", type=int,
                   help="paged: pages in the pool (default: every row's pages + 3)")
    p.add_argument("--table-dtype", choices=["i32", "i64"], default="i32")
    p.add_argument("--bad-table-entry", help="paged: ROW,COLUMN,VALUE written into the table")
    p.add_argument("--shared-prefix-pages", type=int, default=0,
                   help="paged: every row reads row 0's first N pages (a shared prefix)")
    p.add_argument("--d", type=int, default=16)
    p.add_argument("--dv", type=int, help="value head size (default: --d)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="f32")
    p.add_argument("--scale", type=float, help="default 1/sqrt(d)")
    p.add_argument("--causal", type=int, nargs="?", const=0,
                   help="attention: the causal offset (default 0); decode: a flag")
    p.add_argument("--softcap", type=float)
    p.add_argument("--mask", choices=["bool", "additive"])
    p.add_argument("--mask-shape", help="e.g. 1x8x1x37 (default: [B,Hq,Sq,Skv])")
    p.add_argument("--mask-dtype", choices=sorted(DTYPES), default="f32",
                   help="element type of an additive mask")
    p.add_argument("--masked-rows", type=int, default=0,
                   help="query rows whose mask removes every key")
    p.add_argument("--kv-lens", choices=["i32", "i64"])
    p.add_argument("--kv-lens-values", help="comma-separated (default: random)")
    p.add_argument("--poison-tail", action="store_true",
                   help="decode: NaN in the caches past position+sn")
    p.add_argument("--tree", choices=["batch", "shared"],
                   help="decode: a random draft-tree mask over the new tokens "
                        "(Sq == Sn), one per row ([B,Sn,Sn]) or shared ([Sn,Sn])")
    p.add_argument("--tree-dtype", choices=["bool", "i8"], default="bool")
    p.add_argument("--ring", action="store_true",
                   help="decode: ring caches of --smax slots (causal window(L, 0)); "
                        "--poison-tail makes every slot outside the step's window NaN")
    p.add_argument("--unroll-ring", nargs=2, metavar=("MLIR", "NPZ"),
                   help="ring: also write the same step on full caches of "
                        "max(pos) + Sn positions (slots unrolled; older positions NaN)")
    p.add_argument("--latent", type=int, metavar="R",
                   help="decode: latent (MLA) caches of rank R: keys [latent, rope] "
                        "of --d = R + rope, values the latent (needs --kv-heads 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mlir")
    p.add_argument("--inputs")
    p.add_argument("--config", help="also write the case as JSON")
    return p.parse_args(argv)


def to_dtype(x, dtype):
    """Rounds float64 `x` to `dtype`; bf16 becomes its uint16 bits (round to nearest even)."""
    if dtype != "bf16":
        return x.astype(DTYPES[dtype])
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype(np.uint16)


def tensor_type(shape, element):
    return "tensor<" + "".join(f"{d}x" for d in shape) + element + ">"


def element_type(dtype):
    return {"f32": "f32", "f16": "f16", "bf16": "bf16", "bool": "i1",
            "i8": "i8", "i32": "i32", "i64": "i64"}[dtype]


def key_length(cfg):
    return cfg["skv"] if cfg["op"] == "attention" else cfg["smax"]


def make_mask(cfg, rng):
    """A mask of cfg['mask_shape'] with cfg['masked_rows'] fully masked rows."""
    shape = cfg["mask_shape"]
    if cfg["mask"] == "bool":
        mask = rng.random(shape) < 0.7
    else:
        mask = rng.standard_normal(shape) * 2.0
        mask[rng.random(shape) < 0.2] = -np.inf
    rows = shape[-2]
    for i in rng.permutation(rows)[:cfg["masked_rows"]]:
        mask[..., i, :] = False if cfg["mask"] == "bool" else -np.inf
    return mask if cfg["mask"] == "bool" else to_dtype(mask, cfg["mask_dtype"])


def row_positions(cfg):
    """Decode: the append position of every batch row."""
    if cfg["positions"] is not None:
        return cfg["positions"]
    return [cfg["position"]] * cfg["batch"]


def make_tree(cfg, rng):
    """Random draft trees over the Sn new tokens in topological order: token
    0 is the root, token i's parent is a random earlier token; row i keeps
    token t iff t is i or one of its ancestors."""
    sn = cfg["sn"]
    count = cfg["batch"] if cfg["tree"] == "batch" else 1
    trees = np.zeros((count, sn, sn), dtype=bool)
    for b in range(count):
        parent = [-1] + [int(rng.integers(0, i)) for i in range(1, sn)]
        for i in range(sn):
            t = i
            while t >= 0:
                trees[b, i, t] = True
                t = parent[t]
    if cfg["tree"] == "shared":
        trees = trees[0]
    return trees if cfg["tree_dtype"] == "bool" else trees.astype(np.int8)


def ring_held(cfg, pos, slot):
    """The position that ring slot `slot` holds before the append at `pos`
    (the latest one below pos), and whether the step may read it: it lies in
    the window [pos + Sn - Sq - L, pos) of the step's first query."""
    w, left = cfg["smax"], cfg["window"][0]
    held = pos - 1 - ((pos - 1 - slot) % w)
    return held, held >= max(0, pos + cfg["sn"] - cfg["sq"] - left)


def make_ring_caches(cfg, rng):
    out = {}
    for name, width in (("key_cache", cfg["d"]), ("value_cache", cfg["dv"])):
        cache = rng.standard_normal((cfg["batch"], cfg["kv_heads"], cfg["smax"], width))
        if cfg["poison_tail"]:
            for row, pos in enumerate(row_positions(cfg)):
                for slot in range(cfg["smax"]):
                    if not ring_held(cfg, pos, slot)[1]:
                        cache[row, :, slot] = np.nan
        out[name] = to_dtype(cache, cfg["dtype"])
    return out


def unroll_ring(cfg, inputs):
    """The same step on full caches: position t of row b is its ring slot
    t % W where that slot holds t, NaN elsewhere."""
    full = dict(cfg, ring=False, poison_tail=False)
    length = max(row_positions(cfg)) + cfg["sn"]
    full["smax"] = length
    out = dict(inputs)
    for name in ("key_cache", "value_cache"):
        ring = inputs[name]
        dtype = ring.dtype
        values = np.full(ring.shape[:2] + (length,) + ring.shape[3:], np.nan,
                         dtype=np.float64 if dtype == np.uint16 else dtype)
        if dtype == np.uint16:
            raise SystemExit("gen_case.py: --unroll-ring takes f32/f16 caches")
        for row, pos in enumerate(row_positions(cfg)):
            for slot in range(cfg["smax"]):
                held, _ = ring_held(cfg, pos, slot)
                if held >= 0:
                    values[row, :, held] = ring[row, :, slot]
        out[name] = values.astype(dtype)
    return full, out


def make_paged_caches(cfg, rng):
    """Block table and page pools (vLLM's layout): the pool's pages are
    shuffled and dealt to the rows, which share none; table entries past the
    pages a row reaches are -1 (never read). With --poison-tail every slot
    outside a row's valid prefix [0, pos) is NaN."""
    b, hkv, ps = cfg["batch"], cfg["kv_heads"], cfg["page_size"]
    max_pages = cfg["smax"] // ps
    pool = cfg["pool_pages"]
    order = [int(x) for x in rng.permutation(pool)]
    table = np.full((b, max_pages), -1, dtype=np.int64)
    for row, pos in enumerate(row_positions(cfg)):
        for col in range(-(-(max(pos, 0) + cfg["sn"]) // ps)):
            if col < max_pages and order:
                table[row, col] = order.pop()
    shared = cfg["shared_prefix_pages"]
    table[1:, :shared] = table[0, :shared]
    if cfg["bad_table_entry"]:
        row, col, value = cfg["bad_table_entry"]
        table[row, col] = value
    out = {"block_table": table.astype(np.int32 if cfg["table_dtype"] == "i32" else np.int64)}
    for name, width in (("key_cache", cfg["d"]), ("value_cache", cfg["dv"])):
        cache = rng.standard_normal((pool, hkv, ps, width))
        if cfg["poison_tail"]:
            valid = np.zeros((pool, ps), dtype=bool)
            for row, pos in enumerate(row_positions(cfg)):
                for j in range(max(pos, 0)):
                    if j // ps < max_pages and 0 <= table[row, j // ps] < pool:
                        valid[table[row, j // ps], j % ps] = True
            cache[~valid[:, None, :, None].repeat(hkv, 1).repeat(width, 3)] = np.nan
        out[name] = to_dtype(cache, cfg["dtype"])
    return out


def cache_widths(cfg):
    """Row widths of the key and value caches: D and Dv, or for a latent
    decode the rank and the rotary size."""
    if cfg.get("latent"):
        return cfg["latent"], cfg["d"] - cfg["latent"]
    return cfg["d"], cfg["dv"]


def make_inputs(cfg, rng):
    """Named input arrays in function-argument order."""
    b, hq, hkv, sq, d, dv = (cfg[k] for k in ("batch", "q_heads", "kv_heads", "sq", "d", "dv"))
    dt = cfg["dtype"]
    normal = lambda *shape: to_dtype(rng.standard_normal(shape), dt)
    inputs = {"query": normal(b, hq, sq, d)}
    if cfg["op"] == "attention":
        inputs["key"] = normal(b, hkv, cfg["skv"], d)
        inputs["value"] = normal(b, hkv, cfg["skv"], dv)
    else:
        # Latent: "key" is the new latent [B, 1, Sn, R], "value" the new
        # rotary key [B, 1, Sn, rope]; the caches are laid out the same way.
        kw, vw = cache_widths(cfg)
        inputs["key"] = normal(b, hkv, cfg["sn"], kw)
        inputs["value"] = normal(b, hkv, cfg["sn"], vw)
        if cfg["positions"] is not None:
            inputs["positions"] = np.array(
                cfg["positions"],
                dtype=np.int32 if cfg["positions_dtype"] == "i32" else np.int64)
        else:
            inputs["position"] = np.array(cfg["position"], dtype=np.int64)
        if cfg["page_size"]:
            inputs.update(make_paged_caches(cfg, rng))
        if cfg["ring"]:
            inputs.update(make_ring_caches(cfg, rng))
        for name, width in (("key_cache", kw), ("value_cache", vw)):
            if cfg["page_size"] or cfg["ring"]:
                break
            cache = rng.standard_normal((b, hkv, cfg["smax"], width))
            if cfg["poison_tail"]:
                for row, pos in enumerate(row_positions(cfg)):
                    cache[row, :, max(pos, 0) + cfg["sn"]:] = np.nan
            inputs[name] = to_dtype(cache, dt)
    if cfg["mask"]:
        inputs["mask"] = make_mask(cfg, rng)
    if cfg["op"] == "decode" and cfg["tree"]:
        inputs["tree_mask"] = make_tree(cfg, rng)
    if cfg["kv_lens"]:
        lens = cfg["kv_lens_values"]
        inputs["kv_seq_lens"] = np.array(lens, dtype=np.int32 if cfg["kv_lens"] == "i32" else np.int64)
    return inputs


def attention_attrs(cfg):
    attrs = f"heads({cfg['q_heads']}, {cfg['kv_heads']}) scale({cfg['scale']:.17e})"
    if cfg["causal"] is not None:
        attrs += " causal" if cfg["op"] == "decode" else f" causal({cfg['causal']})"
    if cfg["softcap"] is not None:
        attrs += f" softcap({cfg['softcap']:.17e})"
    if cfg["window"] is not None:
        attrs += f" window({cfg['window'][0]}, {cfg['window'][1]})"
    if cfg["op"] == "decode" and cfg["ring"]:
        attrs += " ring"
    if cfg["op"] == "decode" and cfg.get("latent"):
        attrs += f" latent({cfg['latent']})"
    return attrs


def make_mlir(cfg, inputs):
    """The function text; argument i is inputs' i-th array."""
    types = {}
    for name, array in inputs.items():
        dtype = {"bool": "bool", "int8": "i8", "int32": "i32", "int64": "i64", "float16": "f16",
                 "float32": "f32", "uint16": "bf16"}[array.dtype.name]
        types[name] = tensor_type(array.shape, element_type(dtype))
    args = ", ".join(f'%{n}: {t} {{attn.name = "{n}"}}' for n, t in types.items())
    b, hq, sq, dv = cfg["batch"], cfg["q_heads"], cfg["sq"], cfg["dv"]
    out_t = tensor_type((b, hq, sq, dv), element_type(cfg["dtype"]))
    ins = (f"ins(%query, %key, %value : {types['query']}, {types['key']}, "
           f"{types['value']})")
    mask = f" mask(%mask : {types['mask']})" if "mask" in inputs else ""
    if "tree_mask" in inputs:
        mask += f" tree_mask(%tree_mask : {types['tree_mask']})"
    body = [f"  %init = tensor.empty() : {out_t}"]
    if cfg["op"] == "attention":
        lens = (f" kv_seq_lens(%kv_seq_lens : {types['kv_seq_lens']})"
                if "kv_seq_lens" in inputs else "")
        results = [("out", out_t)]
        body.append(f"  %out = attn.attention {attention_attrs(cfg)}\n"
                    f"      {ins}{mask}{lens}\n"
                    f"      outs(%init : {out_t}) -> {out_t}")
    else:
        kc_t, vc_t = types["key_cache"], types["value_cache"]
        results = [("out", out_t), ("new_key_cache", kc_t), ("new_value_cache", vc_t)]
        if "positions" in inputs:
            position = f"positions(%positions : {types['positions']})"
            if "block_table" in inputs:
                position += f" block_table(%block_table : {types['block_table']})"
        else:
            body += ["  %pos_i64 = tensor.extract %position[] : tensor<i64>",
                     "  %pos = arith.index_cast %pos_i64 : i64 to index"]
            position = "position(%pos)"
        body += [f"  %out, %new_key_cache, %new_value_cache = attn.decode {attention_attrs(cfg)}\n"
                 f"      {ins} {position}{mask}\n"
                 f"      outs(%init, %key_cache, %value_cache : {out_t}, {kc_t}, {vc_t})\n"
                 f"      -> {out_t}, {kc_t}, {vc_t}"]
    result_types = ", ".join(f'{t} {{attn.name = "{n}"}}' for n, t in results)
    body.append(f"  return {', '.join('%' + n for n, _ in results)} : "
                f"{', '.join(t for _, t in results)}")
    return (f"// Generated by gen_case.py: {json.dumps(cfg)}\n"
            f"func.func @{cfg['op']}({args})\n    -> ({result_types}) {{\n"
            + "\n".join(body) + "\n}\n")


def make_config(args):
    """The case as a plain dict, with defaults resolved."""
    cfg = {k: v for k, v in vars(args).items()
           if k not in ("mlir", "inputs", "config", "unroll_ring")}
    cfg["dv"] = cfg["dv"] or cfg["d"]
    if cfg["scale"] is None:
        cfg["scale"] = 1.0 / math.sqrt(cfg["d"])
    if cfg["mask"]:
        full = [cfg["batch"], cfg["q_heads"], cfg["sq"], key_length(cfg)]
        cfg["mask_shape"] = ([int(s) for s in cfg["mask_shape"].split("x")]
                             if cfg["mask_shape"] else full)
    if cfg["positions"] is not None:
        cfg["positions"] = [int(x) for x in cfg["positions"].split(",")]
        if len(cfg["positions"]) != cfg["batch"]:
            raise SystemExit("gen_case.py: --positions needs --batch values")
    if cfg["window"] is not None:
        cfg["window"] = [int(x) for x in cfg["window"].split(",")]
    if cfg["tree"] and cfg["sq"] != cfg["sn"]:
        raise SystemExit("gen_case.py: --tree needs --sq equal to --sn")
    if cfg["ring"] and (cfg["window"] is None or cfg["window"][1] != 0):
        raise SystemExit("gen_case.py: --ring needs --window L,0")
    if cfg["page_size"]:
        if cfg["positions"] is None or cfg["smax"] % cfg["page_size"]:
            raise SystemExit("gen_case.py: --page-size needs --positions and "
                             "divides --smax")
        if cfg["pool_pages"] is None:
            cfg["pool_pages"] = cfg["batch"] * (cfg["smax"] // cfg["page_size"]) + 3
        if cfg["bad_table_entry"]:
            cfg["bad_table_entry"] = [int(x) for x in cfg["bad_table_entry"].split(",")]
    if cfg["latent"]:
        if (cfg["op"] != "decode" or cfg["kv_heads"] != 1 or not 0 < cfg["latent"] < cfg["d"]
                or cfg["page_size"] or cfg["ring"] or cfg["tree"]):
            raise SystemExit("gen_case.py: --latent needs --op decode, --kv-heads 1, "
                             "0 < R < --d, and no paged, ring or tree caches")
        cfg["dv"] = cfg["latent"]
    if cfg["kv_lens"]:
        rng = np.random.default_rng(cfg["seed"] + 1)
        cfg["kv_lens_values"] = ([int(s) for s in cfg["kv_lens_values"].split(",")]
                                 if cfg["kv_lens_values"] else
                                 [int(x) for x in rng.integers(0, cfg["skv"] + 1, cfg["batch"])])
    return cfg


def write_case(cfg, mlir_path, inputs_path, config_path=None, unrolled=None):
    inputs = make_inputs(cfg, np.random.default_rng(cfg["seed"]))
    with open(mlir_path, "w") as f:
        f.write(make_mlir(cfg, inputs))
    np.savez(inputs_path, **inputs)
    if config_path:
        with open(config_path, "w") as f:
            json.dump(cfg, f)
    if unrolled:
        full, full_inputs = unroll_ring(cfg, inputs)
        with open(unrolled[0], "w") as f:
            f.write(make_mlir(full, full_inputs))
        np.savez(unrolled[1], **full_inputs)


def main():
    args = parse_args()
    if not args.mlir or not args.inputs:
        raise SystemExit("gen_case.py: --mlir and --inputs are required")
    write_case(make_config(args), args.mlir, args.inputs, args.config,
               args.unroll_ring)


if __name__ == "__main__":
    main()
