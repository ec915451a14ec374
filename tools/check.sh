#!/usr/bin/env bash
# README command 2: install what is missing, build, and run the whole test suite.
# Ends with a plain "N passed, N failed" line; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${ATTN_BUILD_DIR:-build}
tools/install-deps.sh
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja ${ATTN_CMAKE_ARGS:-} >/dev/null
cmake --build "$build"
log=$(mktemp)
set +e
cmake --build "$build" --target check-attn 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# lit pads the labels when several kinds are listed ("Passed     : 12").
count() { grep -oE "^ *$1 *: *[0-9]+" "$log" | grep -oE '[0-9]+$' || echo 0; }
passed=$(count Passed)
failed=$(( $(count Failed) + $(count Unresolved) + $(count "Timed Out") + $(count "Unexpectedly Passed") ))
# Tests that need a GPU (test/GPU, lit feature cuda-device) are UNSUPPORTED
# on machines without one: reported as skipped, never as passed.
skipped=$(count Unsupported)
rm -f "$log"
echo "$(basename "$build"): ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] && [ "${passed}" -gt 0 ]
