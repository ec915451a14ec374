#!/usr/bin/env bash
# Installs what attn-mlir needs to build and test, and nothing when it is all there.
# Debian 12 packages (LLVM/MLIR 22, ONNX C++, build tools) and pinned PyPI packages.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

apt_packages=(
  cmake ninja-build g++ zlib1g-dev python3-venv
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools clang-22 libclang-rt-22-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Python packages: pinned; pip is only called when one is missing or at another version.
req="$here/python/requirements.txt"
if ! python3 - "$req" <<'PY'
import sys
from importlib import metadata
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, version = line.split("==")
    try:
        if metadata.version(name) != version:
            sys.exit(1)
    except metadata.PackageNotFoundError:
        sys.exit(1)
PY
then
  echo "install-deps: installing Python packages from $req"
  python3 -m pip install -q --disable-pip-version-check -r "$req"
fi
