"""Inputs and checks for share-kv-block-refit.test.

`make DIR`: share_kv_joint.py's one-layer random decoder and data (256
calibration windows of 16 tokens, held-out windows, the original logits),
and nomlp.onnx: the same model with a Tanh between the MLP's down
projection and the residual Add, so the block pattern of the refit (a
residual Add of the stream and a constant-weight MatMul) is not there.
`check DIR`: the compile logs' block errors fall (refit0.log, refit.log),
and the held-out KL against the original of joint with the refit, with
and without drift (refit0.npz, refit.npz), is below joint's without it
(joint.npz).
"""
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import share_kv_joint as J  # noqa: E402


def main():
    out = Path(sys.argv[2])
    if sys.argv[1] == "make":
        sys.argv = [sys.argv[0], "make", str(out)]
        J.main()
        import onnx
        from onnx import helper
        m = onnx.load(str(out / "model.onnx"), load_external_data=True)
        nodes = list(m.graph.node)
        down = next(n for n in nodes if n.op_type == "MatMul" and n.input[1].startswith("w_down"))
        add = next(n for n in nodes if n.op_type == "Add" and down.output[0] in n.input)
        add.input[list(add.input).index(down.output[0])] = "down_tanh"
        m.graph.node.insert(nodes.index(down) + 1,
                            helper.make_node("Tanh", [down.output[0]], ["down_tanh"]))
        onnx.save(m, str(out / "nomlp.onnx"))
        return
    ok = True
    for name in ("refit0", "refit"):
        found = re.findall(r"block error \(relative to the attention's output\) "
                           r"(\S+) -> (\S+)", (out / f"{name}.log").read_text())
        for before, after in found:
            print(f"{name}: block error {before} -> {after}")
            ok &= float(after) < float(before)
        ok &= len(found) == 1
    ref = np.load(out / "original.npy")
    kl = {n: J.kl(ref, np.load(out / f"{n}.npz")["logits"])
          for n in ("joint", "refit0", "refit")}
    for n, e in kl.items():
        print(f"held-out KL {n} {e:.5f}")
    closer = kl["refit0"] < kl["joint"] and kl["refit"] < kl["joint"]
    print("the block refit brings the model closer on held-out windows"
          if closer else "REFIT NOT CLOSER")
    print("block errors fall" if ok else "BLOCK ERROR DID NOT FALL")
    sys.exit(0 if ok and closer else 1)


if __name__ == "__main__":
    main()
