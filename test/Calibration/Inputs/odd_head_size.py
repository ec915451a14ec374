"""An 8-head decode-step attention with head size 7 (tools/demo's decomposed
form) and inputs for it: aligned sharing needs rotary planes (even sizes)."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "demo"))
import decomposed_attention as D  # noqa: E402

out = Path(sys.argv[1])
D.HEAD_DIM = 7
(out / "odd.mlir").write_text(D.decomposed_attention(8, 16))
rng = np.random.default_rng(0)
np.savez(out / "odd.npz", query=rng.standard_normal((1, 8, 1, 7)).astype(np.float32),
         key_cache=rng.standard_normal((1, 8, 16, 7)).astype(np.float32),
         value_cache=rng.standard_normal((1, 8, 16, 7)).astype(np.float32))
