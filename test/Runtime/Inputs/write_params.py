"""Writes a parameter file: the 64-byte header (magic, size, hash) and the
floats 10, 20, 30, 40 at offset 64, zero-padded to SIZE bytes.

  write_params.py PATH SIZE HASH
"""
import struct
import sys

path, size, digest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = b"ATTNPRM1" + struct.pack("<QQ", size, digest)
data += bytes(64 - len(data)) + struct.pack("<4f", 10, 20, 30, 40)
with open(path, "wb") as f:
    f.write(data + bytes(size - len(data)))
