#!/usr/bin/env python3
"""ONNX Runtime's (CPU) greedy tokens for prompt-then-decode on one export:

  bench/gpu_prompt_ort.py DIR N

DIR holds prompt.onnx and decode.onnx (bench/gpu_prompt_model.py --decode,
one model.onnx.data) and in.npz (input_ids / position_ids [1, S]). The
prompt goes through prompt.onnx; the argmax of its last logits is the first
token; its presents are decode.onnx's past for N - 1 more greedy steps.
Writes DIR/gen.ort.npz with `tokens` [N] (what `attn-run decode.so
--generate N-1 --prefill prompt.so` writes for the same export).
"""

import os
import sys

import numpy as np
import onnxruntime as ort


def main() -> None:
    directory, n = sys.argv[1], int(sys.argv[2])
    feeds = dict(np.load(os.path.join(directory, "in.npz")))
    cpu = ["CPUExecutionProvider"]
    prompt = ort.InferenceSession(os.path.join(directory, "prompt.onnx"), providers=cpu)
    step = ort.InferenceSession(os.path.join(directory, "decode.onnx"), providers=cpu)
    out = dict(zip([o.name for o in prompt.get_outputs()], prompt.run(None, feeds)))
    tokens = [int(out["logits"][0, -1].argmax())]
    position = int(feeds["position_ids"][0, -1]) + 1
    past = {k.replace("present_", "past_"): v for k, v in out.items() if k.startswith("present_")}
    for i in range(n - 1):
        r = dict(zip([o.name for o in step.get_outputs()],
                     step.run(None, {"input_ids": np.array([[tokens[-1]]], np.int64),
                                     "position_ids": np.array([[position + i]], np.int64),
                                     **past})))
        tokens.append(int(r["logits"][0, -1].argmax()))
        past = {k.replace("present_", "past_"): v for k, v in r.items()
                if k.startswith("present_")}
    np.savez(os.path.join(directory, "gen.ort.npz"), tokens=np.array(tokens, np.int64))
    print(f"ONNX Runtime tokens: {tokens}")


if __name__ == "__main__":
    main()
