"""Module.generate on the tiny decoder: a batch of prompts decoded greedily
with the in-place KV caches gives ONNX Runtime's tokens (its step model
run with growing past arrays), and bad requests are refused."""

import numpy as np
import pytest

import attn_mlir


def ort_greedy(proto, cfg, prompts, n):
    """Greedy decoding with onnxruntime on the exported step graph: the
    prompt in one step (past of 0 positions), then one token per step."""
    import onnxruntime as ort
    sess = ort.InferenceSession(proto.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    batch, length = prompts.shape
    past = {f"past_{kind}_{layer}":
            np.zeros((batch, cfg.n_kv_head, 0, cfg.head_dim), np.float32)
            for layer in range(cfg.n_layer) for kind in ("key", "value")}
    ids = prompts
    positions = np.tile(np.arange(length), (batch, 1))
    tokens, logits = [], []
    names = [o.name for o in sess.get_outputs()]
    for _ in range(n):
        out = dict(zip(names, sess.run(None, {"input_ids": ids,
                                              "position_ids": positions,
                                              **past})))
        row = out["logits"][:, -1]
        tokens.append(row.argmax(-1))
        logits.append(row)
        for name in past:
            past[name] = out[name.replace("past", "present")]
        ids = tokens[-1][:, None].astype(np.int64)
        positions = positions[:, -1:] + 1
    return np.stack(tokens, 1), np.stack(logits, 1)


def test_batch_matches_onnxruntime(decoder):
    proto, cfg = decoder
    module = attn_mlir.compile(proto, dims={"batch": 2, "seq": 1},
                               max_seq=24)
    prompts = np.array([[3, 17, 99, 4, 250], [42, 7, 7, 200, 1]])
    tokens, logits = module.generate(prompts, 12, return_logits=True)
    want_tokens, want_logits = ort_greedy(proto, cfg, prompts, 12)
    assert tokens.shape == (2, 12) and tokens.dtype == np.int64
    assert np.array_equal(tokens, want_tokens)
    assert np.abs(logits - want_logits).max() < 1e-4
    # The module's own caches are not the ones generate used.
    assert not any(c.any() for c in module.state().values())


def test_single_prompt(decoder):
    proto, cfg = decoder
    module = attn_mlir.compile(proto, dims={"batch": 1, "seq": 1},
                               max_seq=16)
    tokens = module.generate([9, 8, 7], 4)
    want, _ = ort_greedy(proto, cfg, np.array([[9, 8, 7]]), 4)
    assert np.array_equal(tokens, want)


def test_generate_errors(decoder):
    proto, _ = decoder
    module = attn_mlir.compile(proto, dims={"batch": 2, "seq": 1},
                               max_seq=8)
    with pytest.raises(ValueError, match="1 prompts given, the model "
                                         "decodes a batch of 2"):
        module.generate([1, 2, 3], 2)
    with pytest.raises(ValueError, match=r"need a cache of 9 positions; "
                                         r".* holds 8 \(compile with "
                                         r"max_seq=9 or more\)"):
        module.generate(np.ones((2, 4), np.int64), 6)
    with pytest.raises(ValueError, match="equal-length prompts"):
        module.generate(np.ones((2, 2), np.float32), 2)
    with pytest.raises(ValueError, match="n must be at least 1"):
        module.generate(np.ones((2, 2), np.int64), 0)
