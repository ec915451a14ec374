"""Drives npz-copy over archives that numpy writes and over broken ones."""
import io
import os
import random
import subprocess
import sys
import zipfile

import numpy as np

tool, workdir = sys.argv[1], sys.argv[2]
os.makedirs(workdir, exist_ok=True)
rng = np.random.default_rng(0)


def run(src, dst):
    if os.path.exists(dst):
        os.remove(dst)
    p = subprocess.run([tool, src, dst], capture_output=True, text=True,
                       errors="replace")
    return p.returncode, p.stdout + p.stderr


arrays = {
    "f32": rng.standard_normal((3, 4)).astype(np.float32),
    "f16": rng.standard_normal((2, 3, 5)).astype(np.float16),
    "f64": rng.standard_normal(7),
    "i64": rng.integers(-2**62, 2**62, (2, 2), dtype=np.int64),
    "i32": rng.integers(-2**31, 2**31 - 1, 6, dtype=np.int32),
    "i16": rng.integers(-2**15, 2**15 - 1, 6, dtype=np.int16),
    "i8": rng.integers(-128, 127, 6, dtype=np.int8),
    "u8": rng.integers(0, 255, 6, dtype=np.uint8),
    "bool": rng.integers(0, 2, (2, 3)).astype(bool),
    "scalar": np.array(3.5, dtype=np.float32),
    "empty": np.zeros((0, 4), dtype=np.float32),
    "past key.0": np.arange(4, dtype=np.float32),
}
expected_dtype = {"f32": "f32", "f16": "f16", "f64": "f64", "i64": "i64",
                  "i32": "i32", "i16": "i16", "i8": "i8", "u8": "u8",
                  "bool": "bool", "scalar": "f32", "empty": "f32",
                  "past key.0": "f32"}


def check_roundtrip(label, src):
    dst = os.path.join(workdir, label + ".out.npz")
    rc, out = run(src, dst)
    assert rc == 0, (label, out)
    got = np.load(dst)
    assert list(got.files) == list(arrays), (label, got.files)
    for name, a in arrays.items():
        assert got[name].dtype == a.dtype and got[name].shape == a.shape, name
        assert np.array_equal(got[name], a), (label, name)
        assert f"{name} {expected_dtype[name]} " in out, (label, name, out)
    print(f"{label}: ok")


plain = os.path.join(workdir, "plain.npz")
np.savez(plain, **arrays)
check_roundtrip("savez", plain)
compressed = os.path.join(workdir, "compressed.npz")
np.savez_compressed(compressed, **arrays)
check_roundtrip("savez_compressed", compressed)

# zip64 everywhere: sizes and offsets in zip64 extra fields and a zip64 end
# of central directory, as numpy writes for archives over 4 GiB.
saved = zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT
zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = 8, 1
zip64 = os.path.join(workdir, "zip64.npz")
np.savez_compressed(zip64, **arrays)
zipfile.ZIP64_LIMIT, zipfile.ZIP_FILECOUNT_LIMIT = saved
with open(zip64, "rb") as f:
    assert b"PK\x06\x06" in f.read(), "no zip64 end of central directory"
check_roundtrip("zip64", zip64)


def npy_bytes(a, header_dict=None, version=(1, 0)):
    buf = io.BytesIO()
    if header_dict is None:
        np.lib.format.write_array(buf, a, version=version)
        return buf.getvalue()
    np.lib.format._write_array_header(buf, header_dict, version)
    return buf.getvalue() + a.tobytes()


def write_zip(path, members, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as z:
        for name, data in members.items():
            z.writestr(name, data)


# .npy format versions 2 and 3.
a = arrays["f32"]
for version in [(2, 0), (3, 0)]:
    path = os.path.join(workdir, f"v{version[0]}.npz")
    write_zip(path, {"x.npy": npy_bytes(a, version=version)})
    rc, out = run(path, path + ".out")
    assert rc == 0 and np.array_equal(np.load(path + ".out")["x"], a), out
    print(f"npy version {version[0]}: ok")

# bfloat16: '<V2' and '<u2' arrays read as bf16 and are written as '<u2'.
bits = rng.integers(0, 2**16, (2, 3), dtype=np.uint16)
path = os.path.join(workdir, "bf16.npz")
write_zip(path, {
    "v2.npy": npy_bytes(bits, {"descr": "<V2", "fortran_order": False,
                               "shape": (2, 3)}),
    "u2.npy": npy_bytes(bits),
})
rc, out = run(path, path + ".out")
assert rc == 0 and "v2 bf16 [2, 3]" in out and "u2 bf16 [2, 3]" in out, out
got = np.load(path + ".out")
assert got["v2"].dtype == np.uint16 and np.array_equal(got["v2"], bits)
assert np.array_equal(got["u2"], bits)
print("bf16 conventions: ok")

# Inputs that must be rejected with a message (and no output file).
bad = {
    "fortran": ({"x.npy": npy_bytes(np.asfortranarray(a))}, "fortran_order"),
    "big-endian": ({"x.npy": npy_bytes(a.astype(">f4"))}, "big-endian"),
    "structured": ({"x.npy": npy_bytes(np.zeros(2, dtype=[("a", "<f4")]))},
                   "structured"),
    "complex": ({"x.npy": npy_bytes(np.zeros(2, dtype=np.complex64))},
                "unsupported dtype '<c8'"),
    "u32": ({"x.npy": npy_bytes(np.zeros(2, dtype=np.uint32))},
            "unsupported dtype '<u4'"),
    "not-npy": ({"x.txt": b"hello"}, "not a .npy array"),
    "short-data": ({"x.npy": npy_bytes(a)[:-4]}, "does not match"),
    "bad-magic": ({"x.npy": b"\x93NUMPX" + npy_bytes(a)[6:]}, "bad magic"),
    "object": ({"x.npy": npy_bytes(np.zeros(2), {"descr": "|O",
                                                 "fortran_order": False,
                                                 "shape": (2,)})},
               "unsupported dtype '|O'"),
}
for label, (members, message) in bad.items():
    path = os.path.join(workdir, label + ".npz")
    write_zip(path, members)
    rc, out = run(path, path + ".out")
    assert rc == 1 and message in out, (label, rc, out)
    assert not os.path.exists(path + ".out"), label
    print(f"rejects {label}: ok")

text = os.path.join(workdir, "text.npz")
with open(text, "w") as f:
    f.write("this is not a zip file\n")
rc, out = run(text, text + ".out")
assert rc == 1 and "not an npz (zip) file" in out, out
rc, out = run(os.path.join(workdir, "missing.npz"), text + ".out")
assert rc == 1 and "cannot open" in out, out
rc, out = run(workdir, text + ".out")
assert rc == 1 and "not a regular file" in out, out
print("rejects non-archives: ok")

# Writing into a missing directory fails cleanly.
rc, out = run(plain, os.path.join(workdir, "no", "such", "dir.npz"))
assert rc == 1 and "cannot create" in out, out
print("reports write errors: ok")

# Corrupted and truncated archives: an error, never a crash.
for label, src in [("stored", plain), ("deflated", compressed),
                   ("zip64", zip64)]:
    with open(src, "rb") as f:
        data = f.read()
    rnd = random.Random(1)
    cases = [data[:n] for n in range(0, len(data), max(1, len(data) // 80))]
    for _ in range(120):
        b = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        cases.append(bytes(b))
    path = os.path.join(workdir, "fuzz.npz")
    for case in cases:
        with open(path, "wb") as f:
            f.write(case)
        rc, out = run(path, path + ".out")
        assert rc in (0, 1), (label, rc, out)
        assert rc == 0 or out.startswith("error: "), out
    print(f"fuzzed {label} ({len(cases)} cases): no crash")
