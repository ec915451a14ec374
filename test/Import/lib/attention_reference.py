"""NumPy model of ONNX `Attention` (opsets 23/24) as the current operator
specification defines it, for checking the importer on cases of our own.

Differences from the reference shipped with onnx <= 1.20 (whose conformance
data predate these spec fixes):
  * softcap is applied to the scores before the mask (onnx/onnx#7867);
  * qk_matmul_output_mode follows the computation order: 0 = Q K^T * scale,
    1 = after softcap, 2 = after the mask, 3 = after softmax (onnx/onnx#7913);
  * with nonpad_kv_seqlen and no past_key, is_causal keeps key j for row i of
    batch b iff j <= i + nonpad_kv_seqlen[b] - Sq (onnx/onnx#8068);
  * a row with every key masked gives zeros, never NaN.
Everything is computed in float64.
"""

import numpy as np


def _split_heads(x, heads):
    b, s, h = x.shape
    return x.reshape(b, s, heads, h // heads).transpose(0, 2, 1, 3)


def attention(Q, K, V, attn_mask=None, past_key=None, past_value=None,
              nonpad_kv_seqlen=None, scale=None, is_causal=0, q_num_heads=None,
              kv_num_heads=None, softcap=0.0, qk_matmul_output_mode=0):
    """Returns (Y, present_key, present_value, qk_matmul_output)."""
    out_dtype = Q.dtype
    rank = Q.ndim
    if rank == 3:
        Q = _split_heads(Q, q_num_heads)
        K = _split_heads(K, kv_num_heads)
        V = _split_heads(V, kv_num_heads)
    if past_key is not None:
        K = np.concatenate([past_key, K], axis=2)
        V = np.concatenate([past_value, V], axis=2)
    present_key, present_value = K, V
    q, k, v = (x.astype(np.float64) for x in (Q, K, V))
    B, Hq, Sq, D = q.shape
    Hkv, T = k.shape[1], k.shape[2]
    if scale is None:
        scale = 1.0 / np.sqrt(D)
    group = Hq // Hkv
    k = np.repeat(k, group, axis=1)
    v = np.repeat(v, group, axis=1)

    scores = scale * np.einsum("bhid,bhjd->bhij", q, k)
    capped = softcap * np.tanh(scores / softcap) if softcap > 0 else scores

    allowed = np.ones((B, 1, Sq, T), dtype=bool)
    bias = np.zeros((1, 1, Sq, T))
    if attn_mask is not None:
        m = attn_mask
        if m.shape[-1] < T:
            pad = [(0, 0)] * (m.ndim - 1) + [(0, T - m.shape[-1])]
            m = np.pad(m, pad, constant_values=(False if m.dtype == bool
                                                else -np.inf))
        m = m.reshape((1,) * (4 - m.ndim) + m.shape)
        if m.dtype == bool:
            allowed = allowed & m
        else:
            bias = bias + m.astype(np.float64)
    i = np.arange(Sq).reshape(1, 1, Sq, 1)
    j = np.arange(T).reshape(1, 1, 1, T)
    if nonpad_kv_seqlen is not None:
        lens = np.asarray(nonpad_kv_seqlen).reshape(B, 1, 1, 1)
        allowed = allowed & (j < lens)
    if is_causal:
        if past_key is None and nonpad_kv_seqlen is not None:
            offset = np.asarray(nonpad_kv_seqlen).reshape(B, 1, 1, 1) - Sq
        else:
            offset = past_key.shape[2] if past_key is not None else 0
        allowed = allowed & (j <= i + offset)
    biased = np.where(allowed, capped + bias, -np.inf)

    row_max = biased.max(axis=-1, keepdims=True)
    empty = np.isneginf(row_max)
    e = np.where(empty, 0.0, np.exp(biased - np.where(empty, 0.0, row_max)))
    total = e.sum(axis=-1, keepdims=True)
    weights = np.where(total > 0, e / np.where(total > 0, total, 1.0), 0.0)
    y = np.einsum("bhij,bhje->bhie", weights, v)
    if rank == 3:
        y = y.transpose(0, 2, 1, 3).reshape(B, Sq, -1)
    qk = [scores, capped, biased, weights][qk_matmul_output_mode]
    return (y.astype(out_dtype), present_key, present_value,
            qk.astype(out_dtype))
