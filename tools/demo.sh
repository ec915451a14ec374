#!/usr/bin/env bash
# README command 1's main job: the default decoder compiled with the fused KV cache,
# decoded, converted to GQA/MQA (tools/demo/attn_demo.py; --quick for the lit test).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ATTN_BUILD_DIR:-$here/build}
PYTHONPATH="$here/python${PYTHONPATH:+:$PYTHONPATH}" exec python3 "$here/tools/demo/attn_demo.py" --build "$build" "$@"
