"""`Module`: what `attn_mlir.compile` returns. A compiled model with its
compile report, called like a function on numpy arrays, torch tensors or
DLPack producers (CPU or CUDA), with the KV caches of a decode step kept
inside it, and greedy generation over a batch of prompts."""

import json
import os
import re
from typing import Dict, List, NamedTuple, Optional

import numpy as np

from . import _interop


class Diagnostic(NamedTuple):
    """One located message of the compiler: `FILE:LINE:COL: error: ...`."""
    file: str
    line: int
    column: int
    severity: str   # "error", "warning", "note" or "remark"
    message: str

    def __str__(self):
        return (f"{self.file}:{self.line}:{self.column}: {self.severity}: "
                f"{self.message}")


_LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): "
                      r"(?P<severity>error|warning|note|remark): "
                      r"(?P<message>.*)$")


def parse_diagnostics(text: str) -> List[Diagnostic]:
    """The located messages in the compiler's diagnostics text (the source
    line and caret lines that follow each are left out)."""
    found = []
    for line in text.splitlines():
        m = _LOCATED.match(line)
        if m:
            found.append(Diagnostic(m["file"], int(m["line"]),
                                    int(m["column"]), m["severity"],
                                    m["message"]))
    return found


class Signature(NamedTuple):
    """What a compiled model takes and gives (docs/runtime-abi.md)."""
    device: str               # "cpu" or "cuda"
    inputs: list              # [TensorSpec]
    outputs: list             # [TensorSpec]
    inouts: list              # [TensorSpec]: KV caches updated in place
    roles: Dict[str, str]     # decode-step roles: "input_ids" -> name, ...
    text: str                 # the signature as embedded in the library

    def __str__(self):
        return self.text


_ROLE_NAMES = ("input_ids", "position_ids", "attention_mask",
               "cache_position", "logits")


def _unescape(name: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m[1], 16)), name)


def read_roles(text: str) -> Dict[str, str]:
    """The `role ROLE NAME` lines of a signature; models compiled before
    signatures had roles name their buffers after the role."""
    roles = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "role":
            roles[fields[1]] = _unescape(fields[2])
    return roles or {r: r for r in _ROLE_NAMES}


def _is_torch(value) -> bool:
    return _interop.is_torch_tensor(value)


def _host_view(value):
    """A zero-copy numpy view of a host tensor given through DLPack (torch
    CPU tensors, other frameworks' CPU arrays); other values unchanged."""
    if isinstance(value, np.ndarray) or not hasattr(value, "__dlpack__"):
        return value
    if _interop.describe_device(value) is not None:
        return value
    if _is_torch(value):
        value = value.detach()
        if str(value.dtype) == "torch.bfloat16":
            # numpy has no bfloat16: the bits, as the runtime reads them.
            import torch
            return value.contiguous().view(torch.int16).numpy().view(np.uint16)
    try:
        return np.from_dlpack(value)
    except (BufferError, TypeError, RuntimeError):
        return value


class Module:
    """A compiled model: `attn_mlir.compile(...)` or `Module(path)`.

    `module(x=..., y=...)` (or positional tensors in input order, or a dict)
    runs it and returns its outputs by name. Host inputs are numpy arrays,
    torch CPU tensors or DLPack producers (read in place); a CUDA module
    also takes device tensors (torch CUDA, `__cuda_array_interface__`,
    DLPack) and an optional `stream`. Outputs are numpy arrays, or torch
    tensors when the inputs were torch tensors.

    A decode step with in-place KV caches (`signature.inouts`) keeps its
    caches in the module between calls unless they are passed by name;
    `reset()` clears them. `generate(prompts, n)` decodes greedily.
    """

    def __init__(self, path, report: Optional[dict] = None,
                 diagnostics: str = "", _keep=None):
        self.path = os.fspath(path)
        self.report = report
        self.diagnostics = diagnostics
        self._keep = _keep  # a temporary directory that holds the library
        self._model = None
        self._state = None

    # The library is loaded on first use, so that a module for a device
    # that this machine lacks can still be compiled and inspected.
    @property
    def model(self):
        if self._model is None:
            from . import Model
            self._model = Model(self.path)
        return self._model

    @property
    def signature(self) -> Signature:
        m = self.model
        return Signature(m.device, list(m.inputs), list(m.outputs),
                         list(m.inouts), read_roles(m.signature), m.signature)

    @property
    def device(self) -> str:
        return self.model.device

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self):
        return f"Module({self.path!r})"

    # -- running -----------------------------------------------------------
    def reset(self) -> None:
        """Clears the KV caches kept in the module (zeros)."""
        self._state = None

    def state(self) -> Dict[str, object]:
        """The KV caches that calls use when none are passed (allocated on
        the model's device on first use)."""
        if self._state is None:
            m = self.model
            self._state = m.allocate_inouts(
                device="cuda" if m.device == "cuda" else None)
        return self._state

    def __call__(self, *args, stream=None, **kwargs) -> Dict[str, object]:
        m = self.model
        names = [s.name for s in m.inputs]
        given = {}
        if len(args) == 1 and isinstance(args[0], dict):
            given.update(args[0])
        elif args:
            if len(args) > len(names):
                raise TypeError(f"{len(args)} positional tensors given, the "
                                f"model takes {len(names)} inputs "
                                f"({', '.join(names)})")
            given.update(zip(names, args))
        for name, value in kwargs.items():
            if name in given:
                raise TypeError(f"input '{name}' given twice")
            given[name] = value
        if m.inouts and not any(s.name in given for s in m.inouts):
            given.update(self.state())
        as_torch = any(_is_torch(v) and v.device.type == "cpu"
                       for v in given.values())
        if m.device == "cpu":
            given = {k: _host_view(v) for k, v in given.items()}
        out = m.run(given, stream=stream)
        if as_torch and m.device == "cpu":
            import torch
            out = {k: torch.from_numpy(v) for k, v in out.items()}
        return out

    run = __call__

    # -- decoding ------------------------------------------------------------
    def generate(self, prompt_ids, n: int, *, return_logits: bool = False):
        """Greedy decoding with the in-place KV caches: feeds each row's
        prompt one token per step, then `n` generated tokens. `prompt_ids`
        is one prompt (a sequence of ids) or a batch [B, L] of equal-length
        prompts, B the model's batch; returns the new tokens as an int64
        array [B, n] (and the logits of each new token [B, n, vocab] with
        `return_logits`). The module's own caches are left untouched."""
        m = self.model
        sig = self.signature
        if not m.inouts:
            raise ValueError(
                f"generate needs a decode-step model with in-place KV caches "
                f"(an ONNX decode step whose past length is symbolic, "
                f"compiled with fuse_decode); '{self.path}' has none")
        specs = {s.name: s for s in m.inputs}
        outs = {s.name: s for s in m.outputs}
        ids_name = sig.roles.get("input_ids")
        pos_name = sig.roles.get("cache_position")
        logits_name = sig.roles.get("logits")
        for role, name, where in (("input_ids", ids_name, specs),
                                  ("cache_position", pos_name, specs),
                                  ("logits", logits_name, outs)):
            if name not in where:
                raise ValueError(f"generate needs the decode-step role "
                                 f"'{role}'; the model '{self.path}' has "
                                 f"none")
        fed = {ids_name, pos_name, sig.roles.get("position_ids"),
               sig.roles.get("attention_mask")}
        unknown = [s.name for s in m.inputs if s.name not in fed]
        if unknown:
            raise ValueError(f"generate cannot feed the inputs "
                             f"{', '.join(unknown)} of '{self.path}'")
        ids_spec = specs[ids_name]
        batch = int(np.prod(ids_spec.shape)) if ids_spec.shape else 1
        prompts = np.asarray(_host_view(prompt_ids))
        if prompts.ndim == 1:
            prompts = prompts[None]
        if prompts.ndim != 2 or prompts.shape[1] < 1 or \
                not np.issubdtype(prompts.dtype, np.integer):
            raise ValueError(f"prompt_ids must be integer ids, one prompt "
                             f"or a batch [B, L] of equal-length prompts "
                             f"(got shape {list(prompts.shape)}, dtype "
                             f"{prompts.dtype})")
        if prompts.shape[0] != batch:
            raise ValueError(f"{prompts.shape[0]} prompts given, the model "
                             f"decodes a batch of {batch} (its "
                             f"'{ids_name}' is {list(ids_spec.shape)})")
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        cache = m.inouts[0]
        capacity = cache.shape[-2] if len(cache.shape) >= 2 else 0
        length = prompts.shape[1]
        if length + n - 1 > capacity:
            raise ValueError(f"a prompt of {length} tokens and {n} new ones "
                             f"need a cache of {length + n - 1} positions; "
                             f"'{self.path}' holds {capacity} (compile with "
                             f"max_seq={length + n - 1} or more)")
        caches = m.allocate_inouts(device="cuda" if m.device == "cuda"
                                   else None)

        def full(spec, value):
            return np.full(spec.shape, value, dtype=spec.numpy_dtype)

        tokens, logits = [], []
        token = None
        for at in range(length + n - 1):
            step_ids = prompts[:, at] if at < length else token
            feed = {ids_name: step_ids.reshape(ids_spec.shape)
                    .astype(ids_spec.numpy_dtype),
                    pos_name: full(specs[pos_name], at)}
            if sig.roles.get("position_ids") in specs:
                feed[sig.roles["position_ids"]] = full(
                    specs[sig.roles["position_ids"]], at)
            if sig.roles.get("attention_mask") in specs:
                spec = specs[sig.roles["attention_mask"]]
                cols = spec.shape[-1] if spec.shape else 1
                mask = (np.arange(cols) <= at).astype(spec.numpy_dtype)
                feed[spec.name] = np.broadcast_to(mask, spec.shape).copy()
            out = m.run({**feed, **caches})[logits_name]
            if not isinstance(out, np.ndarray):
                out = out.numpy()
            if at < length - 1:
                continue
            row = out.reshape(batch, -1, out.shape[-1])[:, -1]
            token = row.argmax(axis=-1).astype(np.int64)
            tokens.append(token)
            logits.append(row.copy())
        result = np.stack(tokens, axis=1)
        if return_logits:
            return result, np.stack(logits, axis=1)
        return result


def load_report(text: str) -> Optional[dict]:
    text = text.strip()
    return json.loads(text) if text else None
