"""Rewrites the attn_model_signature of an LLVM-dialect module, to make
models whose signatures an older compiler wrote or whose buffers have other
names: edit_signature.py IN.mlir OUT.mlir (strip-roles | rename OLD NEW)."""
import re
import sys

src, dst, mode = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(src).read()
match = re.search(r'@attn_model_signature\("((?:[^"\\]|\\.)*)"\)', text)
lines = match.group(1).replace("\\0A", "\n").replace("\\00", "").splitlines()
if mode == "strip-roles":
    lines = [l for l in lines if not l.startswith("role ")]
elif mode == "rename":
    old, new = sys.argv[4], sys.argv[5]
    lines = [" ".join(new if (i == 1 and not l.startswith("role ")) or
                      (i == 2 and l.startswith("role ")) else f
                      for i, f in enumerate(l.split(" ")))
             if old in l.split(" ") else l for l in lines]
else:
    sys.exit(f"unknown mode {mode}")
signature = "".join(l + "\\0A" for l in lines) + "\\00"
open(dst, "w").write(text[:match.start(1)] + signature + text[match.end(1):])
