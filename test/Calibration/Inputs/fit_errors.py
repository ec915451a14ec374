"""Compares the joint fits' output errors of two attn-compile logs.

usage: fit_errors.py BASE.log OTHER.log: sums the "fitted" errors of the
"share-kv joint: NAME: output error aligned A, fitted F" lines of each log
and prints "fit errors: exact below lbfgs" when OTHER's sum is below BASE's
(and both logs have the same attentions), else FAIL with the sums.
"""
import re
import sys


def fitted(path):
    pattern = re.compile(r"share-kv joint: (\S+): output error aligned \S+, fitted (\S+)")
    return {m.group(1): float(m.group(2)) for m in map(pattern.search, open(path)) if m}


base, other = fitted(sys.argv[1]), fitted(sys.argv[2])
b, o = sum(base.values()), sum(other.values())
print(f"fitted errors: {sys.argv[1]} {b:.6g}, {sys.argv[2]} {o:.6g} over {len(base)} attentions")
if base and base.keys() == other.keys() and o < b:
    print("fit errors: exact below lbfgs")
else:
    print("FAIL")
