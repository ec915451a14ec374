#!/usr/bin/env bash
# README command 1's main job: compile the embedded default model and run it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ATTN_BUILD_DIR:-$here/build}
PYTHONPATH="$here/python${PYTHONPATH:+:$PYTHONPATH}" exec python3 "$here/tools/demo/attn_demo.py" --build "$build" "$@"
