# The Python package on a CUDA model without a GPU: a fake libcuda.so.1
# (Inputs/fake-libcuda-mem.c) whose device memory the host cannot touch
# (any host access to a device pointer crashes) and whose one kernel
# computes y = 2x + 1, cache[pos] = x[0] + x[1] on it
# (Inputs/fake-cuda-model.c). Checked: the device ordinal, DeviceArray
# round trips, host data copied in and out (the CPU-style API), device
# tensors used in place through __cuda_array_interface__ and DLPack, device
# caches kept between runs, streams (no wait until the data is read), the
# errors for wrong dtype/shape/device/layout/stream, driver failures, and a
# CPU model refusing device tensors.

# RUN: rm -rf %t && mkdir -p %t/driver
# RUN: cc -shared -fPIC -o %t/driver/libcuda.so.1 %S/Inputs/fake-libcuda-mem.c
# RUN: cc -shared -fPIC -o %t/cuda.so %S/Inputs/fake-cuda-model.c -L%attn_lib_dir -lAttnRuntime -Wl,-rpath,%attn_lib_dir
# RUN: cc -shared -fPIC -o %t/cpu.so %S/../Runtime/Inputs/fake-model.c '-DSIGNATURE="attn-model 1\ndevice cpu\ninput x f32 1 4\noutput y f32 1 4\n"'
# RUN: env LD_LIBRARY_PATH=%t/driver FAKE_CUDA_DEVICES=2 ATTN_MLIR_LIB_DIR=%attn_lib_dir %python %s %t main > %t/out.txt 2> %t/err.txt
# RUN: FileCheck %s < %t/out.txt
# RUN: FileCheck %s --check-prefix=LOG < %t/err.txt
# RUN: env LD_LIBRARY_PATH=%t/driver FAKE_CUDA_FAIL=cuLaunchKernel=700 ATTN_MLIR_LIB_DIR=%attn_lib_dir %python %s %t fail 2>/dev/null | FileCheck %s --check-prefix=FAIL
# RUN: env LD_LIBRARY_PATH=%t/nodriver ATTN_MLIR_LIB_DIR=%attn_lib_dir %python %s %t nodriver 2>/dev/null | FileCheck %s --check-prefix=NODRIVER

import os
import sys

import numpy as np

import attn_mlir
from attn_mlir import _device, _dlpack

tmp, mode = sys.argv[1], sys.argv[2]


def expect(error, fn):
    try:
        fn()
    except error as e:
        print(type(e).__name__ + ":", str(e).splitlines()[0])
        return
    raise AssertionError("no error")


def mark(text):
    """A line in the driver's log (stderr), in order with its calls."""
    sys.stdout.flush()
    sys.stderr.write(f"== {text}\n")
    sys.stderr.flush()


x = np.arange(6, dtype=np.float32).reshape(2, 3)
want_y = 2 * x + 1

if mode == "fail":
    model = attn_mlir.Model(os.path.join(tmp, "cuda.so"))
    # FAIL: AttnError: running the CUDA model: cuLaunchKernel failed: CUDA_ERROR_ILLEGAL_ADDRESS (700)
    expect(attn_mlir.AttnError,
           lambda: model.run(x=x, pos=0, cache=np.zeros((4, 3), np.float32)))
    sys.exit(0)

if mode == "nodriver":
    # NODRIVER: available False
    print("available", attn_mlir.cuda_is_available())
    # NODRIVER-NEXT: AttnError: attnCudaSetDevice(0): the CUDA driver (libcuda.so.1) cannot be loaded:
    expect(attn_mlir.AttnError, lambda: attn_mlir.set_cuda_device(0))
    # NODRIVER-NEXT: AttnError: allocating a DeviceArray: attnCudaMalloc: the CUDA driver (libcuda.so.1) cannot be loaded:
    expect(attn_mlir.AttnError, lambda: attn_mlir.DeviceArray((2,), "f32"))
    sys.exit(0)

# The device: the fake driver has two; 1 is chosen before any use.
# CHECK: AttnError: attnCudaSetDevice(2): there is no CUDA device 2 (2 devices)
expect(attn_mlir.AttnError, lambda: attn_mlir.set_cuda_device(2))
attn_mlir.set_cuda_device(1)
model = attn_mlir.Model(os.path.join(tmp, "cuda.so"))
# LOG: fake-cuda: primary context of device 1
# CHECK-NEXT: device cuda, runtime device 1, available True
print(f"device {model.device}, runtime device {attn_mlir.cuda_device()}, "
      f"available {attn_mlir.cuda_is_available()}")
# CHECK-NEXT: AttnError: attnCudaSetDevice(0): the runtime already uses CUDA device 1; choose the device before loading a CUDA model or allocating device memory
expect(attn_mlir.AttnError, lambda: attn_mlir.set_cuda_device(0))
attn_mlir.set_cuda_device(1)  # the same one is fine

# DeviceArray: host -> device -> host, every dtype; bf16 as uint16 bits.
for dtype, np_dtype in _device.NUMPY_DTYPES.items():
    host = (np.arange(12) % 7 - 3).astype(np_dtype).reshape(3, 4)
    a = attn_mlir.to_device(host, dtype)
    assert a.dtype == dtype and a.shape == (3, 4) and a.device == "cuda:1"
    assert a.ptr % 256 == 0 and a.nbytes == host.nbytes
    assert np.array_equal(a.numpy(), host) and a.numpy().dtype == np_dtype
z = attn_mlir.DeviceArray.zeros((5,), "i32")
assert np.array_equal(z.numpy(), np.zeros(5, np.int32))
z.copy_from(np.arange(5, dtype=np.int32))
assert np.array_equal(z.numpy(), np.arange(5))
scalar = attn_mlir.to_device(np.int64(7))
assert scalar.shape == () and scalar.numpy() == 7
# CHECK-NEXT: DeviceArray round trips: ok
print("DeviceArray round trips: ok")
# CHECK-NEXT: ValueError: cannot copy a float64 array of shape [5] into a DeviceArray of i32 [5]
expect(ValueError, lambda: z.copy_from(np.zeros(5)))
z.free()
# CHECK-NEXT: AttnError: the DeviceArray has been freed
expect(attn_mlir.AttnError, lambda: z.numpy())

# Host data (the CPU-style API): copied to the device and back.
cache = model.allocate_inouts()["cache"]
assert isinstance(cache, np.ndarray)
out = model.run(x=x, pos=1, cache=cache)
assert isinstance(out["y"], np.ndarray) and np.array_equal(out["y"], want_y)
assert np.array_equal(cache[1], x[0] + x[1]) and not cache[[0, 2, 3]].any()
# CHECK-NEXT: host data: ok
print("host data: ok")

# Device tensors: used in place; outputs are DeviceArrays; the caches stay
# on the device between runs.
caches = model.allocate_inouts(device="cuda")
assert isinstance(caches["cache"], attn_mlir.DeviceArray)
assert not caches["cache"].numpy().any()
xd = attn_mlir.to_device(x)
mark("device loop")
for step in range(4):
    out = model.run(x=xd, pos=attn_mlir.to_device(np.int64(step)), **caches)
    xd = attn_mlir.to_device(x + step + 1)
mark("device loop done")
# Nothing goes back to the host in the loop: only the new inputs go in.
# LOG-LABEL: == device loop
# LOG-NOT: DtoH
# LOG: == device loop done
assert isinstance(out["y"], attn_mlir.DeviceArray)
assert np.array_equal(out["y"].numpy(), 2 * (x + 3) + 1)
got = caches["cache"].numpy()
assert np.array_equal(got, np.stack([x[0] + x[1] + 2 * s for s in range(4)]))
# CHECK-NEXT: device caches: ok
print("device caches: ok")

# A stream: the run is enqueued there and nothing waits for it until its
# output is read (DeviceArray.numpy() synchronises that stream).


class Stream:
    def __init__(self, handle):
        self.handle = handle

    def __cuda_stream__(self):
        return (0, self.handle)


class TorchLikeStream:
    cuda_stream = 0x5678


pos = attn_mlir.to_device(np.int64(0))
for stream, handle in ((0x1234, "0x1234"), (Stream(0x2345), "0x2345"),
                       (TorchLikeStream(), "0x5678")):
    mark(f"stream {handle}")
    out = model.run(x=xd, pos=pos, stream=stream, **caches)
    mark("returned")
    assert out["y"].stream == int(handle, 16)
    assert out["y"].__cuda_array_interface__["stream"] == int(handle, 16)
    out["y"].numpy()
    # The next run on another stream waits for the cache's writer.
# LOG-LABEL: == stream 0x1234
# LOG-NEXT: cuMemAlloc 24
# LOG-NEXT: cuLaunchKernel fake_step stream 0x1234
# LOG-NOT: cuStreamSynchronize
# LOG: == returned
# LOG-NEXT: cuStreamSynchronize 0x1234
# LOG-NEXT: cuMemcpy 24 DtoH
# LOG-LABEL: == stream 0x2345
# LOG-NEXT: cuStreamSynchronize 0x1234
# LOG-NEXT: cuMemAlloc 24
# LOG-NEXT: cuLaunchKernel fake_step stream 0x2345
# LOG-LABEL: == stream 0x5678
# LOG-NEXT: cuStreamSynchronize 0x2345
# LOG-NEXT: cuMemAlloc 24
# LOG-NEXT: cuLaunchKernel fake_step stream 0x5678
# CHECK-NEXT: TypeError: stream must be None, an int CUstream handle, a torch.cuda.Stream or an object with __cuda_stream__, not str
expect(TypeError, lambda: model.run(x=xd, pos=pos, stream="s", **caches))
# Host data with a stream: waited for, then copied back.
mark("host data on a stream")
out = model.run(x=x, pos=0, stream=0x1234, cache=cache)
assert np.array_equal(out["y"], want_y)
# With any device tensor given, the outputs stay on the device.
out = model.run(x=x, pos=pos, stream=0x1234, **caches)
assert np.array_equal(out["y"].numpy(), want_y)
# LOG-LABEL: == host data on a stream
# LOG: cuLaunchKernel fake_step stream 0x1234
# LOG-NEXT: cuStreamSynchronize 0x1234
# LOG: cuMemcpy 24 DtoH
# CHECK-NEXT: streams: ok
print("streams: ok")


class CAI:
    """A device tensor known only by __cuda_array_interface__."""

    def __init__(self, base, **changes):
        self.base = base
        self.__cuda_array_interface__ = dict(base.__cuda_array_interface__,
                                             **changes)


xd = attn_mlir.to_device(x)
out = model.run(x=CAI(xd), pos=CAI(pos), cache=CAI(caches["cache"]))
assert np.array_equal(out["y"].numpy(), want_y)
# A producer's stream is waited for before the run.
mark("producer stream")
model.run(x=CAI(xd, stream=0x777), pos=pos, **caches)
# LOG-LABEL: == producer stream
# LOG-NEXT: cuStreamSynchronize 0x777
# LOG-NEXT: cuMemAlloc 24
# LOG-NEXT: cuLaunchKernel fake_step stream (nil)
# CHECK-NEXT: __cuda_array_interface__: ok
print("__cuda_array_interface__: ok")
# CHECK-NEXT: ValueError: input 'x' has dtype <f8, the model expects f32
expect(ValueError, lambda: model.run(x=CAI(xd, typestr="<f8"), pos=pos, **caches))
# CHECK-NEXT: ValueError: input 'x' has shape [3, 2], the model expects [2, 3]
expect(ValueError, lambda: model.run(x=CAI(xd, shape=(3, 2)), pos=pos, **caches))
# CHECK-NEXT: ValueError: input 'x' is not C-contiguous (dense, row major); pass a contiguous copy
expect(ValueError, lambda: model.run(x=CAI(xd, strides=(4, 8)), pos=pos, **caches))
# CHECK-NEXT: ValueError: inout 'cache' is at {{0x[0-9a-f]+}}4, not 16-byte aligned as CUDA models need (a view at an offset?); pass a copy
expect(ValueError, lambda: model.run(x=xd, pos=pos, cache=CAI(
    caches["cache"], data=(caches["cache"].ptr + 4, False))))
# CHECK-NEXT: ValueError: inout 'cache' is read-only, but the run updates it in place
expect(ValueError, lambda: model.run(x=xd, pos=pos, cache=CAI(
    caches["cache"], data=(caches["cache"].ptr, True))))
# Contiguity ignores the strides of sizes 1.
model.run(x=xd, pos=attn_mlir.to_device(np.int64(0)),
          cache=CAI(caches["cache"], strides=(12, 4)))
# CHECK-NEXT: ValueError: missing inputs 'cache' (the model's inputs are 'x', 'pos', 'cache')
expect(ValueError, lambda: model.run(x=xd, pos=pos))
# CHECK-NEXT: ValueError: inout 'cache' must be a writable, C-contiguous float32 array of shape [4, 3] (it is updated in place)
expect(ValueError, lambda: model.run(x=xd, pos=pos, cache=np.zeros((4, 3))))


class DLPackOnly:
    """A device tensor known only by DLPack (DeviceArray's export)."""

    def __init__(self, base, device=None):
        self.base, self.device, self.streams = base, device, []

    def __dlpack__(self, stream=None):
        self.streams.append(stream)
        return self.base.__dlpack__(stream=stream)

    def __dlpack_device__(self):
        return self.device or self.base.__dlpack_device__()


dl_x = DLPackOnly(xd)
out = model.run(x=dl_x, pos=DLPackOnly(pos), cache=DLPackOnly(caches["cache"]),
                stream=0x1234)
assert np.array_equal(out["y"].numpy(), want_y)
# The producer was told the consumer's stream; every capsule was released.
assert dl_x.streams == [0x1234] and _dlpack.live_exports() == 0
bf = attn_mlir.to_device(np.array([0x3f80, 0x4000], np.uint16), "bf16")
capsule = bf.__dlpack__()
del capsule
assert _dlpack.live_exports() == 0
# Reading a capsule's layout (numpy's host capsules: only read, not used).
host = np.zeros((2, 3))
t = _dlpack.read(host.__dlpack__())
assert (t.shape, t.dtype, t.contiguous, t.ptr) == ((2, 3), "f64", True,
                                                   host.ctypes.data)
assert not _dlpack.read(host.T.__dlpack__()).contiguous
assert _dlpack.read(host[:1, :].__dlpack__()).contiguous
assert not _dlpack.read(host[:, :1].__dlpack__()).contiguous
assert _dlpack.read(host[1:].__dlpack__()).ptr == host.ctypes.data + 24
# CHECK-NEXT: DLPack: ok
print("DLPack: ok")
# CHECK-NEXT: ValueError: input 'x' is on cuda:0, but the runtime uses cuda:1 (choose it with attn_mlir.set_cuda_device before loading a CUDA model)
expect(ValueError, lambda: model.run(x=DLPackOnly(xd, (2, 0)), pos=pos, **caches))
# CHECK-NEXT: ValueError: input 'x' is on DLPack device type 7, not on a CUDA device
expect(ValueError, lambda: model.run(x=DLPackOnly(xd, (7, 1)), pos=pos, **caches))
# CHECK-NEXT: ValueError: input 'pos' has dtype DLPack type code 2 bits 32 lanes 1, the model expects i64
expect(ValueError, lambda: model.run(x=xd, pos=DLPackOnly(attn_mlir.to_device(np.float32(0))), **caches))
# A DeviceArray of another dtype, and a host array of another dtype.
# CHECK-NEXT: ValueError: input 'x' has dtype f16, the model expects f32
expect(ValueError, lambda: model.run(x=attn_mlir.to_device(x.astype(np.float16)), pos=pos, **caches))
# CHECK-NEXT: ValueError: input 'x' has dtype float64, the model expects f32 (float32)
expect(ValueError, lambda: model.run(x=x.astype(np.float64), pos=pos, **caches))
# CHECK-NEXT: ValueError: unknown device 'cuda:0' for inouts: None, 'cpu', 'cuda', 'cuda:1' or a torch.device
expect(ValueError, lambda: model.allocate_inouts(device="cuda:0"))

# A CPU model refuses device tensors and streams.
cpu = attn_mlir.Model(os.path.join(tmp, "cpu.so"))
ones = np.ones(4, np.float32)
assert np.array_equal(cpu.run(x=ones)["y"], ones)
# CHECK-NEXT: ValueError: input 'x' is on cuda:1, but the model '{{.*}}cpu.so' runs on the cpu: pass host arrays (e.g. tensor.cpu().numpy())
expect(ValueError, lambda: cpu.run(x=attn_mlir.to_device(ones)))
# CHECK-NEXT: ValueError: input 'x' is on cuda (__cuda_array_interface__), but the model
expect(ValueError, lambda: cpu.run(x=CAI(attn_mlir.to_device(ones))))
# CHECK-NEXT: ValueError: input 'x' is on cuda:0, but the model
expect(ValueError, lambda: cpu.run(x=DLPackOnly(xd, (2, 0))))
# CHECK-NEXT: ValueError: stream= is for CUDA models; the model '{{.*}}cpu.so' runs on the cpu
expect(ValueError, lambda: cpu.run(x=ones, stream=0x1234))
# CHECK-NEXT: ValueError: the model '{{.*}}cpu.so' runs on the cpu: its inouts are host arrays (device=None), not 'cuda'
expect(ValueError, lambda: cpu.allocate_inouts(device="cuda"))
# CHECK-NEXT: done
print("done")
