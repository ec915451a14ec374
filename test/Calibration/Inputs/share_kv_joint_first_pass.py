"""Inputs and checks for share-kv-joint-first-pass.test.

`make DIR`: random_decoder.py's decoder with a second layer (fresh random
weights of the same shapes), 256 calibration windows of 16 tokens,
held-out windows and the unconverted model's held-out logits
(original.npy).
`check DIR`: from the compile logs of one pass on the original model's
activations (original.log) and on the aligned-converted model's
(aligned.log): the first attention's start error is the same in both (its
input, the embeddings, does not depend on the conversion), the second's
differs (its input does); the held-out KL against the original of both
(original.npz, aligned.npz) is below aligned sharing's (plain.npz).
"""
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import random_decoder as R  # noqa: E402
import share_kv_joint as J  # noqa: E402


def main():
    out = Path(sys.argv[2])
    if sys.argv[1] == "make":
        rng = np.random.default_rng(7)
        w = R.random_weights(rng, mix=(0.5, 0.85))
        w.layers.append(R.random_weights(rng, mix=(0.5, 0.85)).layers[0])
        w.n_layer = 2
        s = 16
        calib = rng.integers(0, w.vocab, (256, s))
        held = rng.integers(0, w.vocab, (8, s))
        R.save(out, w, s, calib, held)
        np.save(out / "original.npy", R.E.forward(w, held))
        return
    starts = {}
    for name in ("original", "aligned"):
        text = (out / f"{name}.log").read_text()
        starts[name] = re.findall(r"output error aligned (\S+), fitted", text)
        print(name, "start errors", " ".join(starts[name]))
    ok = len(starts["original"]) == 2 and len(starts["aligned"]) == 2
    same0 = ok and starts["original"][0] == starts["aligned"][0]
    diff1 = ok and starts["original"][1] != starts["aligned"][1]
    print("first attention: same input" if same0 else "FIRST ATTENTION DIFFERS")
    print("second attention: other input" if diff1 else "SECOND ATTENTION SAME")
    ref = np.load(out / "original.npy")
    kls = {n: J.kl(ref, np.load(out / f"{n}.npz")["logits"])
           for n in ("plain", "original", "aligned")}
    for n, e in kls.items():
        print(f"held-out KL {n} {e:.4f}")
    better = max(kls["original"], kls["aligned"]) < kls["plain"]
    print("both fits beat aligned" if better else "A FIT DOES NOT BEAT ALIGNED")
    sys.exit(0 if same0 and diff1 and better else 1)


if __name__ == "__main__":
    main()
