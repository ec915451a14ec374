"""A tiny decoder step whose weights (16 KiB matrices) lie above the 4 KiB
threshold, saved with ONNX external data, and onnxruntime's logits for one
step; then the comparison of attn-run's logits with them.

  decoder_check.py make DIR      # DIR/model.onnx (+ .data), step.npz, want.npz
  decoder_check.py check DIR/want.npz OUT.npz
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder, step_inputs


def make(out_dir):
    cfg = DecoderConfig(vocab=96, d_model=64, n_layer=2, n_head=4, n_kv_head=2)
    model = build_tiny_decoder(cfg)
    path = os.path.join(out_dir, "model.onnx")
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.onnx.data", size_threshold=1024)
    feeds = step_inputs(cfg, past=5)
    np.savez(os.path.join(out_dir, "step.npz"), **feeds)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], feeds)[0]
    np.savez(os.path.join(out_dir, "want.npz"), logits=logits.reshape(-1))


def check(want_path, got_path):
    want = np.load(want_path)["logits"]
    got = np.load(got_path)["logits"].reshape(-1)
    err = float(np.max(np.abs(got - want)))
    print(f"max_abs_error {err:.2e} {'OK' if err <= 1e-4 else 'FAIL'}")


if __name__ == "__main__":
    {"make": make, "check": check}[sys.argv[1]](*sys.argv[2:])
