#!/usr/bin/env python3
"""Compares two .npz files key by key: |actual - expected| <= atol + rtol*|expected|.

Prints the worst error of every key and PASS/FAIL; exits 1 on a mismatch, a
missing key, a shape difference or a NaN (unless --equal-nan and both have it
at the same place). uint16 arrays are bfloat16 bits (how attn-run writes bf16).
"""

import argparse
import sys

import numpy as np


def as_float64(array):
    if array.dtype == np.uint16 or array.dtype.kind == "V":
        return (array.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return array.astype(np.float64)


def compare_key(key, actual, expected, atol, rtol, equal_nan):
    """Returns (ok, message) for one key."""
    if actual.shape != expected.shape:
        return False, f"{key}: shape {list(actual.shape)} != expected {list(expected.shape)}"
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    if equal_nan and np.array_equal(nan_a, nan_e):
        actual, expected = np.where(nan_a, 0.0, actual), np.where(nan_e, 0.0, expected)
    elif nan_a.any() or nan_e.any():
        return False, f"{key}: NaN in actual ({int(nan_a.sum())}) or expected ({int(nan_e.sum())})"
    if actual.size == 0:
        return True, f"{key}: empty"
    # Equal values match, infinities of the same sign included (a masked
    # score is -inf on both sides; -inf - -inf would be NaN).
    same = actual == expected
    err = np.where(same, 0.0, np.abs(np.where(same, 0.0, actual - expected)))
    finite = np.isfinite(expected) | same
    bound = np.where(finite, atol + rtol * np.abs(np.where(finite, expected, 0.0)), 0.0)
    worst = int(np.argmax(err - bound))
    ok = bool(np.all(err <= bound))
    index = np.unravel_index(worst, actual.shape) if actual.ndim else ()
    return ok, (f"{key}: max_abs_err={err.max():.3e} worst_at={list(map(int, index))} "
                f"actual={actual.flat[worst]:.7g} expected={expected.flat[worst]:.7g} "
                f"(atol={atol:g} rtol={rtol:g}) {'ok' if ok else 'MISMATCH'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("actual")
    parser.add_argument("expected")
    parser.add_argument("--atol", type=float, required=True)
    parser.add_argument("--rtol", type=float, required=True)
    parser.add_argument("--equal-nan", action="store_true",
                        help="NaNs at the same places in both are equal")
    parser.add_argument("--keys", help="compare only these keys (comma-separated)")
    args = parser.parse_args()

    actual, expected = np.load(args.actual), np.load(args.expected)
    ok = True
    keys = set(actual.files) | set(expected.files)
    if args.keys:
        keys = set(args.keys.split(","))
    for key in sorted(keys):
        if key not in actual.files or key not in expected.files:
            print(f"{key}: missing from {'actual' if key not in actual.files else 'expected'}")
            ok = False
            continue
        key_ok, message = compare_key(key, as_float64(actual[key]), as_float64(expected[key]),
                                      args.atol, args.rtol, args.equal_nan)
        print(message)
        ok &= key_ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
