"""Inputs for share-kv-joint-order.test.

`make DIR`: random_decoder.py's decoder with four layers (fresh random
weights of the same shapes for layers 2-4), 64 calibration windows of 16
tokens and held-out windows: enough attentions that the workers of a pass
take them in an order that depends on the fits' times.
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import random_decoder as R  # noqa: E402


def main():
    out = Path(sys.argv[2])
    rng = np.random.default_rng(11)
    w = R.random_weights(rng, mix=(0.5, 0.85))
    for _ in range(3):
        w.layers.append(R.random_weights(rng, mix=(0.5, 0.85)).layers[0])
    w.n_layer = len(w.layers)
    s = 16
    calib = rng.integers(0, w.vocab, (64, s))
    held = rng.integers(0, w.vocab, (8, s))
    R.save(out, w, s, calib, held)


if __name__ == "__main__":
    main()
