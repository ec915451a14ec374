"""Checks the host functions of a cuda module (IR printed after
attn-device-buffers) for ops that would read or write device memory on the
CPU. Prints the launches and `host ok`, or each offending op and exits 1.

usage: check_host_ops.py IR.mlir
"""
import re
import sys

# Ops that dereference a buffer; on the host every buffer is device memory.
FORBIDDEN = re.compile(r"\b(memref\.(load|store|copy|alloca?|dealloc)|"
                       r"vector\.(load|store|transfer_read|transfer_write|"
                       r"maskedload|maskedstore|gather|scatter)|linalg\.[a-z_]+|"
                       r"affine\.(load|store)|attn\.(attention|decode))\b")


def host_functions(text):
    """Yields (name, body lines) of the module's top-level func.func ops."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^  func\.func (?:private )?@([\w$.]+)", lines[i])
        if not m:
            i += 1
            continue
        body = []
        i += 1
        while i < len(lines) and lines[i] != "  }":
            body.append(lines[i])
            i += 1
        yield m.group(1), body


def main():
    text = open(sys.argv[1]).read()
    if "attn-device-buffers" not in text and "gpu.launch_func" not in text:
        print("no cuda module in " + sys.argv[1])
        return 1
    bad, launches, funcs = 0, 0, 0
    for name, body in host_functions(text):
        funcs += 1
        for line in body:
            launches += "gpu.launch_func" in line
            m = FORBIDDEN.search(line)
            if m:
                print(f"host access in @{name}: {line.strip()}")
                bad += 1
    print(f"host functions: {funcs}, launches: {launches}")
    if funcs == 0 or bad:
        return 1
    print("host ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
