"""The main job: a decoder with a KV cache, compiled, decoded, converted to GQA/MQA.

1. builds the embedded default model: the project's GPT-style decode step
   (python/attn_mlir_models/tiny_decoder.py: seeded weights, MHA, a symbolic
   past length, present_* outputs), as an ONNX file;
2. compiles it with attn-compile: attention is raised out of the decomposed
   graph and `concat(past, new) -> attention` is fused into an in-place
   KV-cache append (attn.decode); checks the report;
3. decodes greedily with `attn-run --generate` (prints the tokens) and checks
   the logits of the first steps against ONNX Runtime's greedy loop on the
   same ONNX file (1e-4) and the tokens for equality;
4. converts the model to GQA and MQA with `--share-kv` (mean pooling, and
   attn-compile's default method given a calibration .npz of graph inputs,
   random token contexts with an empty past: `joint` where it can rewrite the
   Q/K/V/O projection weights, which on this decode step with a KV cache
   falls back to `aligned`; the table says which ran);
5. prints a table: attention ops found, KV heads, KV-cache bytes per token (from
   the report), ms per token (median of the generate steps), logit error
   against the unconverted model (relative RMS over held-out token contexts fed
   token by token, each variant building its own cache) and top-1 agreement;
6. plots per-token time against context length for MHA, GQA and MQA (PNG).

Exits non-zero when a check fails: the report's heads or bytes, the fused
decode against ONNX Runtime, or the default sharing not beating mean pooling.

  tools/demo.sh [--quick] [--steps N] [--threads N] [--out-dir DIR] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# The decomposed-attention model of the share-kv-calibrated test lives beside.
from decomposed_attention import decomposed_attention  # noqa: F401

# Tolerance of the fused decode against ONNX Runtime (absolute, on logits).
ORT_ATOL = 1e-4


class DemoError(Exception):
    pass


@dataclass
class Preset:
    d_model: int
    heads: int
    layers: int
    vocab: int
    steps: int           # greedy steps of the timed generate (= cache capacity)
    ort_steps: int       # steps checked against ONNX Runtime
    contexts: int        # held-out contexts of the logit error
    context_len: int     # tokens per held-out context
    smooth: int          # rolling-median window of the plot


# Small enough for the 2-core machine, with KV-cache reads that matter: at 4096
# cached tokens the MHA cache (8 MiB) outweighs the weights (1.7 MiB). Both
# presets build the same model (positions fixed), quick decodes fewer steps.
PRESETS = {
    "full": Preset(d_model=128, heads=8, layers=2, vocab=256, steps=4096, ort_steps=64,
                   contexts=4, context_len=32, smooth=51),
    "quick": Preset(d_model=128, heads=8, layers=2, vocab=256, steps=256, ort_steps=16,
                    contexts=4, context_len=32, smooth=15),
}
# K/V heads of the default model are correlated (see tiny_decoder's
# kv_similarity): what converting MHA to GQA/MQA relies on.
KV_SIMILARITY = 0.98
POSITIONS = 4096
# Calibration inputs: random token contexts (batch x tokens), empty past.
CALIBRATION = (8, 64)


@dataclass
class Variant:
    label: str
    kv_heads: int
    method: str | None = None  # None: the unconverted model; "default": --calibration alone
    report: dict = field(default_factory=dict)
    tokens: np.ndarray | None = None
    logits: np.ndarray | None = None
    step_us: np.ndarray | None = None
    median_us: float = 0.0
    eval_logits: np.ndarray | None = None

    @property
    def tag(self) -> str:
        return self.label.lower().replace(" ", "_")

    def share_flags(self, calibration: Path) -> list[str]:
        if self.method is None:
            return []
        flags = [f"--share-kv={self.kv_heads}"]
        if self.method == "default":  # attn-compile's default with --calibration
            return flags + ["--calibration", str(calibration)]
        return flags + [f"--share-kv-method={self.method}"]


def run(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise DemoError(f"`{' '.join(cmd)}` failed (exit {result.returncode}):\n"
                        f"{result.stderr.strip()[-3000:]}")
    return result.stdout


def tool(build: Path, name: str) -> str:
    path = build / "bin" / name
    if not os.access(path, os.X_OK):
        raise DemoError(f"{path} is missing: build the project first "
                        f"(cmake --build {build})")
    return str(path)


def empty_caches(cfg, kv_heads: int, batch: int) -> dict[str, np.ndarray]:
    return {f"past_{kind}_{layer}": np.zeros((batch, kv_heads, 0, cfg.head_dim), np.float32)
            for layer in range(cfg.n_layer) for kind in ("key", "value")}


def context_inputs(cfg, kv_heads: int, batch: int, length: int, seed: int):
    """`batch` random token contexts of `length` tokens and an empty past: every
    position's logits depend on the model's own K/V of the context only."""
    rng = np.random.default_rng(seed)
    feeds = {"input_ids": rng.integers(0, cfg.vocab, (batch, length), dtype=np.int64),
             "position_ids": np.tile(np.arange(length, dtype=np.int64), (batch, 1))}
    feeds.update(empty_caches(cfg, kv_heads, batch))
    return feeds


def ort_greedy(model: Path, feeds: dict[str, np.ndarray], steps: int):
    """ONNX Runtime's greedy loop (present_* fed back as past_*)."""
    import onnxruntime as ort
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feeds = dict(feeds)
    tokens, logits = [], []
    for _ in range(steps):
        out = dict(zip(names, session.run(None, feeds)))
        row = out["logits"][0, -1]
        tokens.append(int(np.argmax(row)))
        logits.append(row)
        for name, value in out.items():
            if name.startswith("present"):
                feeds["past" + name[len("present"):]] = value
        feeds["input_ids"] = np.full_like(feeds["input_ids"], tokens[-1])
        feeds["position_ids"] = feeds["position_ids"] + 1
    return np.array(tokens), np.stack(logits)


def ort_logits(model: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(["logits"], feeds)[0]


def teacher_forced_logits(library: Path, contexts: np.ndarray) -> np.ndarray:
    """Logits [B, S, vocab] of a fused decode-step library fed the tokens of each
    context one at a time from an empty cache (through the runtime's C API)."""
    import attn_mlir
    model = attn_mlir.Model(str(library))
    rows = []
    for context in contexts:
        caches = model.allocate_inouts()
        for pos, token in enumerate(context):
            out = model.run(input_ids=np.array([[token]], np.int64),
                            position_ids=np.array([[pos]], np.int64),
                            cache_position=np.array(pos, np.int64), **caches)
            rows.append(out["logits"][0, -1])
    model.close()
    return np.stack(rows).reshape(contexts.shape + (-1,))


def rel_rms(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x.astype(np.float64) - ref) ** 2) / np.mean(ref.astype(np.float64) ** 2)))


def check_report(v: Variant, cfg, fused: bool, problems: list[str]) -> None:
    r = v.report
    ops = r.get("attention", [])
    hd = cfg.head_dim
    if len(ops) != cfg.n_layer:
        problems.append(f"{v.label}: {len(ops)} attention ops found, expected {cfg.n_layer}")
    for op in ops:
        want = {"q_heads": cfg.n_head, "kv_heads": v.kv_heads, "kv_heads_before": cfg.n_head,
                "head_dim": hd, "source": "raised", "fused_decode": fused}
        got = {k: op.get(k) for k in want}
        if got != want:
            problems.append(f"{v.label}: attention '{op.get('name')}' is {got}, expected {want}")
    per_token = cfg.n_layer * v.kv_heads * 2 * hd * 4
    before = cfg.n_layer * cfg.n_head * 2 * hd * 4
    if (r.get("kv_cache_bytes_per_token"), r.get("kv_cache_bytes_per_token_before")) != \
            (per_token, before):
        problems.append(f"{v.label}: report says {r.get('kv_cache_bytes_per_token')} KV bytes "
                        f"per token ({r.get('kv_cache_bytes_per_token_before')} before), "
                        f"expected {per_token} ({before})")
    if v.method == "default":
        # The default with --calibration: the joint fit (one entry per layer,
        # each lowering its aligned start's output error) or, where it cannot
        # rewrite the projections, aligned (each layer beating mean pooling).
        fits = r.get("share_kv_joint_fit", [])
        errors = r.get("share_kv_calibration", [])
        for e in fits:
            if not e["loss_fitted"] < e["loss_aligned"]:
                problems.append(f"{v.label}: '{e['name']}': joint fit output error "
                                f"{e['loss_fitted']:.3g} does not beat its aligned start "
                                f"{e['loss_aligned']:.3g}")
        if not fits:
            for e in errors:
                if not e["error_calibrated"] < e["error_mean"]:
                    problems.append(f"{v.label}: '{e['name']}': aligned output error "
                                    f"{e['error_calibrated']:.3g} does not beat mean "
                                    f"{e['error_mean']:.3g}")
        if len(fits or errors) != cfg.n_layer:
            problems.append(f"{v.label}: report has {len(fits or errors)} calibrated "
                            f"attentions, expected {cfg.n_layer}")


def plot(variants: list[Variant], preset: Preset, cfg, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    top = 0.0
    for v in variants:
        us = v.step_us.astype(np.float64)
        w = min(preset.smooth, len(us))
        pad = np.pad(us, (w // 2, w - 1 - w // 2), mode="edge")
        smooth = np.median(np.lib.stride_tricks.sliding_window_view(pad, w), axis=1)
        context = np.arange(1, len(us) + 1)  # keys attended at each step
        kvb = v.report["kv_cache_bytes_per_token"]
        line, = ax.plot(context, smooth / 1e3, label=f"{v.label}: {v.kv_heads} KV heads, "
                        f"{kvb} B/token", linewidth=1.6)
        ax.plot(context, us / 1e3, color=line.get_color(), alpha=0.25, linestyle="none",
                marker=".", markersize=1.5)
        top = max(top, float(smooth.max()) / 1e3)
    ax.set_xlabel("context length (tokens in the KV cache)")
    ax.set_ylabel("time per token (ms)")
    ax.set_title(f"attn-run --generate, fused in-place KV cache: d_model {cfg.d_model}, "
                 f"{cfg.n_head} query heads x {cfg.head_dim}, {cfg.n_layer} layers\n"
                 f"(dots: every step; lines: rolling median of {preset.smooth} steps)", fontsize=9)
    ax.set_ylim(0, 1.5 * top)  # spikes from other jobs stay off the scale
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def slope_us_per_1k(step_us: np.ndarray) -> float:
    """Least-squares growth of the step time, us per 1000 more cached tokens."""
    x = np.arange(1, len(step_us) + 1, dtype=np.float64)
    keep = step_us < 4 * np.median(step_us)  # drop spikes from other jobs
    return float(np.polyfit(x[keep], step_us[keep], 1)[0] * 1e3)


def demo(args) -> int:
    from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder
    import onnx

    build = Path(args.build).resolve()
    compile_, run_ = tool(build, "attn-compile"), tool(build, "attn-run")
    os.environ["ATTN_MLIR_LIB_DIR"] = str(build / "lib")  # the runtime of this build
    preset = PRESETS["quick" if args.quick else "full"]
    if args.steps:
        preset.steps = args.steps
        preset.ort_steps = min(preset.ort_steps, args.steps)
    out_dir = Path(args.out_dir or build / "demo").resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="attn-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()

    cfg = DecoderConfig(vocab=preset.vocab, d_model=preset.d_model, n_layer=preset.layers,
                        n_head=preset.heads, n_kv_head=preset.heads,
                        n_positions=max(POSITIONS, preset.steps), seed=0,
                        kv_similarity=KV_SIMILARITY)
    model = work / "decoder_mha.onnx"
    onnx.save(build_tiny_decoder(cfg), str(model))
    print(f"default model: GPT-style decode step (tiny_decoder), d_model {cfg.d_model}, "
          f"{cfg.n_layer} layers, {cfg.n_head} heads x {cfg.head_dim} (MHA), vocab {cfg.vocab}, "
          f"f32, past length symbolic, K/V heads {KV_SIMILARITY:.0%} similar -> {model}")

    # Calibration (fit) and evaluation (held-out) inputs: random token contexts
    # with an empty past, different seeds.
    calibration = work / "calibration.npz"
    np.savez(calibration, **context_inputs(cfg, cfg.n_head, *CALIBRATION, seed=100))
    eval_feeds = context_inputs(cfg, cfg.n_head, preset.contexts, preset.context_len, seed=200)
    eval_ref = ort_logits(model, eval_feeds)
    start_token = int(np.random.default_rng(7).integers(0, cfg.vocab))

    variants = [Variant("MHA", cfg.n_head)]
    for kv, name in ((2, "GQA"), (1, "MQA")):
        variants += [Variant(f"{name} mean", kv, "mean"),
                     Variant(f"{name} default", kv, "default")]

    problems: list[str] = []
    threads = ["--threads", str(args.threads)] if args.threads else []
    shape_flags = ["--input-shape", "input_ids=1x1", "--input-shape", "position_ids=1x1"]
    for v in variants:
        so, report = work / f"{v.tag}.so", work / f"{v.tag}.json"
        run([compile_, str(model), "-o", str(so), "--max-seq", str(preset.steps),
             "--report", str(report)] + shape_flags + v.share_flags(calibration))
        v.report = json.loads(report.read_text())
        check_report(v, cfg, True, problems)

        # Logit error: the held-out token contexts fed token by token through
        # this very library (teacher forcing; it builds its own KV cache).
        v.eval_logits = teacher_forced_logits(so, eval_feeds["input_ids"])

        # Greedy decoding from one start token and an empty cache.
        start = {"input_ids": np.array([[start_token]], np.int64),
                 "position_ids": np.zeros((1, 1), np.int64)}
        start.update(empty_caches(cfg, v.kv_heads, 1))
        start_npz, gen_npz = work / f"{v.tag}.start.npz", work / f"{v.tag}.gen.npz"
        np.savez(start_npz, **start)
        out = run([run_, str(so), "--inputs", str(start_npz), "--generate", str(preset.steps),
                   "--outputs", str(gen_npz)] + threads)
        gen = np.load(gen_npz)
        v.tokens, v.logits, v.step_us = gen["tokens"], gen["logits"], gen["step_us"]
        v.median_us = float(re.search(r"median_us:\s*([0-9.eE+-]+)", out).group(1))
        printed = re.search(r"tokens:((?: \d+)*)", out).group(1).split()
        if [int(t) for t in printed] != v.tokens.tolist() or len(printed) != preset.steps:
            problems.append(f"{v.label}: printed tokens differ from the --outputs tokens")
        print(f"  {v.label:15s} tokens: {' '.join(map(str, v.tokens[:24]))} ...", flush=True)

        if v.method is None:
            ref_tokens, ref_logits = ort_greedy(model, start, preset.ort_steps)
            diff = float(np.abs(v.logits[:preset.ort_steps] - ref_logits).max())
            same = bool((v.tokens[:preset.ort_steps] == ref_tokens).all())
            print(f"  {'ONNX Runtime':15s} tokens: {' '.join(map(str, ref_tokens[:24]))} ... "
                  f"({preset.ort_steps} steps: max |logit diff| {diff:.1e}, "
                  f"tokens {'equal' if same else 'DIFFER'})", flush=True)
            if diff > ORT_ATOL or not same:
                problems.append(f"MHA fused decode differs from ONNX Runtime's greedy loop: max "
                                f"|logit diff| {diff:.2e} (tolerance {ORT_ATOL:g}), tokens "
                                f"{'equal' if same else 'differ'}")

    mha = variants[0]
    errors = {v.label: rel_rms(v.eval_logits, eval_ref) for v in variants}
    top1 = {v.label: float(np.mean(v.eval_logits.argmax(-1) == eval_ref.argmax(-1)))
            for v in variants}
    for kv in ("GQA", "MQA"):
        mean, fit = errors[f"{kv} mean"], errors[f"{kv} default"]
        if not fit < mean:
            problems.append(f"{kv}: default logit error {fit:.3g} does not beat mean "
                            f"{mean:.3g}")
    if errors["MHA"] > 1e-5:
        problems.append(f"MHA, fed the held-out contexts token by token, differs from ONNX "
                        f"Runtime's logits: relative RMS {errors['MHA']:.2e}")

    print()
    print(f"greedy decode: {preset.steps} steps from token {start_token} and an empty cache "
          f"(attn-run --generate, fused in-place KV cache, context 1..{preset.steps}, "
          f"{'threads: ' + str(args.threads) if args.threads else 'all threads'}); "
          f"ms/token: median over the steps")
    print(f"logit error: relative RMS ||L - L_ref|| / ||L_ref|| over the logits at every "
          f"position of {preset.contexts} held-out random contexts of {preset.context_len} "
          f"tokens, fed token by token (teacher forcing) to the variant's fused library, which "
          f"builds its own KV cache from them; L_ref = ONNX Runtime on the unconverted ONNX "
          f"model with the whole context at once. top-1 = MHA: argmax agreement at those "
          f"positions.")
    print(f"default: --share-kv=N --calibration, no method flag: attn-compile's default, "
          f"joint (aligned start, then each layer's Q, shared K/V and O projections fitted "
          f"by L-BFGS to the original attention's output) where it can rewrite those "
          f"projections, else aligned (RoPE-commuting alignment of the heads before they "
          f"merge); calibration: graph inputs of {CALIBRATION[0]} random contexts x "
          f"{CALIBRATION[1]} tokens with an empty past, other tokens than the held-out "
          f"contexts")
    header = ("variant", "attention ops", "KV heads", "KV-cache bytes/token", "ms/token",
              "logit error (rel RMS)", "top-1 = MHA", "share-kv op error")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for v in variants:
        ops = v.report["attention"]
        kinds = sorted({op["op"] for op in ops})
        fits = v.report.get("share_kv_joint_fit")
        cal = v.report.get("share_kv_calibration")
        if fits:
            op_err = "joint: aligned {:.4f} -> fitted {:.4f}".format(
                np.mean([e["loss_aligned"] for e in fits]),
                np.mean([e["loss_fitted"] for e in fits]))
        elif cal:
            op_err = "aligned: mean {:.3f} -> {:.3f}".format(
                np.mean([e["error_mean"] for e in cal]),
                np.mean([e["error_calibrated"] for e in cal]))
        else:
            op_err = "-"
        print(f"| {v.label} | {len(ops)} {'/'.join(kinds)} | "
              f"{ops[0]['kv_heads'] if ops else '?'} (of {ops[0]['kv_heads_before'] if ops else '?'}) | "
              f"{v.report['kv_cache_bytes_per_token']} | {v.median_us / 1e3:.3f} | "
              f"{errors[v.label]:.2e} | {100 * top1[v.label]:.0f}% | {op_err} |")
    print("(share-kv op error: the method the default ran and the attention-output error on "
          "the calibration inputs that attn-compile reports, mean over layers: joint, at its "
          "aligned start and after the fit; aligned, mean pooling's and its own)")

    png = out_dir / "decode_time_vs_context.png"
    timed = [v for v in variants if v.method in (None, "default")]
    plot(timed, preset, cfg, png)
    print()
    tail = max(1, len(mha.step_us) // 16)
    for v in timed:
        print(f"  {v.label:15s} ms/token: {np.median(v.step_us[:tail]) / 1e3:.3f} over the "
              f"first {tail} steps, {np.median(v.step_us[-tail:]) / 1e3:.3f} over the last "
              f"{tail}; grows {slope_us_per_1k(v.step_us):.0f} us per 1000 cached tokens "
              f"(least squares)")
    print(f"plot: {png}")
    print(f"demo took {time.time() - started:.0f} s; files in {work}"
          + ("" if args.workdir else " (removed)"))
    if not args.workdir:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    if problems:
        print("\ndemo: FAILED:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print("demo: all checks passed (report heads and bytes, fused decode = ONNX Runtime "
          f"within {ORT_ATOL:g}, the default joint sharing beats mean)")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build", help="build directory (bin/attn-compile, "
                        "bin/attn-run)")
    parser.add_argument("--quick", action="store_true",
                        help="a smaller model and a short generate (the lit test)")
    parser.add_argument("--steps", type=int, help="greedy steps of the timed generate")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of attn-run --generate (default 1: one decode step of "
                             "this small model is too little work to split; 0: the runtime's "
                             "default, all CPUs)")
    parser.add_argument("--out-dir", help="where the PNG goes (default BUILD/demo)")
    parser.add_argument("--workdir", help="keep the models, reports and npz files here")
    args = parser.parse_args()
    try:
        sys.exit(demo(args))
    except DemoError as e:
        print(f"demo: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
