"""`python3 -m attn_mlir bench`: decode-step latency and achieved memory
bandwidth against context length for MHA, GQA and MQA versions of one
decoder (python/attn_mlir_models/tiny_decoder.py, seeded weights), on the
CPU and, where one is usable, the GPU; one PNG per device with the roofline
(bytes a step must read / read bandwidth measured by a small loop).

A step at context c runs with c positions in the in-place KV cache; it
reads every weight except the embedding tables (one row each) and, per
layer, the keys and values of the c positions:
  bytes(c) = weights + 2 * layers * batch * kv_heads * c * head_dim * 4.
Achieved bandwidth = bytes(c) / median step time.
"""

import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

import numpy as np

VARIANTS = (("MHA", None), ("GQA", 2), ("MQA", 1))


def add_arguments(p) -> None:
    p.add_argument("--out", default="attn-bench", metavar="DIR",
                   help="where the PNGs and bench.json go")
    p.add_argument("--contexts", default="256,1024,2048,4096",
                   help="comma-separated context lengths")
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"],
                   default="auto", help="auto: the CPU, and the GPU if "
                                        "one is usable")
    p.add_argument("--quick", action="store_true",
                   help="small contexts and model, few repeats (tests)")
    p.add_argument("--compile-only", metavar="DIR",
                   help="compile the models for --device (cuda needs no "
                        "GPU here) into DIR and stop: a machine without the "
                        "compiler (a GPU host) then runs --models DIR")
    p.add_argument("--models", metavar="DIR",
                   help="time the libraries of --compile-only DIR instead "
                        "of compiling (needs only the runtime)")


def read_bandwidth_cpu(mib: int = 256, repeats: int = 5) -> float:
    """Bytes/s that the runtime's threads read, summing slices of one
    array in parallel (numpy's sum releases the GIL)."""
    from . import get_num_threads
    threads = max(1, get_num_threads())
    data = np.ones(mib * (1 << 20) // 4, dtype=np.float32)
    chunks = np.array_split(data, threads)
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(np.sum, chunks))
            best = min(best, time.perf_counter() - start)
    return data.nbytes / best


def read_bandwidth_cuda(mib: int = 512, repeats: int = 5) -> float:
    """Device-to-device copy bandwidth (read + write) of the runtime's GPU,
    counted as bytes moved: the copy reads and writes each byte."""
    from . import DeviceArray, _device, _lib, synchronize
    n = mib * (1 << 20)
    src, dst = DeviceArray((n,), "u8"), DeviceArray((n,), "u8")
    best = float("inf")
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        # The copy is asynchronous: the time counts until it is done.
        _device.check(_lib.runtime().attnCudaMemcpy(dst.ptr, src.ptr, n),
                      "copying on the GPU")
        synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n / best


def _weight_bytes(model) -> int:
    """Bytes of the initializers a step reads: all but the tables that
    Gather indexes (one row of those)."""
    from onnx import numpy_helper
    gathered = {n.input[0] for n in model.graph.node if n.op_type == "Gather"}
    total = 0
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        total += array[0].nbytes if init.name in gathered and array.ndim \
            else array.nbytes
    return total


def _time_step(module, context: int, repeats: int) -> float:
    """Median seconds of one decode step with `context` cached positions."""
    from . import synchronize, to_device
    m = module.model
    sig = module.signature
    caches = module.state()
    feed = {}
    for s in m.inputs:
        value = context - 1 if s.name in (sig.roles.get("cache_position"),
                                          sig.roles.get("position_ids")) \
            else 0
        feed[s.name] = np.full(s.shape, value, dtype=s.numpy_dtype)
        # On the GPU the inputs stay on the device (as a serving loop keeps
        # them), so a step is its launches, not host copies.
        if m.device == "cuda":
            feed[s.name] = to_device(feed[s.name])
    times = []
    for i in range(repeats + 2):
        start = time.perf_counter()
        m.run({**feed, **caches})
        if m.device == "cuda":
            synchronize()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _library(models_dir: str, device: str, label: str) -> str:
    return os.path.join(models_dir, f"{device}-{label}.so")


def _compile_variants(device: str, contexts: List[int], args,
                      models_dir: str = None) -> List[Dict]:
    """Compiles the MHA/GQA/MQA decoders for `device`; with `models_dir`
    the libraries are written there. One dict per variant: the Module (or
    its path) and what the bandwidth needs (weight bytes, KV geometry)."""
    import attn_mlir
    from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder
    variants = []
    for label, kv in VARIANTS:
        cfg = DecoderConfig(d_model=args.d_model, n_layer=args.layers,
                            n_head=args.heads, n_kv_head=kv or args.heads,
                            n_positions=max(contexts))
        proto = build_tiny_decoder(cfg)
        out = _library(models_dir, device, label) if models_dir else None
        module = attn_mlir.compile(proto, out, target=device,
                                   dims={"batch": 1, "seq": 1},
                                   max_seq=max(contexts))
        variants.append({"label": label, "module": module,
                         "weights": _weight_bytes(proto),
                         "layers": cfg.n_layer, "kv_heads": cfg.n_kv_head,
                         "head_dim": cfg.head_dim})
    return variants


def compile_only(devices: List[str], contexts: List[int], args) -> None:
    """`--compile-only DIR`: the libraries and models.json that `--models
    DIR` times on another machine."""
    os.makedirs(args.compile_only, exist_ok=True)
    manifest = {"contexts": contexts, "model": {
        "heads": args.heads, "d_model": args.d_model, "layers": args.layers},
        "devices": {}}
    for device in devices:
        variants = _compile_variants(device, contexts, args, args.compile_only)
        for v in variants:
            v.pop("module")  # written to DIR; nothing was loaded
        manifest["devices"][device] = variants
        print(f"compiled {len(variants)} {device} models into "
              f"{args.compile_only}")
    with open(os.path.join(args.compile_only, "models.json"), "w") as f:
        json.dump(manifest, f, indent=2)


def _load_variants(device: str, args) -> List[Dict]:
    import attn_mlir
    with open(os.path.join(args.models, "models.json")) as f:
        manifest = json.load(f)
    if device not in manifest["devices"]:
        raise ValueError(f"--models {args.models}: no {device} models (it "
                         f"has {', '.join(manifest['devices']) or 'none'})")
    variants = manifest["devices"][device]
    for v in variants:
        v["module"] = attn_mlir.Module(_library(args.models, device,
                                                v["label"]))
    return variants


def _measure(device: str, contexts: List[int], args) -> Dict:
    variants = (_load_variants(device, args) if args.models
                else _compile_variants(device, contexts, args))
    rows = []
    for v in variants:
        label, module, weights = v["label"], v["module"], v["weights"]
        for c in contexts:
            seconds = _time_step(module, c, args.repeats)
            kv_bytes = 2 * v["layers"] * v["kv_heads"] * c * v["head_dim"] * 4
            rows.append({"variant": label, "kv_heads": v["kv_heads"],
                         "context": c, "ms": seconds * 1e3,
                         "bytes": weights + kv_bytes,
                         "gbps": (weights + kv_bytes) / seconds / 1e9})
            print(f"{device} {label:3} kv_heads={v['kv_heads']} context={c:6d}"
                  f"  {seconds * 1e3:8.3f} ms  "
                  f"{rows[-1]['gbps']:7.2f} GB/s", flush=True)
        module.model.close()
    return {"rows": rows}


def _plot(device: str, result: Dict, bandwidth: float, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (lat, bw) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, _ in VARIANTS:
        rows = [r for r in result["rows"] if r["variant"] == label]
        ctx = [r["context"] for r in rows]
        line, = lat.plot(ctx, [r["ms"] for r in rows], "o-",
                         label=f"{label} ({rows[0]['kv_heads']} KV heads)")
        lat.plot(ctx, [r["bytes"] / bandwidth * 1e3 for r in rows], "--",
                 color=line.get_color(), alpha=0.6,
                 label=f"{label} roofline")
        bw.plot(ctx, [r["gbps"] for r in rows], "o-",
                color=line.get_color(), label=label)
    bw.axhline(bandwidth / 1e9, color="black", linestyle="--",
               label=f"measured read bandwidth {bandwidth / 1e9:.1f} GB/s")
    lat.set(xlabel="context (cached positions)", ylabel="ms per decode step",
            title=f"{device}: decode latency")
    bw.set(xlabel="context (cached positions)", ylabel="GB/s",
           title=f"{device}: achieved bandwidth")
    for ax in (lat, bw):
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(args) -> int:
    import attn_mlir
    if args.quick:
        contexts = [32, 128, 512]
        args.d_model, args.layers = 128, 2
        args.repeats = min(args.repeats, 5)
    else:
        contexts = sorted({int(c) for c in args.contexts.split(",") if c})
    if not contexts or contexts[0] < 1:
        raise ValueError(f"--contexts {args.contexts!r}: positive lengths")
    if args.compile_only and args.models:
        raise ValueError("--compile-only and --models exclude each other")
    devices = ["cpu"] if args.device == "cpu" else (
        ["cuda"] if args.device == "cuda" else ["cpu"])
    if args.compile_only:
        # Compiling for cuda needs no GPU: --device auto means both here.
        compile_only(["cpu", "cuda"] if args.device == "auto" else devices,
                     contexts, args)
        return 0
    if args.models:
        with open(os.path.join(args.models, "models.json")) as f:
            manifest = json.load(f)
        # The libraries fix the model and the cache capacity.
        contexts = [c for c in contexts if c <= max(manifest["contexts"])]
        if not contexts:
            raise ValueError(f"--contexts: every length exceeds the "
                             f"capacity of --models {args.models} "
                             f"({max(manifest['contexts'])})")
        model = manifest["model"]
        args.heads, args.d_model, args.layers = (
            model["heads"], model["d_model"], model["layers"])
    if args.device == "auto" and attn_mlir.cuda_is_available():
        devices.append("cuda")
    if args.models and args.device == "auto":
        devices = [d for d in devices if d in manifest["devices"]]
    if "cuda" in devices and not attn_mlir.cuda_is_available():
        raise ValueError("--device cuda: no usable GPU (the CUDA driver "
                         "does not load or has no device)")
    os.makedirs(args.out, exist_ok=True)
    summary = {"contexts": contexts, "threads": attn_mlir.get_num_threads(),
               "model": {"heads": args.heads, "d_model": args.d_model,
                         "layers": args.layers}}
    for device in devices:
        bandwidth = (read_bandwidth_cpu(64 if args.quick else 256)
                     if device == "cpu" else read_bandwidth_cuda())
        print(f"{device}: measured read bandwidth {bandwidth / 1e9:.2f} GB/s")
        result = _measure(device, contexts, args)
        result["read_bandwidth_gbps"] = bandwidth / 1e9
        png = os.path.join(args.out, f"decode_{device}.png")
        _plot(device, result, bandwidth, png)
        result["png"] = png
        summary[device] = result
        print(f"wrote {png}")
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return 0
