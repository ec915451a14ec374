"""Writes .npz files that are wrong for Inputs/linalg-model.mlir in one way
each, into the directory given as argument."""
import os
import sys

import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(0)
good = dict(a=rng.standard_normal((64, 32)).astype(np.float32),
            b=rng.standard_normal((32, 48)).astype(np.float32),
            x=np.zeros(1000, np.float32),
            input_ids=np.arange(5, dtype=np.int64),
            offset=np.array(1, dtype=np.int64))


def save(name, **changes):
    arrays = dict(good)
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    np.savez(os.path.join(out, name + ".npz"), **arrays)


save("good")
save("missing", b=None)
save("extra", junk=np.zeros(2), more=np.zeros(3))
save("dtype", a=good["a"].astype(np.float64))
save("int-dtype", input_ids=good["input_ids"].astype(np.int32))
save("rank", a=good["a"].reshape(64, 32, 1))
save("scalar-rank", offset=np.array([1], dtype=np.int64))
save("dim", b=good["b"][:, :47].copy())
save("fortran", a=np.asfortranarray(good["a"]))
with open(os.path.join(out, "not-npz.npz"), "w") as f:
    f.write("a,b\n1,2\n")
with open(os.path.join(out, "good.npz"), "rb") as f:
    data = f.read()
with open(os.path.join(out, "truncated.npz"), "wb") as f:
    f.write(data[: len(data) // 2])
