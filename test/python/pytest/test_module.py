"""attn_mlir.compile -> Module: calling conventions, signature, report,
DLPack inputs, the KV caches a decode step keeps, and the errors."""

import os

import numpy as np
import pytest

import attn_mlir
from conftest import reference_attention

SCALE, OFFSET = 0.17677669529663687, 48


def test_compile_returns_module(gqa_module, gqa_inputs):
    assert isinstance(gqa_module, attn_mlir.Module)
    assert os.path.exists(os.fspath(gqa_module))
    out = gqa_module(**gqa_inputs)
    assert list(out) == ["out"]
    want = reference_attention(gqa_inputs["q"], gqa_inputs["k"],
                               gqa_inputs["v"], SCALE, OFFSET)
    assert np.abs(out["out"] - want).max() < 1e-5


def test_call_conventions(gqa_module, gqa_inputs):
    q, k, v = gqa_inputs["q"], gqa_inputs["k"], gqa_inputs["v"]
    a = gqa_module(q, k, v)["out"]
    b = gqa_module({"q": q, "k": k, "v": v})["out"]
    c = gqa_module(q, k=k, v=v)["out"]
    assert np.array_equal(a, b) and np.array_equal(a, c)


class _DLPackOnly:
    """A producer known only through the DLPack protocol (like a CPU tensor
    of another framework)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_dlpack_inputs(gqa_module, gqa_inputs):
    wrapped = {k: _DLPackOnly(v) for k, v in gqa_inputs.items()}
    out = gqa_module(**wrapped)["out"]
    assert np.array_equal(out, gqa_module(**gqa_inputs)["out"])


def test_signature_and_report(gqa_module):
    sig = gqa_module.signature
    assert sig.device == "cpu"
    assert [(s.name, s.dtype, s.shape) for s in sig.inputs] == [
        ("q", "f32", (2, 8, 16, 32)), ("k", "f32", (2, 2, 64, 32)),
        ("v", "f32", (2, 2, 64, 32))]
    assert [s.name for s in sig.outputs] == ["out"]
    assert sig.inouts == []
    assert str(sig).startswith("attn-model ")
    ops = gqa_module.report["attention"]
    assert len(ops) == 1
    assert (ops[0]["q_heads"], ops[0]["kv_heads"]) == (8, 2)
    assert (ops[0]["op"], ops[0]["head_dim"]) == ("attn.attention", 32)


def test_compile_from_memory_and_out(tmp_path, gqa_mlir, gqa_inputs):
    text = open(gqa_mlir).read()
    out = tmp_path / "gqa.so"
    module = attn_mlir.compile(text, out)
    assert module.path == os.fspath(out) and out.exists()
    from_bytes = attn_mlir.compile(text.encode())
    assert np.array_equal(module(**gqa_inputs)["out"],
                          from_bytes(**gqa_inputs)["out"])
    # emit keeps attn-compile's --emit: IR text back.
    ir = attn_mlir.compile(gqa_mlir, emit="mlir-imported")
    assert "attn.attention heads(8, 2)" in ir


def test_share_kv_reports_conversion(decoder):
    proto, cfg = decoder
    module = attn_mlir.compile(proto, dims={"batch": 1, "seq": 1},
                               share_kv=2, max_seq=32)
    report = module.report
    assert {(op["q_heads"], op["kv_heads"], op["kv_heads_before"])
            for op in report["attention"]} == {(8, 2, 8)}
    assert report["kv_cache_bytes_per_token"] * 4 == \
        report["kv_cache_bytes_per_token_before"]
    # The caches shrink with the KV heads.
    assert {s.shape for s in module.signature.inouts} == {(1, 2, 32, 16)}


def test_decode_state_kept_in_module(decoder):
    proto, _ = decoder
    module = attn_mlir.compile(proto, dims={"batch": 1, "seq": 1},
                               max_seq=16)
    step = {"input_ids": np.array([[5]]), "position_ids": np.array([[0]]),
            "cache_position": np.array(0)}
    first = module(**step)["logits"]
    cache = module.state()["past_key_0"]
    assert np.abs(cache[0, :, 0]).sum() > 0 and not cache[0, :, 1].any()
    again = module(**{**step, "position_ids": np.array([[1]]),
                      "cache_position": np.array(1)})["logits"]
    assert cache[0, :, 1].any()
    assert not np.array_equal(first, again)
    module.reset()
    assert np.array_equal(module(**step)["logits"], first)


def test_located_diagnostics(tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text("func.func @f(%a: tensor<2xf32>) -> tensor<3xf32> {\n"
                   "  return %a : tensor<2xf32>\n}\n")
    with pytest.raises(attn_mlir.CompileError) as e:
        attn_mlir.compile(bad)
    d = e.value.diagnostics[0]
    assert (d.file, d.line, d.column, d.severity) == (os.fspath(bad), 2, 3,
                                                      "error")
    assert "doesn't match function result type" in d.message
    assert str(d) in str(e.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"share_kv_method": "median"}, "--share-kv-method=median"),
    ({"kv_cache_type": "int4"}, "int4"),
    ({"target": "tpu"}, "tpu"),
])
def test_bad_options(gqa_mlir, kwargs, message):
    with pytest.raises(attn_mlir.CompileError, match=message):
        attn_mlir.compile(gqa_mlir, **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(attn_mlir.CompileError, match="missing.onnx"):
        attn_mlir.compile(tmp_path / "missing.onnx")


def test_bad_model_type():
    with pytest.raises(TypeError, match="cannot compile a int"):
        attn_mlir.compile(42)


def test_run_errors(gqa_module, gqa_inputs):
    with pytest.raises(ValueError, match="missing inputs 'v'"):
        gqa_module(q=gqa_inputs["q"], k=gqa_inputs["k"])
    with pytest.raises(ValueError, match="unknown inputs 'w'"):
        gqa_module(**gqa_inputs, w=gqa_inputs["q"])
    with pytest.raises(ValueError, match=r"input 'q' has shape \[8, 16, 32\]"):
        gqa_module(**{**gqa_inputs, "q": gqa_inputs["q"][0]})
    with pytest.raises(ValueError, match="has dtype float64"):
        gqa_module(**{**gqa_inputs, "k": gqa_inputs["k"].astype(np.float64)})
    with pytest.raises(TypeError, match="4 positional tensors"):
        gqa_module(*gqa_inputs.values(), gqa_inputs["q"])
    with pytest.raises(TypeError, match="given twice"):
        gqa_module(gqa_inputs["q"], q=gqa_inputs["q"])
    with pytest.raises(ValueError, match="stream= is for CUDA models"):
        gqa_module(**gqa_inputs, stream=1)
    with pytest.raises(ValueError, match="in-place KV caches"):
        gqa_module.generate([1, 2], 3)


def test_torch_cpu_tensors(gqa_module, gqa_inputs):
    torch = pytest.importorskip("torch")
    out = gqa_module(**{k: torch.from_numpy(v) for k, v in gqa_inputs.items()})
    assert isinstance(out["out"], torch.Tensor)
    assert np.array_equal(out["out"].numpy(), gqa_module(**gqa_inputs)["out"])


def test_serving_keywords(decoder):
    """per_row_positions gives each batch row its own cache position; a
    model without a sliding window has no cache to turn into a ring."""
    proto, _ = decoder
    module = attn_mlir.compile(proto, dims={"batch": 2, "seq": 1},
                               max_seq=16, per_row_positions=True)
    spec = {s.name: s for s in module.signature.inputs}
    assert spec["cache_position"].shape == (2,)
    assert {op["positions"] for op in module.report["attention"]} == \
        {"per-row"}
    with pytest.raises(attn_mlir.CompileError, match="window"):
        attn_mlir.compile(proto, dims={"batch": 1, "seq": 1}, max_seq=16,
                          window_ring_cache=True)
