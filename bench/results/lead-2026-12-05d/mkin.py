"""sweep.sh's inputs: SRC.npz with its 4-D past arrays cut to the first TARGET KV heads, as DST.npz.
   python3 mkin.py SRC.npz DST.npz TARGET"""
import sys, numpy as np
src, dst, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
d = dict(np.load(src))
for k, v in list(d.items()):
    if ('past' in k or 'cache' in k) and v.ndim == 4:
        d[k] = np.ascontiguousarray(v[:, :target])
np.savez(dst, **d)
