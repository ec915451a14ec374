"""The command line the GPU benchmark scripts share (gpu_serving_decode.py,
gpu_window_decode.py, gpu_mla_decode.py): `build BIN_DIR OUT` on the build
machine writes a bundle (the script and this module included), `run OUT ...`
on the GPU machine times it."""

import argparse
import os
import shutil


def copy_into(out, script):
    """Copies `script` (the caller's __file__) and this module into `out`."""
    for path in (script, __file__):
        shutil.copy(os.path.abspath(path), out)


def main(doc, build, run, add_run_arguments):
    """Parses the command line: `build` calls build(bin_dir, out); `run`
    calls run(args) with the arguments `add_run_arguments(parser)` adds after
    OUT, and returns its result."""
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("bin_dir")
    b.add_argument("out")
    r = sub.add_parser("run")
    r.add_argument("out")
    add_run_arguments(r)
    args = p.parse_args()
    if args.cmd == "build":
        build(args.bin_dir, args.out)
        return None
    return run(args)


def attn_run_main(doc, build, run):
    """main() of the scripts whose `run OUT ATTN_RUN [--runs N] [--json F]`
    times bundled models with attn-run: run(out, attn_run, runs, json_path)."""
    def arguments(r):
        r.add_argument("attn_run")
        r.add_argument("--runs", type=int, default=50)
        r.add_argument("--json")
    return main(doc, build, lambda a: run(a.out, a.attn_run, a.runs, a.json), arguments)
