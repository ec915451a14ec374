"""compile(target="cuda") from Python: the module's report is there at once;
the library loads on first use, which without a GPU driver is an AttnError
naming libcuda (with a GPU, the run matches the CPU module)."""

import os
import shutil

import numpy as np
import pytest

import attn_mlir

HAVE_PTXAS = bool(shutil.which("ptxas")) or any(
    os.path.exists(os.path.join(d, "bin", "ptxas"))
    for d in [os.environ.get("CUDA_ROOT"), os.environ.get("CUDA_HOME"),
              "/usr/local/cuda"] if d)


@pytest.mark.skipif(not HAVE_PTXAS, reason="compiling for cuda needs ptxas")
def test_cuda_module(gqa_mlir, gqa_module, gqa_inputs):
    module = attn_mlir.compile(gqa_mlir, target="cuda")
    assert module.report["attention"][0]["kv_heads"] == 2
    if not attn_mlir.cuda_is_available():
        with pytest.raises(attn_mlir.AttnError, match="libcuda.so.1|CUDA"):
            module(**gqa_inputs)
        return
    assert module.signature.device == "cuda"
    got = module(**gqa_inputs)["out"]
    assert np.abs(got - gqa_module(**gqa_inputs)["out"]).max() < 1e-4
