"""ort_step.py MODEL.onnx INPUTS.npz OUT.npz: one run of MODEL with ONNX
Runtime's CPU provider on the inputs it takes from INPUTS.npz; every output
saved under its graph name."""
import sys

import numpy as np
import onnxruntime as ort

model, inputs, out = sys.argv[1:]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
arrays = np.load(inputs)
feed = {i.name: arrays[i.name] for i in session.get_inputs()}
names = [o.name for o in session.get_outputs()]
np.savez(out, **dict(zip(names, session.run(names, feed))))
