"""Edge values for the 8-bit cache append, and an independent check of it.

  quant_edges.py craft int8|fp8 INPUTS.npz   overwrite key/value (scale 1
      for keys, 0.5 for values) with rounding ties, saturation, subnormals
      and signed zeros, spread over the case's [B, Hkv, Sn, D] new rows
  quant_edges.py check int8|fp8 INPUTS.npz OUTPUTS.npz POSITION
      the appended rows of new_key_cache/new_value_cache must be numpy's
      int8 rint-and-clip, or ml_dtypes' float8_e4m3fn (round to nearest
      even) of clip(x / scale, -448, 448)
"""
import sys

import ml_dtypes
import numpy as np


def edges(kind, count, rng):
    if kind == "int8":
        ties = np.arange(-130, 131) + 0.5              # round half to even
        near = np.arange(-128, 129) + 0.49
        big = np.array([127.4, 127.5, 128.0, 1e6, -127.5, -128.0, -1e6, 0.0, -0.0])
        vals = np.concatenate([ties, near, -near, big])
    else:
        codes = np.arange(256, dtype=np.uint8)
        codes = codes[(codes & 0x7F) != 0x7F]
        v = np.sort(codes.view(ml_dtypes.float8_e4m3fn).astype(np.float64))
        mids = (v[1:] + v[:-1]) / 2                     # ties to even
        vals = np.concatenate([v, mids, mids * (1 + 2**-12), mids * (1 - 2**-12),
                               [448.0, 449.0, 464.0, 465.0, 480.0, 1e9, -1e9, 2.0**-10,
                                2.0**-10 * 1.01, -(2.0**-10), 2.0**-7, 0.0, -0.0]])
    vals = vals.astype(np.float32)
    out = np.resize(vals, count)
    rng.shuffle(out)
    return out


def main():
    mode, kind = sys.argv[1], sys.argv[2]
    inputs = dict(np.load(sys.argv[3]))
    if mode == "craft":
        rng = np.random.default_rng(0)
        for name, scale in (("key", 1.0), ("value", 0.5)):
            shape = inputs[name].shape
            inputs[name] = (edges(kind, int(np.prod(shape)), rng).reshape(shape)
                            * scale).astype(inputs[name].dtype)
            inputs[name + "_scale"] = np.full(inputs[name + "_scale"].shape, scale, np.float32)
        np.savez(sys.argv[3], **inputs)
        return
    outputs = np.load(sys.argv[4])
    position = int(sys.argv[5])
    for name in ("key", "value"):
        x = inputs[name].astype(np.float32)
        s = inputs[name + "_scale"][:, :, None, None]
        y = x / s
        if kind == "int8":
            want = np.clip(np.rint(y), -127, 127).astype(np.int8)
        else:
            want = np.clip(y, -448, 448).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)
        sn = x.shape[2]
        got = outputs["new_" + name + "_cache"][:, :, position:position + sn]
        bad = np.argwhere(got != want)
        if len(bad):
            i = tuple(bad[0])
            sys.exit(f"{name}: {len(bad)} codes differ; first at {i}: x/s = {y[i]!r}, "
                     f"got {got[i]}, want {want[i]}")
        print(f"{name}: {want.size} {kind} codes match")


if __name__ == "__main__":
    main()
