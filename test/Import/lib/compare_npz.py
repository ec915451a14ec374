#!/usr/bin/env python3
"""compare_npz.py GOT.npz WANT.npz [--atol A] [--rtol R]: every array of WANT
must be in GOT with the same shape and |got - want| <= atol + rtol * |want|.
Prints the worst error per array; exits 1 on a mismatch."""

import argparse
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("got")
    ap.add_argument("want")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=0.0)
    args = ap.parse_args()
    got, want = np.load(args.got), np.load(args.want)
    ok = True
    for key in want.files:
        w = want[key].astype(np.float64)
        if key not in got.files:
            print(f"{key}: missing")
            ok = False
            continue
        g = got[key].astype(np.float64)
        if g.shape != w.shape:
            print(f"{key}: shape {g.shape} != {w.shape}")
            ok = False
            continue
        err = np.abs(g - w)
        good = bool((err <= args.atol + args.rtol * np.abs(w)).all()) and \
            not np.isnan(g).any()
        print(f"{key}: max abs err {err.max():.3g} {'ok' if good else 'FAIL'}")
        ok &= good
    print("match" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
