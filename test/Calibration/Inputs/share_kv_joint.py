"""Inputs and checks for share-kv-joint.test.

`make DIR`: random_decoder.py's one-layer random decoder (4 query / 2
KV heads of 8, RoPE) with a larger calibration set (256 windows of 16
tokens, so that the joint fit's ~2.5k free weights meet more targets than
they have), held-out windows, and the unconverted model's held-out logits
(numpy forward of the same weights): original.npy.
`check DIR`: KL of the next-token distributions against the original on
the held-out windows for aligned (aligned.npz), joint without a pass (the
aligned maps folded into the projections: joint0.npz), aligned-fit
(fit.npz) and joint (joint.npz); the fold must be exact and joint must be
the closest.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import random_decoder as R  # noqa: E402


kl = R.kl


def main():
    out = Path(sys.argv[2])
    if sys.argv[1] == "make":
        rng = np.random.default_rng(5)
        w = R.random_weights(rng, mix=(0.5, 0.85))
        s = 16
        calib = rng.integers(0, w.vocab, (256, s))
        held = rng.integers(0, w.vocab, (8, s))
        R.save(out, w, s, calib, held)
        np.save(out / "original.npy", R.E.forward(w, held))
        return
    ref = np.load(out / "original.npy")
    got = {n: np.load(out / f"{n}.npz")["logits"]
           for n in ("aligned", "joint0", "fit", "joint")}
    fold = float(np.abs(got["joint0"] - got["aligned"]).max())
    print(f"fold: max |joint, no pass - aligned| {fold:.2e}")
    errors = {n: kl(ref, x) for n, x in got.items()}
    for n, e in errors.items():
        print(f"held-out KL {n} {e:.4f}")
    ok = fold <= 1e-5 * float(np.abs(ref).max())
    print("the fold is exact" if ok else "FOLD MISMATCH")
    best = errors["joint"] < min(errors["fit"], errors["aligned"])
    print("joint is the closest on held-out windows" if best else "JOINT NOT BEST")
    sys.exit(0 if ok and best else 1)


if __name__ == "__main__":
    main()
