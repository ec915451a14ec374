#!/usr/bin/env python3
"""tools/export/export_mla_decoder.py with some of its CONFIG replaced:

  mla_export.py OUT_DIR [--set heads=16 --set kv_lora_rank=128 ...] [--past N]

(wider latent shapes than the default 16 + 4, for the GPU kernels).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "tools", "export"))
import export_mla_decoder as mla  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--past", type=int, default=8)
    args = ap.parse_args()
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in mla.CONFIG or not value:
            raise SystemExit(f"mla_export.py: unknown or empty CONFIG entry {item!r}")
        mla.CONFIG[key] = type(mla.CONFIG[key])(value)
    sys.argv = [sys.argv[0], args.out_dir, "--past", str(args.past)]
    mla.main()


if __name__ == "__main__":
    main()
