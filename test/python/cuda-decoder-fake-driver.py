# REQUIRES: ptxas
# A real decoder compiled for --target cuda (the GPT-2 export, fused decode
# step with device KV caches), driven from Python through a fake libcuda
# (Inputs/fake-libcuda-mem.c) whose device memory the host cannot touch:
# the greedy loop with DeviceArray caches runs without any host access to a
# device buffer (it would crash), never copies a cache, and reads nothing
# back until the logits are asked for; the CPU-style loop (numpy caches)
# still works, copying the caches each step. The fake kernels compute
# nothing: only data movement is checked here (test/GPU checks numbers).

# RUN: rm -rf %t && mkdir -p %t/driver
# RUN: cc -shared -fPIC -o %t/driver/libcuda.so.1 %S/Inputs/fake-libcuda-mem.c
# RUN: env LD_LIBRARY_PATH=%t/driver ATTN_MLIR_LIB_DIR=%attn_lib_dir %python %s %fixtures/exports %t run > %t/out.txt 2> %t/log.txt
# RUN: %python %s %fixtures/exports %t check >> %t/out.txt
# RUN: FileCheck %s < %t/out.txt

import os
import re
import sys

import numpy as np

import attn_mlir

fixtures, tmp, mode = sys.argv[1:4]


def mark(text):
    sys.stdout.flush()
    sys.stderr.write(f"== {text}\n")
    sys.stderr.flush()


if mode == "run":
    so = attn_mlir.compile(os.path.join(fixtures, "gpt2_mha_ts17dyn.onnx"),
                           os.path.join(tmp, "gpt2.so"), target="cuda",
                           max_seq=40)
    model = attn_mlir.Model(so)
    # CHECK: device cuda caches past_key_0 past_value_0 past_key_1 past_value_1
    print("device", model.device, "caches", *[s.name for s in model.inouts])
    caches = model.allocate_inouts(device="cuda")
    ids = attn_mlir.to_device(np.zeros((1, 1), np.int64))
    positions = [attn_mlir.to_device(np.full((1, 1), 16 + i, np.int64))
                 for i in range(4)]
    cache_positions = [attn_mlir.to_device(np.int64(16 + i))
                       for i in range(4)]
    for i in range(4):
        mark(f"step {i}")
        out = model.run(input_ids=ids, position_ids=positions[i],
                        cache_position=cache_positions[i], **caches)
    mark("read logits")
    logits = out["logits"].numpy()
    # CHECK-NEXT: logits (1, 1, 256) float32
    print("logits", logits.shape, logits.dtype)
    host = model.allocate_inouts()
    mark("host step")
    out = model.run(input_ids=np.zeros((1, 1), np.int64),
                    position_ids=np.full((1, 1), 16, np.int64),
                    cache_position=16, **host)
    assert isinstance(out["logits"], np.ndarray)
    mark("end")
    sys.exit(0)

# Reads the driver's log of the run above, step by step.
log = open(os.path.join(tmp, "log.txt")).read()
parts = re.split(r"^== (.*)$", log, flags=re.M)
steps = dict(zip(parts[1::2], parts[2::2]))
cache_bytes = 1 * 4 * 40 * 16 * 4


def copies(text, kind):
    return [int(n) for n in re.findall(rf"cuMemcpy\w* (\d+) {kind}", text)]


launches = [steps[f"step {i}"].count("cuLaunchKernel") for i in range(4)]
# CHECK-NEXT: the same launches every step: True
print("the same launches every step:",
      len(set(launches)) == 1 and launches[0] > 0)
# The weights go up once, in the first step; nothing else moves but the
# decode checks' error record (six i64), read back once a run.
later = "".join(steps[f"step {i}"] for i in (1, 2, 3))
down = copies(later, 'DtoH')
# CHECK-NEXT: steps 1-3: host to device 0 bytes, device to host 0 bytes, error records [48, 48, 48]
print(f"steps 1-3: host to device {sum(copies(later, 'HtoD'))} bytes, "
      f"device to host {sum(n for n in down if n != 48)} bytes, "
      f"error records {[n for n in down if n == 48]}")
# CHECK-NEXT: read logits: device to host [1024]
print("read logits: device to host", copies(steps["read logits"], "DtoH"))
host = steps["host step"]
# CHECK-NEXT: host step: caches copied in 4 out 4
print("host step: caches copied in", copies(host, "HtoD").count(cache_bytes),
      "out", copies(host, "DtoH").count(cache_bytes))
