"""Run with the interpreter of a venv that has the wheel installed: the
package comes from the venv (not the source tree), finds its own native
libraries, compiles the tiny decoder in-process, and decodes."""

import os
import sys

import numpy as np

import attn_mlir
from attn_mlir_models.tiny_decoder import DecoderConfig, build_tiny_decoder

venv = sys.argv[1]
package = os.path.dirname(attn_mlir.__file__)
print("package in venv:", os.path.realpath(package).startswith(
    os.path.realpath(venv)))
print("libraries in package:",
      all(os.path.dirname(p) == os.path.join(package, "lib") for p in
          (attn_mlir.compiler_library(), attn_mlir.runtime_library())))
module = attn_mlir.compile(build_tiny_decoder(DecoderConfig()),
                           dims={"batch": 2, "seq": 1}, share_kv=2,
                           max_seq=16)
print("kv heads:", sorted({op["kv_heads"] for op in module.report["attention"]}))
tokens = module.generate(np.array([[1, 2, 3], [4, 5, 6]]), 4)
print("tokens shape:", tokens.shape)
