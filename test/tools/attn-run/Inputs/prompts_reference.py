"""Each prompt alone through ONNX Runtime: the whole prompt in one prefill
step from an empty past, then greedy decode steps feeding present_* back as
past_*, the reference of `attn-run --generate N --prompts FILE`.

  prompts_reference.py MODEL.onnx PROMPTS.txt N OUT.npz

writes `tokens` [B, N] and `logits` [B, N, vocab] (each step's last row).
"""

import sys

import numpy as np
import onnxruntime as ort


def main() -> None:
    model, prompts_path, steps, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    pasts = [i for i in session.get_inputs() if i.name.startswith("past")]
    names = [o.name for o in session.get_outputs()]
    prompts = [[int(t) for t in line.split()] for line in open(prompts_path)
               if line.strip() and not line.lstrip().startswith("#")]
    all_tokens, all_logits = [], []
    for prompt in prompts:
        feeds = {"input_ids": np.array([prompt], np.int64),
                 "position_ids": np.arange(len(prompt), dtype=np.int64)[None]}
        for p in pasts:
            feeds[p.name] = np.zeros((1, p.shape[1], 0, p.shape[3]), np.float32)
        tokens, logits = [], []
        for _ in range(steps):
            results = dict(zip(names, session.run(None, feeds)))
            row = results["logits"][0, -1]
            tokens.append(int(np.argmax(row)))
            logits.append(row)
            for name, value in results.items():
                if name.startswith("present"):
                    feeds["past" + name[len("present"):]] = value
            position = feeds["position_ids"][0, -1] + 1
            feeds["input_ids"] = np.array([[tokens[-1]]], np.int64)
            feeds["position_ids"] = np.array([[position]], np.int64)
        all_tokens.append(tokens)
        all_logits.append(np.stack(logits))
    np.savez(out, tokens=np.array(all_tokens, dtype=np.int64),
             logits=np.stack(all_logits).astype(np.float32))


if __name__ == "__main__":
    main()
