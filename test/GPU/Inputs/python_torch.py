"""CUDA models run from Python on torch CUDA tensors (needs a GPU, torch).

    python_torch.py MODELS FIXTURES [RESULTS.json]

MODELS holds attn.so/attn.json (a GQA attention case of gen_case.py,
compiled for cuda) and gpt2.so (+ .params: the GPT-2 export's fused decode
step, max_seq 40, compiled for cuda); FIXTURES holds
gpt2_mha_ts17dyn.{inputs,generate16}.npz. Checks, printing PASS/FAIL per
check and "N passed, N failed":

- attention on torch tensors on a non-default stream against SDPA
  (enable_gqa, f32), the run enqueued behind work already on that stream
  (its inputs are written after a sleep there: a run on any other stream
  would read zeros) and the call returning before the stream is done;
  `stream=` as a torch.cuda.Stream and as an int handle;
- DeviceArray: torch reads it without a copy (__cuda_array_interface__ and
  DLPack, bf16 included); DeviceArray inputs give DeviceArray outputs;
  numpy in, numpy out;
- 16 greedy GPT-2 steps from Python on a non-default stream with torch
  caches that stay on the device (same buffers, nothing synchronised in
  the loop) give ONNX Runtime's tokens, logits within 1e-3; the CPU-style
  loop with numpy caches gives them too;
- the device ordinal: a device the machine lacks is refused;
- torch CPU tensors through a CPU build of the attention (attn-cpu.so, when
  the bundle has it): torch tensors out, equal to the numpy call.
"""

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import attn_mlir

models, fixtures = sys.argv[1], sys.argv[2]
results_path = sys.argv[3] if len(sys.argv) > 3 else None
results = {"checks": {}, "torch": torch.__version__,
           "device": torch.cuda.get_device_name(0)}


def report(name, ok, detail=""):
    results["checks"][name] = {"pass": bool(ok), "detail": detail}
    print(f"{'PASS' if ok else 'FAIL'}: {name} {detail}".rstrip(), flush=True)


def rel_err(got, want):
    return ((got.float() - want).abs() / (1 + want.abs())).max().item()


# The ordinal: checked before anything fixes it.
count = torch.cuda.device_count()
try:
    attn_mlir.set_cuda_device(count)
    report("bad device ordinal refused", False, "no error")
except attn_mlir.AttnError as e:
    report("bad device ordinal refused",
           f"there is no CUDA device {count}" in str(e), str(e))
attn_mlir.set_cuda_device(0)

# Attention against SDPA on a non-default stream.
cfg = json.load(open(os.path.join(models, "attn.json")))
model = attn_mlir.Model(os.path.join(models, "attn.so"))
out_name = model.outputs[0].name
b, hq, hkv, sq, skv, d = (cfg[k] for k in ("batch", "q_heads", "kv_heads",
                                           "sq", "skv", "d"))
gen = torch.Generator(device="cuda").manual_seed(0)
q_src = torch.randn(b, hq, sq, d, device="cuda", generator=gen).half()
k = torch.randn(b, hkv, skv, d, device="cuda", generator=gen).half()
v = torch.randn(b, hkv, skv, d, device="cuda", generator=gen).half()
want = F.scaled_dot_product_attention(q_src.float(), k.float(), v.float(),
                                      scale=cfg["scale"], enable_gqa=True)
torch.cuda.synchronize()
stream = torch.cuda.Stream()
q = torch.zeros_like(q_src)
with torch.cuda.stream(stream):
    torch.cuda._sleep(200_000_000)  # ~0.1 s of GPU time on this stream
    q.copy_(q_src)
    begin = time.perf_counter()
    out = model.run(query=q, key=k, value=v)[out_name]
    returned_ms = (time.perf_counter() - begin) * 1e3
    busy = not stream.query()
stream.synchronize()
err = rel_err(out, want)
report("attention on the current (non-default) stream vs SDPA",
       err <= 5e-3 and isinstance(out, torch.Tensor) and out.is_cuda
       and out.dtype == torch.float16 and busy,
       f"err {err:.2e}, returned in {returned_ms:.2f} ms with the stream "
       f"still busy: {busy}")
for label, s in (("torch.cuda.Stream", stream),
                 ("int handle", stream.cuda_stream)):
    q.zero_()
    torch.cuda.synchronize()
    with torch.cuda.stream(stream):
        torch.cuda._sleep(100_000_000)
        q.copy_(q_src)
    torch.cuda.current_stream().synchronize()
    out = model.run(query=q, key=k, value=v, stream=s)[out_name]
    stream.synchronize()
    err = rel_err(out, want)
    report(f"stream= {label}", err <= 5e-3, f"err {err:.2e}")

# DeviceArray and torch.
host = np.arange(12, dtype=np.float32).reshape(3, 4)
a = attn_mlir.to_device(host)
t_cai = torch.as_tensor(a, device="cuda")
t_dl = torch.from_dlpack(a)
ok = (t_cai.data_ptr() == a.ptr == t_dl.data_ptr()
      and torch.equal(t_cai.cpu(), torch.from_numpy(host))
      and torch.equal(t_dl.cpu(), torch.from_numpy(host)))
bits = np.array([0x3f80, 0x4000, 0xc040], np.uint16)  # 1, 2, -3
t_bf = torch.from_dlpack(attn_mlir.to_device(bits, "bf16"))
ok &= t_bf.dtype == torch.bfloat16 and t_bf.float().cpu().tolist() == [1, 2, -3]
report("DeviceArray read by torch without a copy (CAI, DLPack, bf16)", ok)
feed = {"query": q_src, "key": k, "value": v}
dev_out = model.run({n: attn_mlir.to_device(t.cpu().numpy())
                     for n, t in feed.items()})[out_name]
np_out = model.run({n: t.cpu().numpy() for n, t in feed.items()})[out_name]
ok = (isinstance(dev_out, attn_mlir.DeviceArray)
      and isinstance(np_out, np.ndarray))
err = max(rel_err(torch.from_numpy(dev_out.numpy()).cuda(), want),
          rel_err(torch.from_numpy(np_out).cuda(), want))
report("DeviceArray in -> DeviceArray out; numpy in -> numpy out",
       ok and err <= 5e-3, f"err {err:.2e}")

# Greedy GPT-2 from Python with device caches.
gpt = attn_mlir.Model(os.path.join(models, "gpt2.so"))
step = dict(np.load(os.path.join(fixtures, "gpt2_mha_ts17dyn.inputs.npz")))
ref = np.load(os.path.join(fixtures, "gpt2_mha_ts17dyn.generate16.npz"))
past = step["past_key_0"].shape[2]


def greedy_torch(stream):
    with torch.cuda.stream(stream):
        caches = gpt.allocate_inouts(device=torch.device("cuda"))
        ptrs = {n: c.data_ptr() for n, c in caches.items()}
        for name, cache in caches.items():
            cache[:, :, :past].copy_(torch.from_numpy(step[name]).cuda())
        ids = torch.from_numpy(step["input_ids"]).cuda()
        positions = torch.from_numpy(step["position_ids"]).cuda()
        position = torch.tensor(past, dtype=torch.int64, device="cuda")
        tokens, rows = [], []
        start, end = torch.cuda.Event(True), torch.cuda.Event(True)
        start.record()
        for _ in range(16):
            out = gpt.run(input_ids=ids, position_ids=positions,
                          cache_position=position, **caches)
            row = out["logits"][0, -1]
            token = row.argmax()
            tokens.append(token)
            rows.append(row)
            ids = token.view(1, 1)
            positions = positions + 1
            position = position + 1
        end.record()
        busy = not stream.query()
    stream.synchronize()
    same = all(c.data_ptr() == ptrs[n] for n, c in caches.items())
    return (torch.stack(tokens).cpu().tolist(), torch.stack(rows).cpu().numpy(),
            start.elapsed_time(end) / 16, same, busy)


loop_stream = torch.cuda.Stream()
for attempt in ("first (uploads the weights)", "second"):
    tokens, logits, ms, same, busy = greedy_torch(loop_stream)
    err = float(np.abs(logits - ref["logits"]).max())
    report(f"GPT-2 16 greedy steps, torch device caches, {attempt}",
           tokens == ref["tokens"].tolist() and err <= 1e-3 and same,
           f"tokens equal {tokens == ref['tokens'].tolist()}, logits err "
           f"{err:.1e}, caches kept in place {same}, loop enqueued without "
           f"waiting {busy}, {ms * 1e3:.0f} us/step")
results["gpt2_us_per_step"] = round(ms * 1e3, 1)

caches = gpt.allocate_inouts()
for name, cache in caches.items():
    cache[:, :, :past] = step[name]
ids, positions, tokens = step["input_ids"], step["position_ids"], []
for i in range(16):
    row = gpt.run(input_ids=ids, position_ids=positions,
                  cache_position=past + i, **caches)["logits"][0, -1]
    tokens.append(int(row.argmax()))
    ids = np.full_like(ids, tokens[-1])
    positions = positions + 1
report("GPT-2 16 greedy steps, numpy caches (CPU-style API)",
       tokens == ref["tokens"].tolist())

# torch CPU tensors through a CPU build of the same attention: torch tensors
# in (DLPack, no copy), torch tensors out, equal to the numpy call.
if os.path.exists(os.path.join(models, "attn-cpu.so")):
    cpu = attn_mlir.Module(os.path.join(models, "attn-cpu.so"))
    feed_cpu = {n: t.cpu() for n, t in feed.items()}
    out_t = cpu(**feed_cpu)[out_name]
    out_np = cpu(**{n: t.numpy() for n, t in feed_cpu.items()})[out_name]
    ok = (isinstance(out_t, torch.Tensor) and out_t.device.type == "cpu"
          and np.array_equal(out_t.numpy(), out_np))
    err = rel_err(out_t.cuda(), want)
    report("torch CPU tensors on a CPU build (torch out, = numpy call)",
           ok and err < 5e-3, f"err vs SDPA {err:.2e}")

passed = sum(c["pass"] for c in results["checks"].values())
failed = len(results["checks"]) - passed
print(f"{passed} passed, {failed} failed")
if results_path:
    with open(results_path, "w") as f:
        json.dump(results, f, indent=1)
sys.exit(1 if failed else 0)
