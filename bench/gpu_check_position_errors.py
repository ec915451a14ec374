#!/usr/bin/env python3
"""Runs the out-of-range decode steps of a bundle (bench/gpu_build_cases.sh,
errors/NAME.{so,in.npz}) on the GPU and checks what the cuda target promises
for them: the step writes no cache entry (the returned caches equal the
given ones) and every output is NaN. Prints PASS/FAIL per case and a
summary; exits 1 if any failed.

    python3 gpu_check_position_errors.py [BUNDLE_DIR]
"""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np


def check(bundle, so, work):
    name = os.path.basename(so)[:-3]
    inputs = so[:-3] + ".in.npz"
    out = os.path.join(work, name + ".out.npz")
    run = subprocess.run([os.path.join(bundle, "bin", "attn-run"), so,
                          "--inputs", inputs, "--outputs", out],
                         capture_output=True, text=True)
    if run.returncode != 0:
        return f"attn-run failed ({run.returncode}): {run.stderr.strip()}"
    given, got = np.load(inputs), np.load(out)
    if not np.isnan(got["out"].astype(np.float32)).all():
        return "the output is not all NaN"
    for cache in ("key_cache", "value_cache"):
        if not np.array_equal(got["new_" + cache], given[cache], equal_nan=True):
            return f"{cache} was written"
    return None


def main():
    bundle = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    failed = 0
    cases = sorted(glob.glob(os.path.join(bundle, "errors", "*.so")))
    with tempfile.TemporaryDirectory() as work:
        for so in cases:
            error = check(bundle, so, work)
            name = os.path.basename(so)[:-3]
            print(f"PASS {name}" if error is None else f"FAIL {name}: {error}")
            failed += error is not None
    print(f"position errors: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed or not cases else 0


if __name__ == "__main__":
    sys.exit(main())
