#!/usr/bin/env python3
"""Accuracy and speed of int8 / fp8 (E4M3) KV caches against f32 caches (CPU).

Accuracy: every decoder of test/Import/decoders named below, and the tiny
decoder (python/attn_mlir_models/tiny_decoder.py), is compiled as a fused
decode step (`attn-compile --max-seq M`) three times: f32 caches, and
`--kv-cache-type=int8` and `=fp8`. Each library is prefilled with the same
prompt keys/values (the 8 cached positions of the decoder's inputs.npz; for
the tiny decoder random ones), quantised with per (row, KV head) scales
absmax(prompt) / 127 (int8) or / 448 (fp8) that stay fixed for the sequence,
then steps N tokens, teacher-forced on the f32 library's greedy tokens so that
the logits of the same step are compared: max |logit - logit_f32| (and
relative to max |logit_f32|), and greedy agreement (the share of steps whose
argmax matches the f32 one). A free-running greedy decode is also run and the
number of tokens before the first divergence reported. The f32 library is
checked against ORT's 16 greedy tokens (generate16.npz).

Speed: the tiny decoder with head_dim 64 (d_model 256, 4 heads, 2 layers, as
bench/decode_fusion.py) at context T (>= 16k), f32 vs int8 vs fp8 caches,
`attn-run --bench N` (median_us) of one step with T cached positions.

Prints markdown and appends it to bench/RESULTS.md (--no-append: print only).

  bench/kv_cache_quant.py [--steps 32] [--lengths 16384,32768] [--bin-dir build/bin]
"""

import argparse
import datetime
import os
import re
import shutil
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import append_results, run, tool  # noqa: E402
from cpu_decode import machine  # noqa: E402

DECODERS = ["gpt2_mha_ts17", "llama_gqa_dyn18", "bigcode_mqa_dyn18", "llama_gqa_sdpa_ts17",
            "hf_gpt2_ts17", "hf_llama_dyn18", "hf_qwen2_dyn18", "hf_bigcode_ts17"]
TYPES = ["int8", "fp8"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--decoders", default=",".join(DECODERS))
    p.add_argument("--steps", type=int, default=32, help="decode steps per model")
    p.add_argument("--lengths", default="16384,32768", help="contexts of the speed table")
    p.add_argument("--runs", type=int, default=20, help="attn-run --bench N")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--no-speed", action="store_true")
    p.add_argument("--bin-dir")
    p.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--no-append", action="store_true")
    return p.parse_args()


def quantize(x, kind):
    """Codes and [B, H] scales of the prompt cache x [B, H, T, D] (the
    compiled append's rule: int8 roundeven clamp 127, fp8 E4M3 RNE sat 448)."""
    import ml_dtypes
    limit = 127.0 if kind == "int8" else 448.0
    scale = np.abs(x).max(axis=(2, 3)) / limit
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    y = x.astype(np.float32) / scale[:, :, None, None]
    if kind == "int8":
        return np.clip(np.rint(y), -127, 127).astype(np.int8), scale
    y = np.clip(y, -448, 448).astype(ml_dtypes.float8_e4m3fn)
    return y.view(np.uint8), scale


class Decoder:
    """A fused decode-step library with its caches prefilled from `prompt`
    (name -> [1, H, T, D] f32)."""

    def __init__(self, lib, prompt, kind):
        import attn_mlir
        self.model = attn_mlir.Model(lib)
        self.kind = kind
        self.caches = self.model.allocate_inouts()
        self.scales = {}
        for name, cache in self.caches.items():
            past = prompt[name]
            t = past.shape[2]
            if kind == "f32":
                cache[:, :, :t] = past
                continue
            codes, scale = quantize(past, kind)
            cache[:, :, :t] = codes
            self.scales[name] = scale
        self.length = next(iter(prompt.values())).shape[2]
        self.input_names = {s.name for s in self.model.inputs}

    def step(self, token):
        feeds = {"input_ids": np.array([[token]], np.int64),
                 "position_ids": np.array([[self.length]], np.int64),
                 "cache_position": np.array(self.length, np.int64)}
        for name in self.input_names:
            if name.endswith(".key_scale") or name.endswith(".value_scale"):
                cache, which = name.rsplit(".", 1)
                # The key cache names both scales; the value cache is its partner.
                partner = cache if which == "key_scale" else self.partner(cache)
                feeds[name] = self.scales[partner]
        feeds = {k: v for k, v in feeds.items() if k in self.input_names}
        out = self.model.run(feeds, **self.caches)
        self.length += 1
        return out["logits"].reshape(-1).astype(np.float64)

    def partner(self, key_cache):
        for a, b in (("key", "value"), ("_k", "_v")):
            candidate = key_cache.replace(a, b)
            if candidate != key_cache and candidate in self.caches:
                return candidate
        sys.exit(f"kv_cache_quant.py: no value cache pairs with {key_cache}")


def accuracy(args, name, onnx_path, prompt, first, workdir, compile_, expected=None,
             flags=()):
    capacity = next(iter(prompt.values())).shape[2] + args.steps + 1
    libs = {}
    for kind in ["f32"] + TYPES:
        lib = os.path.join(workdir, f"{re.sub(r'[^A-Za-z0-9_]', '_', name)}-{kind}.so")
        kind_flags = [] if kind == "f32" else [f"--kv-cache-type={kind}"]
        run([compile_, onnx_path, "-o", lib, "--max-seq", str(capacity)] + list(flags)
            + kind_flags)
        libs[kind] = lib
    # Teacher-forced on the f32 tokens.
    decs = {k: Decoder(lib, prompt, k) for k, lib in libs.items()}
    logits = {k: [] for k in decs}
    token = first
    for _ in range(args.steps):
        for k, d in decs.items():
            logits[k].append(d.step(token))
        token = int(np.argmax(logits["f32"][-1]))
    ref = np.array(logits["f32"])
    row = {"model": name, "steps": args.steps}
    if expected is not None:
        n = min(len(expected), args.steps)
        row["ort"] = int((np.argmax(ref[:n], axis=1) == expected[:n]).sum())
        row["ort_n"] = n
    for k in TYPES:
        got = np.array(logits[k])
        err = np.abs(got - ref).max()
        row[k + "_err"] = float(err)
        row[k + "_rel"] = float(err / np.abs(ref).max())
        row[k + "_agree"] = float((np.argmax(got, 1) == np.argmax(ref, 1)).mean())
    # Free-running greedy: tokens before the first divergence.
    free = {}
    for k, lib in libs.items():
        d = Decoder(lib, prompt, k)
        token, toks = first, []
        for _ in range(args.steps):
            token = int(np.argmax(d.step(token)))
            toks.append(token)
        free[k] = toks
    for k in TYPES:
        same = [a == b for a, b in zip(free[k], free["f32"])]
        row[k + "_prefix"] = same.index(False) if False in same else len(same)
    return row


def speed(args, workdir, compile_, attn_run):
    from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder
    import onnx
    lengths = [int(t) for t in args.lengths.split(",")]
    capacity = max(lengths) + 1
    cfg = DecoderConfig(d_model=256, n_layer=2, n_head=4, n_kv_head=4,
                        n_positions=capacity + 1)
    path = os.path.join(workdir, "speed.onnx")
    onnx.save(build_tiny_decoder(cfg), path)
    threads = ["--threads", str(args.threads)] if args.threads else []
    rng = np.random.default_rng(0)
    rows = []
    libs = {}
    for kind in ["f32"] + TYPES:
        libs[kind] = os.path.join(workdir, f"speed-{kind}.so")
        flags = [] if kind == "f32" else [f"--kv-cache-type={kind}"]
        run([compile_, path, "-o", libs[kind], "--max-seq", str(capacity),
             "--input-shape", "input_ids=1x1", "--input-shape", "position_ids=1x1"] + flags)
    for t in lengths:
        row = {"t": t}
        for kind, lib in libs.items():
            feeds = {"input_ids": np.array([[1]], np.int64),
                     "position_ids": np.array([[t]], np.int64),
                     "cache_position": np.array(t, np.int64)}
            for layer in range(cfg.n_layer):
                for which in ("key", "value"):
                    name = f"past_{which}_{layer}"
                    shape = (1, cfg.n_kv_head, capacity, cfg.head_dim)
                    if kind == "f32":
                        feeds[name] = rng.standard_normal(shape, dtype=np.float32)
                    elif kind == "int8":
                        feeds[name] = rng.integers(-127, 128, shape, dtype=np.int8)
                    else:
                        codes = rng.integers(0, 256, shape).astype(np.uint8)
                        codes[(codes & 0x7F) == 0x7F] = 0x38
                        feeds[name] = codes
                    if kind != "f32":
                        scale = np.full((1, cfg.n_kv_head), 0.02, np.float32)
                        feeds[f"past_key_{layer}.{which}_scale"] = scale
            npz = os.path.join(workdir, f"speed-{kind}.npz")
            np.savez(npz, **feeds)
            out = run([attn_run, lib, "--inputs", npz, "--bench", str(args.runs)] + threads)
            row[kind] = float(re.search(r"median_us:\s*([0-9.eE+-]+)", out).group(1))
            os.remove(npz)
        row["kv_mib_f32"] = 2 * cfg.n_layer * cfg.n_kv_head * t * cfg.head_dim * 4 / 2**20
        rows.append(row)
        print(row, flush=True)
    return rows, cfg


def main():
    args = parse_args()
    compile_, attn_run = tool(args, "attn-compile"), tool(args, "attn-run")
    workdir = tempfile.mkdtemp(prefix="attn-kv-quant-")
    load = os.getloadavg()[0]
    rows = []
    for name in filter(None, args.decoders.split(",")):
        d = os.path.join(REPO, "test", "Import", "decoders", name)
        inputs = dict(np.load(os.path.join(d, "inputs.npz")))
        prompt = {k: v for k, v in inputs.items() if k.startswith("past")}
        expected = np.load(os.path.join(d, "generate16.npz"))["tokens"]
        rows.append(accuracy(args, name, os.path.join(d, "model.onnx"), prompt,
                             int(inputs["input_ids"].reshape(-1)[0]), workdir, compile_,
                             expected))
        print(rows[-1], flush=True)
    # The tiny decoder, GQA 8/2, head_dim 32, a 64-token random prompt.
    from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder, step_inputs
    import onnx
    cfg = DecoderConfig(d_model=256, n_layer=2, n_head=8, n_kv_head=2, n_positions=256)
    tiny = os.path.join(workdir, "tiny.onnx")
    onnx.save(build_tiny_decoder(cfg), tiny)
    feeds = step_inputs(cfg, 64, seed=3)
    rows.append(accuracy(args, "tiny_decoder (GQA 8/2, hd 32, 64-token prompt)", tiny,
                         {k: v for k, v in feeds.items() if k.startswith("past")},
                         int(feeds["input_ids"][0, 0]), workdir, compile_,
                         flags=["--input-shape", "input_ids=1x1",
                                "--input-shape", "position_ids=1x1"]))
    print(rows[-1], flush=True)
    speed_rows, speed_cfg = ([], None) if args.no_speed else speed(args, workdir, compile_, attn_run)
    shutil.rmtree(workdir)

    command = "bench/kv_cache_quant.py " + " ".join(sys.argv[1:])
    lines = [f"## Quantised KV caches (int8, fp8 E4M3) against f32 caches, CPU\n",
             f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
             f"- machine: {machine()}; load average {load:.1f} at start",
             f"- command: `{command.strip()}`",
             f"- accuracy: fused decode step (`--max-seq`), caches prefilled with the prompt "
             f"quantised at per (row, KV head) scales absmax/127 (int8), absmax/448 (fp8), "
             f"{args.steps} steps teacher-forced on the f32 library's greedy tokens; max |logit "
             f"error| (and relative to max |logit|), greedy agreement over the steps, and the "
             f"free-running greedy tokens before the first divergence from f32; `ORT` is the "
             f"f32 library's agreement with onnxruntime's 16 greedy tokens\n",
             "| model | ORT | int8 max err (rel) | int8 agree | int8 free prefix | "
             "fp8 max err (rel) | fp8 agree | fp8 free prefix |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ort = f"{r['ort']}/{r['ort_n']}" if "ort" in r else "-"
        cells = [r["model"], ort]
        for k in TYPES:
            cells += [f"{r[k + '_err']:.3g} ({r[k + '_rel']:.2%})", f"{r[k + '_agree']:.0%}",
                      f"{r[k + '_prefix']}/{r['steps']}"]
        lines.append("| " + " | ".join(cells) + " |")
    if speed_rows:
        lines += ["", f"Decode step time (`attn-run --bench {args.runs}`, median us, "
                  f"{'threads ' + str(args.threads) if args.threads else 'all threads'}): tiny "
                  f"decoder d_model 256, 4 heads x 64, 2 layers, MHA, one token at context T\n",
                  "| T | KV f32 (MiB) | f32 us | int8 us | fp8 us | int8 speed-up | fp8 speed-up |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in speed_rows:
            lines.append(f"| {r['t']} | {r['kv_mib_f32']:.0f} | {r['f32']:.0f} | {r['int8']:.0f} | "
                         f"{r['fp8']:.0f} | {r['f32'] / r['int8']:.2f}x | "
                         f"{r['f32'] / r['fp8']:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    append_results(text, args)


if __name__ == "__main__":
    main()
