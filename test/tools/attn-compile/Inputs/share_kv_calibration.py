"""Model and calibration data for share-kv-calibrated.test, and the check.

`make DIR`: an 8-head decode-step attention (decomposed, as exporters emit
it) whose KV heads are noisy, scaled copies of each other, and inputs for it.
`check DIR`: compares the outputs of the mean-pooled and calibrated GQA
models with the MHA one and with the errors attn-compile reported.
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "tools" / "demo"))
import attn_demo  # noqa: E402

out = Path(sys.argv[2])
if sys.argv[1] == "make":
    (out / "mha.mlir").write_text(attn_demo.decomposed_attention(8, 256))
    rng = np.random.default_rng(0)
    base = rng.standard_normal((1, 8, 256, 64))
    ramp = np.arange(1, 9).reshape(1, 8, 1, 1) / 8
    k = base + 0.3 * ramp * rng.standard_normal((1, 8, 256, 64))
    v = base * np.linspace(0.5, 1.5, 8).reshape(1, 8, 1, 1) \
        + 0.1 * rng.standard_normal((1, 8, 256, 64))
    np.savez(out / "inputs.npz",
             query=rng.standard_normal((1, 8, 1, 64)).astype(np.float32),
             key_cache=k.astype(np.float32), value_cache=v.astype(np.float32))
else:
    ref = np.load(out / "mha.npz")["out"]

    def error(name):
        x = np.load(out / f"{name}.npz")["out"]
        return float(np.linalg.norm(x - ref) / np.linalg.norm(ref))

    mean, calibrated = error("mean"), error("calibrated")
    reported = json.loads((out / "report.json").read_text())["share_kv_calibration"][0]
    print(f"mean_error {mean:.4f} calibrated_error {calibrated:.4f}")
    ok = (calibrated < mean
          and abs(reported["error_calibrated"] - calibrated) < 1e-3
          and abs(reported["error_mean"] - mean) < 1e-3)
    print("calibrated beats mean and matches the report" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)
