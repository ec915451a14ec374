#!/usr/bin/env python3
"""Runs the erroneous decode steps of a bundle (bench/gpu_build_cases.sh,
errors/NAME.{so,in.npz,expected}) on the GPU and checks what the cuda
target promises for them, as the CPU does: the run fails (attn-run exits
non-zero) with the CPU's message for the same step (NAME.expected: the
input's name, the batch row, the bad value and the capacity or the pool's
size). Prints PASS/FAIL per case and a summary; exits 1 if any failed.

    python3 gpu_check_position_errors.py [BUNDLE_DIR]
"""
import glob
import os
import subprocess
import sys
import tempfile


def check(bundle, so, work):
    name = os.path.basename(so)[:-3]
    inputs = so[:-3] + ".in.npz"
    with open(so[:-3] + ".expected") as f:
        expected = f.read().strip()
    if not expected.startswith("KV-cache "):
        return f"no CPU message recorded ({expected!r})"
    out = os.path.join(work, name + ".out.npz")
    run = subprocess.run([os.path.join(bundle, "bin", "attn-run"), so,
                          "--inputs", inputs, "--outputs", out],
                         capture_output=True, text=True)
    if run.returncode == 0:
        return "attn-run succeeded"
    if expected not in run.stderr:
        return f"message {run.stderr.strip()!r}, expected {expected!r}"
    if os.path.exists(out):
        return "attn-run wrote outputs"
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
