#!/usr/bin/env python3
"""A model of decode-step matrix-vector products and its float64 reference.

  matvec_case.py --mlir M.mlir --inputs IN.npz --reference REF.npz [--transposed]

Outputs (x [M..., K] by weights [K, N], plus a bias-like initial output of 0
after linalg.fill):
  f32_m1    [1, 301]   x [301, 1000] f32  -> f32   (N % 16 = 8, K odd)
  f16_m4    [4, 517]   x [517, 200]  f16  -> f16   (f32 x, f16 weights and
                                                    output, rows past the
                                                    last block of 4)
  bf16_m3   [3, 1, 260] x [260, 37]  bf16 -> f32   (two row loops, N < 3
                                                    vectors)
  bf16_m8   [8, 1024]  x [1024, 96]  bf16 -> f32   (batch-8 decode, 8 chunks)
  nan_inf   [2, 300]   x [300, 40]   f32  -> f32   (a NaN in row 0 of x: all
                                                    its columns NaN; an inf
                                                    weight times row 1's 0:
                                                    one NaN column)
  f16_wide  [1, 203]   x [203, 5000] f16  -> f32   (partial row past L1:
                                                    blocks of 4 rows, 3 left)
With --transposed every weight is stored [N, K] and read through the map
(.., n, k) -> (n, k) (ONNX Gemm with transB: the dot-product form of
convert-contraction-to-vectors).
bf16 arrays are stored as uint16 bits (what attn-run reads and writes).
"""

import argparse

import numpy as np


def bf16_bits(a):
    """Rounds f32 to bf16 (nearest even) and returns the uint16 bits."""
    bits = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


CASES = [
    # name, x shape, K, N, weight type, output type
    ("f32_m1", (1,), 301, 1000, "f32", "f32"),
    ("f16_m4", (4,), 517, 200, "f16", "f16"),
    ("bf16_m3", (3, 1), 260, 37, "bf16", "f32"),
    ("bf16_m8", (8,), 1024, 96, "bf16", "f32"),
    ("nan_inf", (2,), 300, 40, "f32", "f32"),
    ("f16_wide", (1,), 203, 5000, "f16", "f32"),
]


def shape_str(shape, element):
    return "tensor<" + "x".join(str(d) for d in shape) + "x" + element + ">"


def model_text(transposed):
    args, results, body, returns = [], [], [], []
    for name, rows, k, n, wtype, otype in CASES:
        wshape = (n, k) if transposed else (k, n)
        xs, ws, os_ = shape_str(rows + (k,), "f32"), shape_str(wshape, wtype), \
            shape_str(rows + (n,), otype)
        args.append(f'%x_{name}: {xs} {{attn.name = "x_{name}"}}')
        args.append(f'%w_{name}: {ws} {{attn.name = "w_{name}"}}')
        results.append(f'{os_} {{attn.name = "{name}"}}')
        r = len(rows)
        dims = ", ".join(f"d{i}" for i in range(r + 2))
        row_dims = ", ".join(f"d{i}" for i in range(r))
        n_dim, k_dim = f"d{r}", f"d{r + 1}"
        weight_dims = f"{n_dim}, {k_dim}" if transposed else f"{k_dim}, {n_dim}"
        widen_b = f"%bw = arith.extf %b : {wtype} to f32" if wtype != "f32" else ""
        widen_c = f"%cw = arith.extf %c : {otype} to f32" if otype != "f32" else ""
        round_s = f"%so = arith.truncf %s : f32 to {otype}" if otype != "f32" else ""
        generic = [
            f"  %zero_{name} = arith.constant 0.0 : {otype}",
            f"  %empty_{name} = tensor.empty() : {os_}",
            f"  %init_{name} = linalg.fill ins(%zero_{name} : {otype}) "
            f"outs(%empty_{name} : {os_}) -> {os_}",
            f"  %{name} = linalg.generic {{indexing_maps = ["
            f"affine_map<({dims}) -> ({row_dims}, {k_dim})>, "
            f"affine_map<({dims}) -> ({weight_dims})>, "
            f"affine_map<({dims}) -> ({row_dims}, {n_dim})>], iterator_types = ["
            + ", ".join(['"parallel"'] * (r + 1)) + ', "reduction"]} '
            f"ins(%x_{name}, %w_{name} : {xs}, {ws}) outs(%init_{name} : {os_}) {{",
            f"  ^bb0(%a: f32, %b: {wtype}, %c: {otype}):",
            f"    {widen_b}",
            f"    {widen_c}",
            f"    %m = arith.mulf %a, {'%bw' if widen_b else '%b'} : f32",
            f"    %s = arith.addf {'%cw' if widen_c else '%c'}, %m : f32",
            f"    {round_s}",
            f"    linalg.yield {'%so' if round_s else '%s'} : {otype}",
            f"  }} -> {os_}",
        ]
        body.append("\n".join(line for line in generic if line.strip()))
        returns.append((f"%{name}", os_))
    text = "func.func @forward(" + ",\n    ".join(args) + ")\n    -> (" + \
        ", ".join(results) + ") {\n"
    text += "\n".join(body) + "\n"
    text += "  return " + ", ".join(v for v, _ in returns) + " : " + \
        ", ".join(t for _, t in returns) + "\n}\n"
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mlir", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--transposed", action="store_true",
                        help="store the weights [N, K]")
    args = parser.parse_args()
    rng = np.random.default_rng(1234)
    inputs, reference = {}, {}
    for name, rows, k, n, wtype, otype in CASES:
        x = rng.uniform(-1, 1, rows + (k,)).astype(np.float32)
        w = rng.uniform(-1, 1, (k, n)).astype(np.float32)
        if name == "nan_inf":
            x[0, 17] = np.nan   # row 0: every column NaN
            x[1, 5] = 0.0       # row 1: 0 x inf, column 3 NaN
            w[5, 3] = np.inf
        if wtype == "f16":
            w = w.astype(np.float16)
            wide = w.astype(np.float64)
        elif wtype == "bf16":
            w = bf16_bits(w)
            wide = bf16_value(w)
        else:
            wide = w.astype(np.float64)
        ref = np.matmul(x.astype(np.float64), wide)
        inputs[f"x_{name}"] = x
        inputs[f"w_{name}"] = np.ascontiguousarray(w.T) if args.transposed else w
        reference[name] = ref
    np.savez(args.inputs, **inputs)
    np.savez(args.reference, **reference)
    with open(args.mlir, "w") as f:
        f.write(model_text(args.transposed))


if __name__ == "__main__":
    main()
