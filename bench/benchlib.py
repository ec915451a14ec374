"""What the CPU benchmark scripts of bench/ share: finding the built tools,
running one, the machine's lscpu fields, and appending a report to
bench/RESULTS.md."""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script():
    return os.path.basename(sys.argv[0])


def tool(args, name):
    """The built tool `name`: in --bin-dir (args.bin_dir), else build/bin."""
    for directory in filter(None, [args.bin_dir, os.path.join(REPO, "build", "bin")]):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    sys.exit(f"{_script()}: cannot find {name}; pass --bin-dir")


def run(cmd):
    """Runs `cmd` and returns its stdout; exits with its stderr on failure."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{_script()}: `{' '.join(cmd)}` failed:\n{r.stderr[-3000:]}")
    return r.stdout


def lscpu():
    """lscpu's fields by name ('Model name', 'CPU(s)', ...)."""
    return dict(re.findall(r"^([^:\n]+):\s*(.*)$", subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout, re.M))


def append_results(text, args):
    """Appends `text` to args.results (bench/RESULTS.md) unless --no-append."""
    if not args.no_append:
        with open(args.results, "a") as f:
            f.write("\n" + text)
