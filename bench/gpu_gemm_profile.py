#!/usr/bin/env python3
"""Runs one product model of a bench/gpu_build_prompt.sh bundle a few times
on random operands, for a profiler (Nsight Compute) to catch one of its
launches:

  ncu -k regex:gemm_kernel --launch-skip 2 --launch-count 1 [sections] \\
      python3 gpu_gemm_profile.py --dir DIR gemm-kn-m4096-k4096-n4096-f16
"""

import argparse
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gpu_decode import DTYPES, Model, load_runtime  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=HERE)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("name", help="gemm-FORM-mM-kK-nN-DTYPE[-VARIANT]")
    args = ap.parse_args()
    m = re.match(r"gemm-(\w+)-m(\d+)-k(\d+)-n(\d+)-([a-z0-9]+)(?:-(\w+))?$", args.name)
    if not m:
        sys.exit(f"not a product model name: {args.name}")
    form, mm, k, n, dt = m.group(1), *map(int, m.group(2, 3, 4)), m.group(5)
    rt = load_runtime(args.dir)
    model = Model(rt, os.path.join(args.dir, args.name + ".so"))
    dtype = DTYPES[dt]
    x = torch.randn(mm, k, device="cuda").to(dtype)
    w = (torch.randn((k, n) if form == "kn" else (n, k), device="cuda") / k ** 0.5).to(dtype)
    run = model.bind({"x": x, "w": w, "y": torch.empty(mm, n, device="cuda", dtype=dtype)})
    for _ in range(args.runs):
        run()
    torch.cuda.synchronize()
    print(f"{args.name}: {args.runs} runs", flush=True)


if __name__ == "__main__":
    main()
