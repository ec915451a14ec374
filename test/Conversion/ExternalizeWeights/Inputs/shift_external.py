"""Moves the first external tensor of DIR/model.onnx (whose data is in
DIR/model.onnx.data) to the end of that file at an offset that is 2 bytes
past a multiple of 64, so that it is not aligned for its element type (f32),
and saves the model again in place; the other tensors keep their offsets.

  shift_external.py DIR
"""
import os
import sys

import onnx


def main(out_dir):
    path = os.path.join(out_dir, "model.onnx")
    model = onnx.load(path, load_external_data=False)
    data_path = os.path.join(out_dir, "model.onnx.data")
    data = bytearray(open(data_path, "rb").read())
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e for e in tensor.external_data}
        offset = int(info["offset"].value) if "offset" in info else 0
        length = int(info["length"].value)
        data.extend(b"\0" * ((-len(data)) % 64 + 2))
        moved = len(data)
        data.extend(data[offset:offset + length])
        if "offset" in info:
            info["offset"].value = str(moved)
        else:
            entry = tensor.external_data.add()
            entry.key, entry.value = "offset", str(moved)
        print(f"moved {tensor.name} to offset {moved} (mod 4 = {moved % 4})")
        break
    open(data_path, "wb").write(data)
    onnx.save(model, path)


if __name__ == "__main__":
    main(*sys.argv[1:])
