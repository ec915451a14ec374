#!/usr/bin/env python3
"""Conversion error of `attn-compile --share-kv`: mean pooling against calibrated (and exact).

For every model and every target KV head count N (2 and 1) it compiles the
model with `--share-kv=N --share-kv-method=mean|calibrated|exact` and reports

- the attention-output error that attn-compile writes to the report for the
  calibrated method (`share_kv_calibration`: error_mean, error_calibrated:
  relative RMS of each attention's output on the calibration inputs; mean over
  the layers here);
- the logit error against the unconverted model: relative RMS
  ||L - L_ref|| / ||L_ref|| over every position of held-out random token
  sequences fed token by token (teacher forcing), each model building its own
  KV cache from the same tokens; L_ref is onnxruntime on the unconverted ONNX
  file; plus top-1 agreement (argmax) at those positions;
- `exact` where it applies (heads provably identical), else attn-compile's
  refusal.

Models:
- tiny decoders (python/attn_mlir_models/tiny_decoder.py, d_model 128, 8 heads,
  2 layers) whose K/V heads share a fraction s of their weight variance
  (--kv-similarity; s = 1: the heads of each half are identical); fused decode
  libraries run from an empty cache; calibration: 8 random contexts of 64
  tokens (empty past);
- gpt2_mha_ts17dyn (test/Import/fixtures, 4 heads, symbolic past): fused, from
  an empty cache; calibration: a 64-token cache that onnxruntime built from
  random tokens, plus one token;
- gpt2_mha_ts17 (the same architecture, other weights, static past of 16): the
  step as exported (past 16 in, present 17 out) driven as a sliding window that
  starts from zero caches (zero K/V are the same for every head count) and
  keeps the last 16 positions; calibration: a 16-position cache built that way.

Prints a markdown table and appends it to bench/RESULTS.md with date, machine
and command.

  bench/share_kv_error.py [--quick] [--bin-dir build/bin]
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "test", "Import", "fixtures", "exports")
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cpu_decode import machine  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer models and shorter sequences")
    p.add_argument("--similarities", default="0,0.9,0.98,1",
                   help="kv_similarity of the tiny decoders")
    p.add_argument("--bin-dir", help="where attn-compile is (default build/bin)")
    p.add_argument("--fixtures", default=FIXTURES)
    p.add_argument("--workdir", help="keep the models, libraries and npz files here")
    p.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--no-append", action="store_true", help="print only")
    args = p.parse_args()
    if args.quick:
        args.similarities = "0.98"
    args.similarities = [float(s) for s in args.similarities.split(",")]
    return args


def tool(args, name):
    for directory in filter(None, [args.bin_dir, os.path.join(REPO, "build", "bin")]):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return os.path.abspath(path)
    sys.exit(f"share_kv_error.py: cannot find {name}; pass --bin-dir")


def rel_rms(x, ref):
    x, ref = x.astype(np.float64), ref.astype(np.float64)
    return float(np.sqrt(np.mean((x - ref) ** 2) / np.mean(ref ** 2)))


class Growing:
    """A decode-step model with a symbolic past, run from an empty cache: the
    fused library (inout caches, cache_position) or onnxruntime (past/present)."""

    @staticmethod
    def attn(path, tokens):
        import attn_mlir
        model = attn_mlir.Model(path)
        rows = []
        for seq in tokens:
            caches = model.allocate_inouts()
            for pos, tok in enumerate(seq):
                out = model.run(input_ids=np.array([[tok]], np.int64),
                                position_ids=np.array([[pos]], np.int64),
                                cache_position=np.array(pos, np.int64), **caches)
                rows.append(out["logits"].reshape(-1)[-out["logits"].shape[-1]:])
        model.close()
        return np.stack(rows).reshape(tokens.shape + (-1,))

    @staticmethod
    def ort(path, tokens, heads, hd, layers, start=0):
        """Step by step from an empty cache; returns logits and the caches."""
        import onnxruntime as ort
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        names = [o.name for o in s.get_outputs()]
        rows, caches = [], []
        for seq in tokens:
            feeds = {f"past_{k}_{i}": np.zeros((1, heads, 0, hd), np.float32)
                     for i in range(layers) for k in ("key", "value")}
            for pos, tok in enumerate(seq):
                feeds["input_ids"] = np.array([[tok]], np.int64)
                feeds["position_ids"] = np.array([[start + pos]], np.int64)
                out = dict(zip(names, s.run(None, feeds)))
                rows.append(out["logits"].reshape(-1)[-out["logits"].shape[-1]:])
                for n, v in out.items():
                    if n.startswith("present"):
                        feeds["past" + n[len("present"):]] = v
            caches.append({k: v for k, v in feeds.items() if k.startswith("past")})
        return np.stack(rows).reshape(tokens.shape + (-1,)), caches


def sliding(run_step, tokens, window, heads_of_input, hd, start):
    """Teacher forcing through a static-past step: past starts as zeros with
    `window` positions; after each step the past is present minus its oldest
    position. `run_step(feeds) -> outputs`. Returns logits and the last feeds."""
    rows, last = [], None
    for seq in tokens:
        feeds = {name: np.zeros((1, h, window, hd), np.float32)
                 for name, h in heads_of_input.items()}
        for pos, tok in enumerate(seq):
            feeds["input_ids"] = np.array([[tok]], np.int64)
            feeds["position_ids"] = np.array([[start + pos]], np.int64)
            last = dict(feeds)
            out = run_step(feeds)
            rows.append(out["logits"].reshape(-1)[-out["logits"].shape[-1]:])
            for n, v in out.items():
                if n.startswith("present"):
                    feeds["past" + n[len("present"):]] = np.ascontiguousarray(v[:, :, 1:])
    return np.stack(rows).reshape(tokens.shape + (-1,)), last


def main():
    args = parse_args()
    import onnx
    import onnxruntime as ort
    from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder

    load = os.getloadavg()[0]
    compile_ = tool(args, "attn-compile")
    os.environ.setdefault("ATTN_MLIR_LIB_DIR", os.path.join(os.path.dirname(compile_), "..", "lib"))
    workdir = args.workdir or tempfile.mkdtemp(prefix="attn-share-kv-error-")
    os.makedirs(workdir, exist_ok=True)
    w = lambda name: os.path.join(workdir, name)  # noqa: E731
    contexts, length = (2, 16) if args.quick else (4, 32)
    rng = np.random.default_rng(2026)
    started = time.time()

    models = []  # (label, onnx, heads, kv bytes per head per token, kind, extra)
    for s in args.similarities:
        cfg = DecoderConfig(d_model=128, n_head=8, n_kv_head=8, n_layer=2, n_positions=256,
                            kv_similarity=s)
        path = w(f"tiny_s{s:g}.onnx")
        onnx.save(build_tiny_decoder(cfg), path)
        models.append(dict(label=f"tiny decoder, s={s:g}", path=path, heads=8, hd=cfg.head_dim,
                           layers=2, vocab=cfg.vocab, kind="tiny"))
    models.append(dict(label="gpt2_mha_ts17dyn (fused)", kind="growing", heads=4, hd=16,
                       layers=2, vocab=256,
                       path=os.path.join(args.fixtures, "gpt2_mha_ts17dyn.onnx")))
    if not args.quick:
        models.append(dict(label="gpt2_mha_ts17 (past 16)", kind="static", heads=4, hd=16,
                           layers=2, vocab=256,
                           path=os.path.join(args.fixtures, "gpt2_mha_ts17.onnx")))

    rows = []
    for m in models:
        heads, hd, layers = m["heads"], m["hd"], m["layers"]
        tokens = rng.integers(0, m["vocab"], (contexts, length))
        calib = w(f"calib_{len(rows)}.npz")
        shape_flags = []
        if m["kind"] == "tiny":
            crng = np.random.default_rng(100)
            feeds = {"input_ids": crng.integers(0, m["vocab"], (8, 64), dtype=np.int64),
                     "position_ids": np.tile(np.arange(64, dtype=np.int64), (8, 1))}
            feeds.update({f"past_{k}_{i}": np.zeros((8, heads, 0, hd), np.float32)
                          for i in range(layers) for k in ("key", "value")})
            np.savez(calib, **feeds)
            sess = ort.InferenceSession(m["path"], providers=["CPUExecutionProvider"])
            ref = sess.run(["logits"], {
                "input_ids": tokens.astype(np.int64),
                "position_ids": np.tile(np.arange(length, dtype=np.int64), (contexts, 1)),
                **{f"past_{k}_{i}": np.zeros((contexts, heads, 0, hd), np.float32)
                   for i in range(layers) for k in ("key", "value")}})[0]
            shape_flags = ["--input-shape", "input_ids=1x1", "--input-shape", "position_ids=1x1",
                           "--max-seq", str(length)]
        elif m["kind"] == "growing":
            ctx = rng.integers(0, m["vocab"], (1, 65))
            _, caches = Growing.ort(m["path"], ctx[:, :64], heads, hd, layers)
            np.savez(calib, input_ids=ctx[:, 64:].astype(np.int64),
                     position_ids=np.array([[64]], np.int64), **caches[0])
            ref, _ = Growing.ort(m["path"], tokens, heads, hd, layers)
            shape_flags = ["--max-seq", str(length)]
        else:
            sess = ort.InferenceSession(m["path"], providers=["CPUExecutionProvider"])
            names = [o.name for o in sess.get_outputs()]
            step = lambda f, s=sess, n=names: dict(zip(n, s.run(None, f)))  # noqa: E731
            pasts = {f"past_{k}_{i}": heads for i in range(layers) for k in ("key", "value")}
            _, last = sliding(step, rng.integers(0, m["vocab"], (1, 41)), 16, pasts, hd, 16)
            np.savez(calib, **last)
            ref, _ = sliding(step, tokens, 16, pasts, hd, 16)

        def evaluate(lib, kv_heads):
            if m["kind"] in ("tiny", "growing"):
                return Growing.attn(lib, tokens)
            import attn_mlir
            model = attn_mlir.Model(lib)
            pasts = {s.name: s.shape[1] for s in model.inputs if s.name.startswith("past")}
            logits, _ = sliding(lambda f: model.run(f), tokens, 16, pasts, hd, 16)
            model.close()
            return logits

        for n in [None] + [k for k in (2, 1) if k < heads]:
            for method in ([None] if n is None else ["mean", "calibrated", "exact"]):
                tag = f"{len(rows)}"
                lib, report = w(f"m{tag}.so"), w(f"m{tag}.json")
                flags = [] if n is None else [f"--share-kv={n}", f"--share-kv-method={method}"]
                if method == "calibrated":
                    flags += ["--calibration", calib]
                r = subprocess.run([compile_, m["path"], "-o", lib, "--report", report]
                                   + shape_flags + flags, capture_output=True, text=True)
                row = dict(model=m["label"], heads=heads, n=n or heads, method=method or "none")
                if r.returncode:
                    msg = [l for l in r.stderr.splitlines() if "error" in l]
                    row["refused"] = (msg[0] if msg else r.stderr.strip()[:200]).split("error: ")[-1]
                    rows.append(row)
                    print(row, flush=True)
                    continue
                rep = json.load(open(report))
                row["kv_bytes"] = rep["kv_cache_bytes_per_token"]
                row["kv_heads"] = sorted({a["kv_heads"] for a in rep["attention"]})
                cal = rep.get("share_kv_calibration")
                if cal:
                    row["op_mean"] = float(np.mean([e["error_mean"] for e in cal]))
                    row["op_cal"] = float(np.mean([e["error_calibrated"] for e in cal]))
                logits = evaluate(lib, n or heads)
                row["logit"] = rel_rms(logits, ref)
                row["top1"] = float(np.mean(logits.argmax(-1) == ref.argmax(-1)))
                rows.append(row)
                print({k: v for k, v in row.items()}, flush=True)
    if not args.workdir:
        import shutil
        shutil.rmtree(workdir)

    text = table(rows)
    command = "bench/share_kv_error.py " + " ".join(sys.argv[1:])
    report = (
        "## KV sharing error: mean pooling against calibrated (and exact)\n\n"
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}\n"
        f"- machine: {machine()}; load average {load:.1f} at start (other jobs share the CPUs "
        f"when it is above 0; errors do not depend on it); {time.time() - started:.0f} s\n"
        f"- command: `{command.strip()}`\n"
        f"- logit error: relative RMS ||L - L_ref|| / ||L_ref|| over every position of "
        f"{contexts} random token sequences of {length} tokens fed one token per step (each "
        f"model builds its own cache from the same tokens; gpt2_mha_ts17: sliding 16-position "
        f"window from zero caches, positions 16..{15 + length}); L_ref: onnxruntime "
        f"{ort.__version__} on the unconverted ONNX file; top-1: argmax agreement there\n"
        f"- op error (report): `share_kv_calibration` of the calibrated compile, relative RMS "
        f"of each attention's output on the calibration inputs, mean over layers "
        f"(error_mean -> error_calibrated; in-sample for calibrated)\n"
        f"- calibration inputs: tiny decoders 8 random contexts x 64 tokens; gpt2 models one "
        f"step over a cache of 64 (dyn) / 16 (static) positions built by onnxruntime from "
        f"random tokens\n\n" + text + "\n")
    print("\n" + report)
    if not args.no_append:
        with open(args.results, "a") as f:
            f.write("\n" + report)


def table(rows):
    lines = ["| model | KV heads | method | KV bytes/token | op error (report): mean -> calibrated "
             "| logit error (rel RMS) | top-1 = unconverted |",
             "| --- | --- | --- | ---: | --- | ---: | ---: |"]
    for r in rows:
        heads = f"{r['heads']} -> {r['n']}" if r["method"] != "none" else f"{r['heads']}"
        if "refused" in r:
            lines.append(f"| {r['model']} | {heads} | {r['method']} | - | - | refused: "
                         f"{r['refused']} | - |")
            continue
        op = (f"{r['op_mean']:.3f} -> {r['op_cal']:.3f}" if "op_mean" in r else "-")
        lines.append(f"| {r['model']} | {heads} | {r['method']} | {r['kv_bytes']} | {op} | "
                     f"{r['logit']:.2e} | {100 * r['top1']:.0f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
