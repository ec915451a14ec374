#!/usr/bin/env python3
"""Writes ONNX's backend node test cases of one operator as conformance
case directories (model.onnx + test_data_set_N/input_*.pb, output_*.pb),
from the case generators of the installed onnx package.

  onnx_node_cases.py OP OUT_DIR

Released onnx wheels ship the generators (onnx/backend/test/case/node) but
not every version's data; test/Import/fixtures/onnx_attention_1_23_2.tar.gz
was written by this script under onnx 1.23.2 (`pip install onnx==1.23.2` in
a scratch venv, then `onnx_node_cases.py Attention DIR`), and
onnx_conformance.py runs it.
"""

import os
import sys

from onnx import numpy_helper
from onnx.backend.test.case import node as node_cases


def main():
    op, out = sys.argv[1], sys.argv[2]
    cases = node_cases.collect_testcases(op)
    for case in cases:
        case_dir = os.path.join(out, case.name)
        os.makedirs(case_dir, exist_ok=True)
        with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        for i, (inputs, outputs) in enumerate(case.data_sets):
            data_dir = os.path.join(case_dir, f"test_data_set_{i}")
            os.makedirs(data_dir, exist_ok=True)
            for kind, arrays, specs in (("input", inputs, case.model.graph.input),
                                        ("output", outputs, case.model.graph.output)):
                for j, a in enumerate(arrays):
                    with open(os.path.join(data_dir, f"{kind}_{j}.pb"), "wb") as f:
                        f.write(numpy_helper.from_array(a, specs[j].name).SerializeToString())
    print(f"{len(cases)} {op} cases in {out}")


if __name__ == "__main__":
    main()
