#!/usr/bin/env python3
"""Writes a matrix-product case: a .mlir function (linalg on tensors), its
random inputs (.npz) and numpy's product in float64 of the rounded inputs
(.npz), for attn-compile / attn-run / compare.py.

  gemm_case.py --m M --k K --n N [--batch B] [--rows3d] [--form kn|nk|batch]
      [--dtype f16|bf16] [--out f16|bf16|f32] [--init] --mlir F --inputs F --ref F

--form kn: y[.., n] = x[.., k] W[k, n] (the importer's MatMul of a weight);
nk: W is [n, k] (a transposed weight, linalg.matmul with transposed maps);
batch: linalg.batch_matmul of [B, M, K] and [B, K, N]. --rows3d writes x and
y as [1, M, ..] (the importer's 3-D form). --init adds a third input as the
product's initial value (else the output starts from zeros, linalg.fill).
bf16 arrays are stored as their uint16 bits (what attn-run reads).
"""

import argparse

import numpy as np

TYPES = {"f16": "f16", "bf16": "bf16", "f32": "f32"}


def rounded(x, dtype):
    """float64 x rounded to dtype: (array to store, its value as float64)."""
    if dtype == "f16":
        a = x.astype(np.float16)
        return a, a.astype(np.float64)
    if dtype == "f32":
        a = x.astype(np.float32)
        return a, a.astype(np.float64)
    bits = x.astype(np.float32).view(np.uint32)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return bits, (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def tensor(shape, t):
    return "tensor<" + "x".join(str(s) for s in shape) + f"x{t}>"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--m", type=int, required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--rows3d", action="store_true")
    ap.add_argument("--form", choices=("kn", "nk", "batch"), default="kn")
    ap.add_argument("--dtype", choices=("f16", "bf16"), default="f16")
    ap.add_argument("--out", choices=("f16", "bf16", "f32"))
    ap.add_argument("--init", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mlir", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--ref", required=True)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    m, k, n, t = args.m, args.k, args.n, TYPES[args.dtype]
    o = TYPES[args.out or args.dtype]
    if args.form == "batch":
        xs, ws, ys = [args.batch, m, k], [args.batch, k, n], [args.batch, m, n]
    else:
        lead = [1] if args.rows3d else []
        xs, ys = lead + [m, k], lead + [m, n]
        ws = [k, n] if args.form == "kn" else [n, k]
    x, xv = rounded(rng.standard_normal(xs), args.dtype)
    w, wv = rounded(rng.standard_normal(ws) / np.sqrt(k), args.dtype)
    feeds = {"x": x, "w": w}
    if args.form == "batch":
        expected = np.matmul(xv, wv)
    elif args.form == "kn":
        expected = np.matmul(xv, wv)
    else:
        expected = np.matmul(xv, wv.T)
    if args.init:
        c, cv = rounded(rng.standard_normal(ys), o)
        feeds["c"] = c
        expected = expected + cv
    np.savez(args.inputs, **feeds)
    np.savez(args.ref, y=rounded(expected, o)[0] if o != "bf16" else expected.astype(np.float32))

    rank = len(ys)
    if args.form == "batch":
        op = "linalg.batch_matmul"
        maps = ""
    elif args.rows3d:
        op = "linalg.generic"
        maps = None
    else:
        op = "linalg.matmul"
        wmap = "(m, n, k) -> (k, n)" if args.form == "kn" else "(m, n, k) -> (n, k)"
        maps = (" indexing_maps = [affine_map<(m, n, k) -> (m, k)>, "
                f"affine_map<{wmap}>, affine_map<(m, n, k) -> (m, n)>]")
    lines = [f'func.func @gemm(%x: {tensor(xs, t)} {{attn.name = "x"}}, '
             f'%w: {tensor(ws, t)} {{attn.name = "w"}}'
             + (f', %c: {tensor(ys, o)} {{attn.name = "c"}}' if args.init else "")
             + f') -> ({tensor(ys, o)} {{attn.name = "y"}}) {{']
    if args.init:
        init = "%c"
    else:
        lines += [f"  %zero = arith.constant 0.0 : {o}",
                  f"  %empty = tensor.empty() : {tensor(ys, o)}",
                  f"  %init = linalg.fill ins(%zero : {o}) outs(%empty : {tensor(ys, o)}) "
                  f"-> {tensor(ys, o)}"]
        init = "%init"
    if maps is None:
        wmap = "(b, s, n, k) -> (k, n)" if args.form == "kn" else "(b, s, n, k) -> (n, k)"
        ext = "" if t == o else f"arith.extf %a : {t} to {o}"
        body = ["  ^bb0(%a: {t}, %b: {t}, %acc: {o}):".format(t=t, o=o)]
        if t == o:
            body += [f"    %p = arith.mulf %a, %b : {o}"]
        else:
            body += [f"    %ea = {ext}", f"    %eb = arith.extf %b : {t} to {o}",
                     f"    %p = arith.mulf %ea, %eb : {o}"]
        body += [f"    %s = arith.addf %acc, %p : {o}", f"    linalg.yield %s : {o}", f"  }} -> {tensor(ys, o)}"]
        lines += [f"  %y = linalg.generic {{indexing_maps = [affine_map<(b, s, n, k) -> (b, s, k)>, "
                  f"affine_map<{wmap}>, affine_map<(b, s, n, k) -> (b, s, n)>], iterator_types = "
                  '["parallel", "parallel", "parallel", "reduction"]} '
                  f"ins(%x, %w : {tensor(xs, t)}, {tensor(ws, t)}) outs({init} : {tensor(ys, o)}) {{"]
        lines += body
    else:
        lines += [f"  %y = {op}{maps} ins(%x, %w : {tensor(xs, t)}, {tensor(ws, t)}) "
                  f"outs({init} : {tensor(ys, o)}) -> {tensor(ys, o)}"]
    lines += [f"  return %y : {tensor(ys, o)}", "}"]
    with open(args.mlir, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
