"""Export small decode-step decoders from PyTorch to ONNX, with references.

Runs where PyTorch is installed (the GPU machine; nothing here needs a GPU).
For every decoder it writes, under OUT/NAME/:
  model.onnx            one decode step, past length symbolic ("past")
  inputs.npz            input_ids, position_ids, past_* (8 cached positions)
  expected.npz          ONNX Runtime's outputs of that step
  generate16.npz        tokens [16] and logits [16, vocab] of ORT's greedy loop
and OUT/summary.txt with versions and what failed.

Decoders: hand-written GPT-2 (MHA, fused QKV), Llama (GQA, rotary, repeat_kv),
GPT-BigCode (MQA, single-head expand), exported with the TorchScript exporter
(opset 17) and the dynamo exporter (opset 18); and, when `transformers` is
installed, its GPT-2, Llama, Qwen2 and GPT-BigCode models at tiny sizes.

  python3 export_decoders.py OUT_DIR [all|own|hf|masked|more [NAME,...]]

`more` (not part of `all`): further transformers architectures at tiny sizes
(HF_MORE_DECODERS: sliding windows, softcap, q/k norms, fused QKV, partial
and interleaved rotary, learned positions), for robustness runs.

The `masked` set (transformers GPT-2, Llama GQA, Qwen2 MQA) also takes an
`attention_mask` input and uses optimum's names (past_key_values.N.key ->
present.N.key).
"""

from __future__ import annotations

import math
import os
import sys
import traceback

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, D_MODEL, LAYERS, PAST = 256, 64, 2, 8
log_lines: list[str] = []


def log(msg: str) -> None:
    print(msg, flush=True)
    log_lines.append(msg)


class Attention(nn.Module):
    def __init__(self, heads: int, kv_heads: int, fused_qkv: bool, rotary: bool,
                 sdpa: bool):
        super().__init__()
        self.h, self.hkv, self.hd = heads, kv_heads, D_MODEL // heads
        self.fused, self.rotary, self.sdpa = fused_qkv, rotary, sdpa
        kv = kv_heads * self.hd
        if fused_qkv:
            self.qkv = nn.Linear(D_MODEL, D_MODEL + 2 * kv)
        else:
            self.q = nn.Linear(D_MODEL, D_MODEL, bias=False)
            self.k = nn.Linear(D_MODEL, kv, bias=False)
            self.v = nn.Linear(D_MODEL, kv, bias=False)
        self.o = nn.Linear(D_MODEL, D_MODEL)

    def rope(self, x, pos):
        half = self.hd // 2
        inv = 1.0 / (10000 ** (torch.arange(0, half, dtype=torch.float32) / half))
        ang = pos.to(torch.float32)[:, None, :, None] * inv  # [B,1,S,half]
        cos, sin = torch.cos(ang), torch.sin(ang)
        x1, x2 = x[..., :half], x[..., half:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)

    def forward(self, x, pos, past_k, past_v):
        b, s, _ = x.shape
        if self.fused:
            q, k, v = self.qkv(x).split([D_MODEL, self.hkv * self.hd,
                                         self.hkv * self.hd], dim=-1)
        else:
            q, k, v = self.q(x), self.k(x), self.v(x)
        q = q.view(b, s, self.h, self.hd).transpose(1, 2)
        k = k.view(b, s, self.hkv, self.hd).transpose(1, 2)
        v = v.view(b, s, self.hkv, self.hd).transpose(1, 2)
        if self.rotary:
            q, k = self.rope(q, pos), self.rope(k, pos)
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        present = (k, v)
        t = k.shape[2]
        if self.hkv != self.h:  # repeat_kv
            g = self.h // self.hkv
            k = k[:, :, None].expand(b, self.hkv, g, t, self.hd).reshape(b, self.h, t, self.hd)
            v = v[:, :, None].expand(b, self.hkv, g, t, self.hd).reshape(b, self.h, t, self.hd)
        rows = torch.arange(s)[:, None] + (t - s)
        keep = torch.arange(t)[None, :] <= rows
        if self.sdpa:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.hd)
            scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
            out = torch.softmax(scores, dim=-1) @ v
        out = out.transpose(1, 2).reshape(b, s, D_MODEL)
        return self.o(out), present


class Decoder(nn.Module):
    def __init__(self, heads, kv_heads, fused_qkv=False, rotary=False, sdpa=False):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D_MODEL)
        self.wpe = None if rotary else nn.Embedding(128, D_MODEL)
        self.layers = nn.ModuleList()
        for _ in range(LAYERS):
            self.layers.append(nn.ModuleDict({
                "ln1": nn.LayerNorm(D_MODEL), "ln2": nn.LayerNorm(D_MODEL),
                "attn": Attention(heads, kv_heads, fused_qkv, rotary, sdpa),
                "fc": nn.Linear(D_MODEL, 4 * D_MODEL),
                "proj": nn.Linear(4 * D_MODEL, D_MODEL)}))
        self.ln = nn.LayerNorm(D_MODEL)
        self.head = nn.Linear(D_MODEL, VOCAB, bias=False)
        self.kv_heads, self.head_dim = kv_heads, D_MODEL // heads

    def forward(self, input_ids, position_ids, past_key_0, past_value_0,
                past_key_1, past_value_1):
        # Explicit arguments (LAYERS == 2) so that exporters name them.
        past = (past_key_0, past_value_0, past_key_1, past_value_1)
        x = self.wte(input_ids)
        if self.wpe is not None:
            x = x + self.wpe(position_ids)
        presents = []
        for i, layer in enumerate(self.layers):
            a, (k, v) = layer["attn"](layer["ln1"](x), position_ids,
                                      past[2 * i], past[2 * i + 1])
            x = x + a
            x = x + layer["proj"](F.gelu(layer["fc"](layer["ln2"](x))))
            presents += [k, v]
        return (self.head(self.ln(x)), *presents)


def names(layers: int):
    past = [f"past_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    present = [f"present_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    return past, present


def step_inputs(layers: int, kv_heads: int, head_dim: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    feeds = {"input_ids": torch.randint(0, VOCAB, (1, 1), generator=g),
             "position_ids": torch.tensor([[PAST]], dtype=torch.int64)}
    for name in names(layers)[0]:
        feeds[name] = torch.randn(1, kv_heads, PAST, head_dim, generator=g)
    return feeds


def export(model, feeds, path, dynamo: bool, opset: int):
    past_names, present_names = names(LAYERS)
    args = tuple(feeds.values())
    input_names = list(feeds.keys())
    output_names = ["logits", *present_names]
    if dynamo:
        past = torch.export.Dim("past", min=1, max=120)
        shapes = tuple(None if n in ("input_ids", "position_ids") else {2: past}
                       for n in input_names)
        torch.onnx.export(model, args, path, dynamo=True, opset_version=opset,
                          input_names=input_names, output_names=output_names,
                          dynamic_shapes=shapes, external_data=False)
    else:
        axes = {n: {2: "past"} for n in past_names}
        axes.update({n: {2: "total"} for n in present_names})
        torch.onnx.export(model, args, path, dynamo=False, opset_version=opset,
                          input_names=input_names, output_names=output_names,
                          dynamic_axes=axes)


def references(path: str, feeds: dict, out_dir: str) -> None:
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    in_names = {i.name for i in sess.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in in_names}
    out_names = [o.name for o in sess.get_outputs()]
    np.savez(os.path.join(out_dir, "inputs.npz"), **feeds)
    first = dict(zip(out_names, sess.run(None, feeds)))
    np.savez(os.path.join(out_dir, "expected.npz"), **first)
    tokens, logits = [], []
    step = dict(feeds)
    for _ in range(16):
        res = dict(zip(out_names, sess.run(None, step)))
        row = res[out_names[0]].reshape(-1, res[out_names[0]].shape[-1])[-1]
        tokens.append(int(row.argmax()))
        logits.append(row)
        for name, value in res.items():
            if name.startswith("present."):  # optimum: present.N.key
                step["past_key_values." + name[len("present."):]] = value
            elif name.startswith("present"):
                step["past" + name[len("present"):]] = value
        step["input_ids"] = np.full_like(step["input_ids"], tokens[-1])
        if "position_ids" in step:
            step["position_ids"] = step["position_ids"] + 1
        if "attention_mask" in step:
            m = step["attention_mask"]
            step["attention_mask"] = np.concatenate([m, np.ones_like(m[:, :1])], 1)
    np.savez(os.path.join(out_dir, "generate16.npz"),
             tokens=np.array(tokens, dtype=np.int64),
             logits=np.stack(logits).astype(np.float32))


def own_decoders(out: str) -> None:
    configs = {
        "gpt2_mha": dict(heads=4, kv_heads=4, fused_qkv=True),
        "llama_gqa": dict(heads=8, kv_heads=2, rotary=True),
        "bigcode_mqa": dict(heads=4, kv_heads=1, fused_qkv=True),
        "llama_gqa_sdpa": dict(heads=8, kv_heads=2, rotary=True, sdpa=True),
    }
    exporters = [("ts17", False, 17), ("dyn18", True, 18), ("dyn23", True, 23)]
    for name, cfg in configs.items():
        torch.manual_seed(0)
        model = Decoder(**cfg).eval()
        feeds_t = step_inputs(LAYERS, model.kv_heads, model.head_dim)
        for tag, dynamo, opset in exporters:
            if tag == "dyn23" and not cfg.get("sdpa"):
                continue
            full = f"{name}_{tag}"
            d = os.path.join(out, full)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            try:
                with torch.no_grad():
                    export(model, feeds_t, path, dynamo, opset)
                feeds = {k: v.numpy() for k, v in feeds_t.items()}
                references(path, feeds, d)
                log(f"ok {full}")
            except Exception as e:  # keep going: report what failed
                log(f"FAILED {full}: {type(e).__name__}: {str(e)[:300]}")
                traceback.print_exc()


def flat_cache(pkv) -> list:
    """[key_0, value_0, key_1, ...] of a transformers cache (5.x or 4.x)."""
    flat = []
    for i in range(LAYERS):
        if hasattr(pkv, "layers"):
            flat += [pkv.layers[i].keys, pkv.layers[i].values]
        else:
            flat += [pkv.key_cache[i], pkv.value_cache[i]]
    return flat


GQA = dict(hidden_size=64, num_attention_heads=8, num_key_value_heads=2,
           num_hidden_layers=2, intermediate_size=128, vocab_size=VOCAB,
           max_position_embeddings=128)

# name: (config class, its arguments); a class this transformers lacks (or
# rejects the arguments) is logged and skipped.
HF_DECODERS = {
    "hf_gpt2": ("GPT2Config", dict(n_layer=2, n_head=4, n_embd=64, vocab_size=VOCAB,
                                   n_positions=128)),
    "hf_llama": ("LlamaConfig", GQA),
    "hf_qwen2": ("Qwen2Config", GQA),
    "hf_bigcode": ("GPTBigCodeConfig", dict(n_layer=2, n_head=4, n_embd=64,
                                            vocab_size=VOCAB, n_positions=128,
                                            multi_query=True)),
}

# More transformers architectures, for the attention forms the first set
# lacks: sliding windows shorter than the past (Mistral, Starcoder2), logit
# softcap and a custom query scale (Gemma-2), per-head q/k RMSNorm (Qwen3,
# OLMo-2), fused QKV projections (Phi-3, GPT-NeoX with partial rotary,
# Falcon MQA), interleaved partial rotary (GPT-J), partial rotary with
# biases (Phi, StableLM), head_dim != hidden / heads (Gemma), learned
# positions (OPT).
HF_MORE_DECODERS = {
    "hf_mistral_sw4": ("MistralConfig", dict(GQA, sliding_window=4)),
    "hf_starcoder2_sw4": ("Starcoder2Config", dict(GQA, sliding_window=4,
                                                   use_bias=True)),
    "hf_gemma2": ("Gemma2Config", dict(GQA, head_dim=16, sliding_window=4,
                                       attn_logit_softcapping=50.0,
                                       final_logit_softcapping=30.0,
                                       query_pre_attn_scalar=24)),
    "hf_gemma_mqa": ("GemmaConfig", dict(GQA, num_key_value_heads=1, head_dim=32)),
    "hf_qwen3": ("Qwen3Config", dict(GQA, head_dim=16)),
    "hf_olmo2": ("Olmo2Config", GQA),
    "hf_phi3": ("Phi3Config", dict(GQA, pad_token_id=0)),
    "hf_gptneox": ("GPTNeoXConfig", dict(hidden_size=64, num_attention_heads=4,
                                         num_hidden_layers=2, intermediate_size=128,
                                         vocab_size=VOCAB, max_position_embeddings=128,
                                         rotary_pct=0.25)),
    "hf_falcon_mqa": ("FalconConfig", dict(hidden_size=64, num_attention_heads=4,
                                           num_hidden_layers=2, vocab_size=VOCAB,
                                           multi_query=True, parallel_attn=True,
                                           new_decoder_architecture=False,
                                           alibi=False, bias=False)),
    "hf_gptj": ("GPTJConfig", dict(n_embd=64, n_head=4, n_layer=2, vocab_size=VOCAB,
                                   n_positions=128, rotary_dim=8)),
    "hf_phi": ("PhiConfig", dict(hidden_size=64, num_attention_heads=4,
                                 num_key_value_heads=4, num_hidden_layers=2,
                                 intermediate_size=128, vocab_size=VOCAB,
                                 max_position_embeddings=128,
                                 partial_rotary_factor=0.5)),
    "hf_stablelm": ("StableLmConfig", dict(GQA, partial_rotary_factor=0.25,
                                           use_qkv_bias=True)),
    "hf_opt": ("OPTConfig", dict(hidden_size=64, num_attention_heads=4,
                                 num_hidden_layers=2, ffn_dim=128, vocab_size=VOCAB,
                                 max_position_embeddings=128, word_embed_proj_dim=64)),
}


def hf_decoders(out: str, wanted: dict = HF_DECODERS) -> None:
    try:
        import transformers
    except ImportError:
        log("transformers: not installed")
        return
    log(f"transformers {transformers.__version__}")
    from transformers import AutoModelForCausalLM
    cfgs = {}
    for name, (cls, kwargs) in wanted.items():
        try:
            cfgs[name] = getattr(transformers, cls)(**kwargs)
        except Exception as e:
            log(f"no {cls}: {e}")

    for name, cfg in cfgs.items():
        torch.manual_seed(0)
        try:
            cfg._attn_implementation = "eager"
            model = AutoModelForCausalLM.from_config(cfg).eval()
        except Exception as e:
            log(f"FAILED {name}: build: {e}")
            continue
        nkv = getattr(cfg, "num_key_value_heads", None) or (
            1 if getattr(cfg, "multi_query", False) else cfg.num_attention_heads)
        hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        with torch.no_grad():  # the cache's head size, whatever the config says
            probe = model(input_ids=torch.zeros(1, 1, dtype=torch.int64),
                          use_cache=True).past_key_values
            nkv, hd = flat_cache(probe)[0].shape[1], flat_cache(probe)[0].shape[3]

        class Step(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, position_ids, past_key_0, past_value_0,
                        past_key_1, past_value_1):
                from transformers import DynamicCache
                past = (past_key_0, past_value_0, past_key_1, past_value_1)
                cache = DynamicCache()
                for i in range(LAYERS):
                    cache.update(past[2 * i], past[2 * i + 1], i)
                out = self.m(input_ids=input_ids, position_ids=position_ids,
                             past_key_values=cache, use_cache=True)
                return (out.logits, *flat_cache(out.past_key_values))

        step = Step(model).eval()
        feeds_t = step_inputs(LAYERS, nkv, hd)
        for tag, dynamo, opset in [("ts17", False, 17), ("dyn18", True, 18)]:
            full = f"{name}_{tag}"
            d = os.path.join(out, full)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            try:
                with torch.no_grad():
                    step(*feeds_t.values())
                    export(step, feeds_t, path, dynamo, opset)
                references(path, {k: v.numpy() for k, v in feeds_t.items()}, d)
                log(f"ok {full}")
            except Exception as e:
                log(f"FAILED {full}: {type(e).__name__}: {str(e)[:300]}")
                traceback.print_exc()


def hf_masked_decoders(out: str) -> None:
    """transformers models with an attention_mask input and optimum-style
    names (past_key_values.N.key -> present.N.key)."""
    try:
        import transformers  # noqa: F401
        from transformers import (AutoModelForCausalLM, DynamicCache, GPT2Config,
                                  LlamaConfig, Qwen2Config)
    except ImportError as e:
        log(f"masked: {e}")
        return
    cfgs = {
        "hfm_gpt2": GPT2Config(n_layer=2, n_head=4, n_embd=64, vocab_size=VOCAB,
                               n_positions=128),
        "hfm_llama": LlamaConfig(hidden_size=64, num_attention_heads=8,
                                 num_key_value_heads=2, num_hidden_layers=2,
                                 intermediate_size=128, vocab_size=VOCAB,
                                 max_position_embeddings=128),
        "hfm_qwen2_mqa": Qwen2Config(hidden_size=64, num_attention_heads=4,
                                     num_key_value_heads=1, num_hidden_layers=2,
                                     intermediate_size=128, vocab_size=VOCAB,
                                     max_position_embeddings=128),
    }
    for name, cfg in cfgs.items():
        torch.manual_seed(0)
        cfg._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(cfg).eval()
        nkv = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
        hd = cfg.hidden_size // cfg.num_attention_heads

        class Step(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, position_ids, pk0, pv0, pk1, pv1):
                cache = DynamicCache()
                for i, (k, v) in enumerate(((pk0, pv0), (pk1, pv1))):
                    cache.update(k, v, i)
                out = self.m(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=position_ids, past_key_values=cache,
                             use_cache=True)
                return (out.logits, *flat_cache(out.past_key_values))

        step = Step(model).eval()
        base = step_inputs(LAYERS, nkv, hd)
        feeds_t = {"input_ids": base["input_ids"],
                   "attention_mask": torch.ones(1, PAST + 1, dtype=torch.int64),
                   "position_ids": base["position_ids"]}
        past_names = [f"past_key_values.{i}.{kind}" for i in range(LAYERS)
                      for kind in ("key", "value")]
        present_names = [f"present.{i}.{kind}" for i in range(LAYERS)
                         for kind in ("key", "value")]
        for old, new in zip(names(LAYERS)[0], past_names):
            feeds_t[new] = base[old]
        for tag, dynamo, opset in [("ts17", False, 17), ("dyn18", True, 18)]:
            full = f"{name}_{tag}"
            d = os.path.join(out, full)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, "model.onnx")
            args = tuple(feeds_t.values())
            in_names = list(feeds_t.keys())
            try:
                with torch.no_grad():
                    step(*args)
                    if dynamo:
                        past = torch.export.Dim("past", min=1, max=120)
                        shapes = ((None, {1: past + 1}, None) +
                                  tuple({2: past} for _ in past_names))
                        torch.onnx.export(step, args, path, dynamo=True,
                                          opset_version=opset, input_names=in_names,
                                          output_names=["logits", *present_names],
                                          dynamic_shapes=shapes, external_data=False)
                    else:
                        axes = {n: {2: "past_sequence_length"} for n in past_names}
                        axes["attention_mask"] = {1: "past_sequence_length + 1"}
                        axes.update({n: {2: "past_sequence_length + 1"}
                                     for n in present_names})
                        torch.onnx.export(step, args, path, dynamo=False,
                                          opset_version=opset, input_names=in_names,
                                          output_names=["logits", *present_names],
                                          dynamic_axes=axes)
                feeds = {k: v.numpy() for k, v in feeds_t.items()}
                references(path, feeds, d)
                log(f"ok {full}")
            except Exception as e:
                log(f"FAILED {full}: {type(e).__name__}: {str(e)[:300]}")
                traceback.print_exc()


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    import onnx
    import onnxruntime
    log(f"torch {torch.__version__} onnx {onnx.__version__} onnxruntime {onnxruntime.__version__}")
    try:
        import onnxscript
        log(f"onnxscript {onnxscript.__version__}")
    except ImportError:
        log("onnxscript: not installed")
    only = sys.argv[2] if len(sys.argv) > 2 else "all"
    if only in ("all", "own"):
        own_decoders(out)
    if only in ("all", "hf"):
        hf_decoders(out)
    if only in ("all", "masked"):
        hf_masked_decoders(out)
    if only == "more":
        names = sys.argv[3].split(",") if len(sys.argv) > 3 else list(HF_MORE_DECODERS)
        hf_decoders(out, {n: HF_MORE_DECODERS[n] for n in names})
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write("\n".join(log_lines) + "\n")


if __name__ == "__main__":
    main()
