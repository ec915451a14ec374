"""Checks attn-reference's latent (MLA) attn.decode against NumPy.

The NumPy model appends the new latent and rotary rows at each row's
position, then attends with keys concat(latent, rope) and values = latent
over the prefix [0, pos[b] + Sn), causal (query row i at pos[b] + Sn - Sq + i).
"""
import argparse
import os
import subprocess
import sys

import numpy as np


def mlir(b, h, sq, sn, smax, r, rope, scale):
    def t(*s):
        return "tensor<" + "x".join(map(str, s)) + "xf32>"
    q, c, rr, o = t(b, h, sq, r + rope), t(b, 1, sn, r), t(b, 1, sn, rope), t(b, h, sq, r)
    lc, rc = t(b, 1, smax, r), t(b, 1, smax, rope)
    return f"""func.func @step(%q: {q}, %c: {c}, %r: {rr}, %lc: {lc}, %rc: {rc}, %pos: tensor<{b}xi64>) -> ({o}, {lc}, {rc}) {{
  %o = tensor.empty() : {o}
  %res:3 = attn.decode heads({h}, 1) scale({scale}) causal latent({r}) ins(%q, %c, %r : {q}, {c}, {rr}) positions(%pos : tensor<{b}xi64>) outs(%o, %lc, %rc : {o}, {lc}, {rc}) -> {o}, {lc}, {rc}
  return %res#0, %res#1, %res#2 : {o}, {lc}, {rc}
}}
"""


def model(q, c, rr, lc, rc, pos, scale):
    lc, rc = lc.astype(np.float64).copy(), rc.astype(np.float64).copy()
    b, h, sq, _ = q.shape
    sn = c.shape[2]
    out = np.zeros((b, h, sq, lc.shape[3]))
    for row in range(b):
        p = int(pos[row])
        lc[row, 0, p:p + sn] = c[row, 0]
        rc[row, 0, p:p + sn] = rr[row, 0]
        end = p + sn
        keys = np.concatenate([lc[row, 0, :end], rc[row, 0, :end]], axis=-1)
        values = lc[row, 0, :end]
        for i in range(sq):
            at = end - sq + i
            s = q[row, :, i].astype(np.float64) @ keys.T * scale
            s[:, at + 1:] = -np.inf
            w = np.exp(s - s.max(axis=-1, keepdims=True))
            w /= w.sum(axis=-1, keepdims=True)
            out[row, :, i] = w @ values
    return out, lc, rc


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compiled", action="store_true",
                    help="also compile each case (attn-compile, cpu) and run it "
                         "(attn-run) against the reference")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    cases = [(2, 4, 1, 1, 32, 16, 4), (2, 8, 3, 3, 48, 8, 2), (1, 3, 2, 2, 17, 5, 3),
             (1, 16, 1, 1, 700, 24, 8)]
    bad = 0
    for n, (b, h, sq, sn, smax, r, rope) in enumerate(cases):
        scale = 1.0 / np.sqrt(r + rope)
        f = lambda *s: rng.standard_normal(s).astype(np.float32)
        q, c, rr = f(b, h, sq, r + rope), f(b, 1, sn, r), f(b, 1, sn, rope)
        lc, rc = f(b, 1, smax, r), f(b, 1, smax, rope)
        pos = rng.integers(0, smax - sn + 1, size=b).astype(np.int64)
        path = os.path.join(args.workdir, f"case{n}")
        with open(path + ".mlir", "w") as fh:
            fh.write(mlir(b, h, sq, sn, smax, r, rope, float(np.float64(scale))))
        np.savez(path + ".in.npz", input_0=q, input_1=c, input_2=rr, input_3=lc,
                 input_4=rc, input_5=pos)
        subprocess.run(["attn-reference", path + ".mlir", "--inputs", path + ".in.npz",
                        "--outputs", path + ".ref.npz"], check=True)
        got = np.load(path + ".ref.npz")
        want = model(q, c, rr, lc, rc, pos, float(np.float32(scale)))
        ok = all(np.allclose(got[f"output_{i}"], want[i], atol=1e-5, rtol=1e-4)
                 for i in range(3))
        if args.compiled:
            subprocess.run(["attn-compile", path + ".mlir", "-o", path + ".so"], check=True)
            subprocess.run(["attn-run", path + ".so", "--inputs", path + ".in.npz",
                            "--outputs", path + ".out.npz"], check=True)
            ran = np.load(path + ".out.npz")
            ok = ok and all(np.allclose(ran[f"output_{i}"], got[f"output_{i}"],
                                        atol=1e-5, rtol=1e-3) for i in range(3))
        print(f"case {n}: {'agree' if ok else 'DIFFER'}")
        bad += not ok
    print(f"{len(cases) - bad}/{len(cases)} latent cases agree")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
