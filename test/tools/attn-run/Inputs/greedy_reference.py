"""N greedy decode steps of a decode-step ONNX model with ONNX Runtime.

Feeds present_* back as past_* and position + 1, as attn-run --generate does,
and writes `tokens` [N] and `logits` [N, vocab] (last position of each step).

  greedy_reference.py MODEL.onnx STEP_INPUTS.npz N OUT.npz
"""

import sys

import numpy as np
import onnxruntime as ort


def main() -> None:
    model, inputs, steps, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    feeds = dict(np.load(inputs))
    names = [o.name for o in session.get_outputs()]
    tokens, logits = [], []
    for _ in range(steps):
        results = dict(zip(names, session.run(None, feeds)))
        row = results["logits"].reshape(-1, results["logits"].shape[-1])[-1]
        tokens.append(int(np.argmax(row)))
        logits.append(row)
        for name, value in results.items():
            if name.startswith("present"):
                feeds["past" + name[len("present"):]] = value
        feeds["input_ids"] = np.full_like(feeds["input_ids"], tokens[-1])
        feeds["position_ids"] = feeds["position_ids"] + 1
    np.savez(out, tokens=np.array(tokens, dtype=np.int64),
             logits=np.stack(logits).astype(np.float32))


if __name__ == "__main__":
    main()
