"""python3 -m attn_mlir compile|run|report|bench: the package's command line.

  compile MODEL -o OUT.so [options]   compile in this process (attn-compile's flags)
  run MODEL [--inputs IN.npz] [--outputs OUT.npz] [--generate N --prompt IDS]
                                      run a library, or compile a model first
  report MODEL [options]              the attention ops found, KV heads, cache bytes
  bench [--out DIR]                   decode latency and bandwidth vs context (PNG)
"""

import argparse
import json
import os
import sys

import numpy as np


def _compile_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("compile options")
    g.add_argument("--target", default="cpu", choices=["cpu", "cuda"])
    g.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                   help="size of a symbolic dimension (repeatable)")
    g.add_argument("--share-kv", type=int, metavar="N",
                   help="convert attention to N KV heads")
    g.add_argument("--share-kv-method", choices=["mean", "exact",
                                                 "calibrated", "aligned",
                                                 "aligned-fit", "joint",
                                                 "latent"])
    g.add_argument("--calibration", metavar="IN.npz")
    g.add_argument("--max-seq", type=int, metavar="N",
                   help="KV-cache capacity of a fused decode step")
    g.add_argument("--kv-cache-type",
                   choices=["f32", "f16", "bf16", "int8", "fp8"])
    g.add_argument("--no-fuse-decode", action="store_true")
    g.add_argument("--mcpu")
    g.add_argument("--mattr")


def _dims(items):
    dims = {}
    for item in items:
        name, sep, size = item.partition("=")
        if not sep or not size.strip().isdigit():
            raise ValueError(f"--dim {item!r}: expected NAME=SIZE")
        dims[name] = int(size)
    return dims


def _compile(args, out=None, emit=None, report=None):
    import attn_mlir
    return attn_mlir.compile(
        args.model, out, target=args.target, dims=_dims(args.dim),
        report=report,
        share_kv=args.share_kv, share_kv_method=args.share_kv_method,
        calibration=args.calibration, max_seq=args.max_seq,
        kv_cache_type=args.kv_cache_type,
        fuse_decode=not args.no_fuse_decode, mcpu=args.mcpu,
        mattr=args.mattr, emit=emit)


def _load(args):
    """A Module for `args.model`: a compiled library, or a model compiled
    now."""
    import attn_mlir
    if args.model.endswith(".so"):
        return attn_mlir.Module(args.model)
    return _compile(args)


def cmd_compile(args) -> int:
    # The compiler writes the report file itself (attn-compile --report).
    result = _compile(args, args.output, args.emit, args.report)
    if args.emit and not args.output:
        sys.stdout.write(result)
        return 0
    print(f"wrote {os.fspath(result)}")
    return 0


def _random_inputs(module, seed: int):
    rng = np.random.default_rng(seed)
    feed = {}
    for s in module.signature.inputs:
        if s.dtype in ("f32", "f64", "f16"):
            feed[s.name] = rng.standard_normal(s.shape).astype(s.numpy_dtype)
        else:
            feed[s.name] = np.zeros(s.shape, dtype=s.numpy_dtype)
    return feed


def cmd_run(args) -> int:
    module = _load(args)
    if args.generate:
        if not args.prompt:
            raise ValueError("--generate needs --prompt IDS (e.g. 1,2,3; "
                             "';' between the prompts of a batch)")
        prompts = [[int(t) for t in row.split(",") if t.strip()]
                   for row in args.prompt.split(";")]
        lengths = {len(p) for p in prompts}
        if len(lengths) != 1:
            raise ValueError(f"the prompts have different lengths "
                             f"{sorted(lengths)}; a batch needs equal ones")
        tokens = module.generate(np.array(prompts, dtype=np.int64),
                                 args.generate)
        for row in tokens:
            print("tokens:", " ".join(str(int(t)) for t in row))
        if args.outputs:
            np.savez(args.outputs, tokens=tokens)
        return 0
    if args.inputs:
        with np.load(args.inputs) as f:
            feed = {k: f[k] for k in f.files}
    else:
        feed = _random_inputs(module, args.seed)
    outputs = module(feed)
    for name, value in outputs.items():
        value = np.asarray(value)
        summary = (f" mean {value.mean():.6g} max {value.max():.6g}"
                   if value.size and value.dtype.kind in "fiu" else "")
        print(f"{name}: {value.dtype} {list(value.shape)}{summary}")
    if args.outputs:
        np.savez(args.outputs, **{k: np.asarray(v)
                                  for k, v in outputs.items()})
    return 0


def cmd_report(args) -> int:
    module = _load(args)
    sig = module.signature
    print(json.dumps({"report": module.report, "device": sig.device,
                      "inputs": [list(s) for s in sig.inputs],
                      "inouts": [list(s) for s in sig.inouts],
                      "outputs": [list(s) for s in sig.outputs]},
                     indent=2, sort_keys=True))
    return 0


def cmd_bench(args) -> int:
    from . import _bench
    return _bench.main(args)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m attn_mlir", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="compile a .onnx/.mlir model")
    p.add_argument("model")
    p.add_argument("-o", "--output", help="the library (or IR with --emit)")
    p.add_argument("--emit", choices=["mlir", "mlir-imported", "llvm"])
    p.add_argument("--report", metavar="FILE.json")
    _compile_options(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="run a compiled library or a model")
    p.add_argument("model")
    p.add_argument("--inputs", metavar="IN.npz",
                   help="inputs by name (default: seeded random floats, "
                        "zero integers)")
    p.add_argument("--outputs", metavar="OUT.npz")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--generate", type=int, metavar="N",
                   help="greedy-decode N tokens after --prompt")
    p.add_argument("--prompt", metavar="IDS")
    _compile_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="print a model's attention report "
                                      "and signature")
    p.add_argument("model")
    _compile_options(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("bench", help="decode latency and achieved "
                                     "bandwidth vs context, MHA/GQA/MQA")
    from . import _bench
    _bench.add_arguments(p)
    p.set_defaults(func=cmd_bench)

    args = parser.parse_args(argv)
    if getattr(args, "command", None) == "compile" and not args.output \
            and not args.emit:
        parser.error("compile needs -o OUT.so (or --emit)")
    from . import AttnError, CompileError
    try:
        return args.func(args)
    except CompileError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (AttnError, ValueError, OSError) as e:
        print(f"attn_mlir: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
