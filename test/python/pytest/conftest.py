"""Shared fixtures of the attn_mlir pytest suite (run by test/python/pytest.test,
or directly: ATTN_MLIR_LIB_DIR=build/lib python3 -m pytest test/python/pytest)."""

import os

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_ROOT = os.path.dirname(os.path.dirname(HERE))
RUN_INPUTS = os.path.join(TEST_ROOT, "tools", "attn-run", "Inputs")


@pytest.fixture(scope="session")
def gqa_mlir():
    return os.path.join(RUN_INPUTS, "gqa-attention.mlir")


def reference_attention(q, k, v, scale, offset):
    """softmax(scale Q K^T + causal mask) V with the KV heads repeated, in f64."""
    group = q.shape[1] // k.shape[1]
    k = np.repeat(k.astype(np.float64), group, axis=1)
    v = np.repeat(v.astype(np.float64), group, axis=1)
    s = scale * q.astype(np.float64) @ k.transpose(0, 1, 3, 2)
    rows = np.arange(q.shape[2])[:, None] + offset
    s = np.where(np.arange(k.shape[2])[None, :] <= rows, s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


@pytest.fixture(scope="session")
def gqa_inputs():
    rng = np.random.default_rng(0)
    return {"q": rng.standard_normal((2, 8, 16, 32)).astype(np.float32),
            "k": rng.standard_normal((2, 2, 64, 32)).astype(np.float32),
            "v": rng.standard_normal((2, 2, 64, 32)).astype(np.float32)}


@pytest.fixture(scope="session")
def gqa_module(gqa_mlir):
    import attn_mlir
    return attn_mlir.compile(gqa_mlir)


@pytest.fixture(scope="session")
def decoder():
    """The tiny decoder (MHA, 8 heads) as an onnx.ModelProto and its config."""
    from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder
    cfg = DecoderConfig(n_layer=2, n_positions=64)
    return build_tiny_decoder(cfg), cfg
