# The Python package: compile a .mlir model, inspect its signature, run it
# and compare with numpy (f32 within 1e-5), and the errors it raises.

# RUN: rm -rf %t && mkdir -p %t
# RUN: env ATTN_MLIR_LIB_DIR=%attn_lib_dir %python %s %S/../tools/attn-run/Inputs %t | FileCheck %s

import os
import sys

import numpy as np

import attn_mlir

inputs_dir, tmp = sys.argv[1], sys.argv[2]
lib = attn_mlir.runtime_library()
assert os.path.samefile(os.path.dirname(lib), os.environ["ATTN_MLIR_LIB_DIR"])

so = attn_mlir.compile(os.path.join(inputs_dir, "linalg-model.mlir"),
                       os.path.join(tmp, "model.so"))
model = attn_mlir.Model(so)
# CHECK: device cpu
print("device", model.device)
# CHECK-NEXT: input a f32 (64, 32)
# CHECK-NEXT: input b f32 (32, 48)
# CHECK-NEXT: input x f32 (1000,)
# CHECK-NEXT: input input_ids i64 (5,)
# CHECK-NEXT: input offset i64 ()
# CHECK-NEXT: output product f32 (64, 48)
# CHECK-NEXT: output exp_x f32 (1000,)
# CHECK-NEXT: output shifted_ids i64 (5,)
for kind, specs in (("input", model.inputs), ("output", model.outputs)):
    for s in specs:
        print(kind, s.name, s.dtype, s.shape)

rng = np.random.default_rng(3)
feed = dict(a=rng.standard_normal((64, 32)).astype(np.float32),
            b=rng.standard_normal((32, 48)).astype(np.float32),
            x=rng.uniform(-3, 3, 1000).astype(np.float32),
            input_ids=np.arange(5, dtype=np.int64), offset=7)
for threads in (1, 2, 3):
    attn_mlir.set_num_threads(threads)
    assert attn_mlir.get_num_threads() == threads
    out = model.run(feed)
    np.testing.assert_allclose(out["product"],
                               feed["a"].astype(np.float64) @ feed["b"],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["exp_x"], np.exp(feed["x"]), rtol=1e-5)
    assert np.array_equal(out["shifted_ids"], np.arange(5) + 7)
# CHECK-NEXT: run matches numpy with 1, 2 and 3 threads
print("run matches numpy with 1, 2 and 3 threads")

# A non-contiguous array is copied, not misread.
strided = dict(feed, a=np.asfortranarray(feed["a"]))
assert np.array_equal(model(**strided)["product"], out["product"])
# CHECK-NEXT: non-contiguous input: ok
print("non-contiguous input: ok")


def expect(error, fn):
    try:
        fn()
    except error as e:
        print(type(e).__name__ + ":", str(e).splitlines()[0])
        return
    raise AssertionError("no error")


# CHECK-NEXT: ValueError: input 'a' has dtype float64, the model expects f32 (float32)
expect(ValueError, lambda: model.run(dict(feed, a=feed["a"].astype(np.float64))))
# CHECK-NEXT: ValueError: input 'b' has shape [32, 47], the model expects [32, 48]
expect(ValueError, lambda: model.run(dict(feed, b=feed["b"][:, :47])))
# CHECK-NEXT: ValueError: missing inputs 'x'; unknown inputs 'y' (the model's inputs are 'a', 'b', 'x', 'input_ids', 'offset')
bad = dict(feed, y=1)
del bad["x"]
expect(ValueError, lambda: model.run(bad))
# CHECK-NEXT: AttnError: cannot load model '{{.*}}missing.so':
expect(attn_mlir.AttnError, lambda: attn_mlir.Model(os.path.join(tmp, "missing.so")))
# CHECK-NEXT: CompileError: {{.*}}error: cannot compile '{{.*}}model.txt': unknown input format '.txt'
expect(attn_mlir.CompileError, lambda: attn_mlir.compile(os.path.join(tmp, "model.txt"), os.path.join(tmp, "x.so")))

model.close()
# CHECK-NEXT: AttnError: the model has been closed
expect(attn_mlir.AttnError, lambda: model.run(feed))

# bf16 passes through as uint16 bits.
with attn_mlir.Model(attn_mlir.compile(os.path.join(inputs_dir, "identity-dtypes.mlir"),
                                       os.path.join(tmp, "dtypes.so"))) as m:
    feed = {s.name: np.ones(s.shape, s.numpy_dtype) for s in m.inputs}
    feed["bf16"] = np.array([[0x3f80, 0x4000], [0xbf80, 0x7fc0]], np.uint16)
    out = m.run(feed)
    assert out["out_bf16"].dtype == np.uint16
    assert np.array_equal(out["out_bf16"], feed["bf16"])
    assert out["out_mask"].dtype == np.bool_ and out["out_mask"].all()
# CHECK-NEXT: every dtype: ok
print("every dtype: ok")
