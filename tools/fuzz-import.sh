#!/usr/bin/env bash
# Fuzzes the ONNX importer: builds tools/attn-import-fuzz with clang, libFuzzer,
# ASan and UBSan in build-fuzz/, then runs it for SECONDS (default 60; 0 runs
# each seed once and exits) over a scratch copy of the seed corpus.
#
#   tools/fuzz-import.sh [SECONDS] [extra libFuzzer flags...]
#
# New corpus entries go to build-fuzz/fuzz/corpus (kept between runs), crash
# reproducers to build-fuzz/fuzz/artifacts; the repository is never written.
# Environment: ATTN_FUZZ_BUILD_DIR (build-fuzz), ATTN_FUZZ_BUILD_JOBS (2),
# CC/CXX (clang-22/clang++-22). docs/fuzzing.md has the details.
set -euo pipefail

seconds=${1:-60}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ATTN_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${ATTN_FUZZ_BUILD_JOBS:-2}
fuzz_dir=$root/tools/attn-import-fuzz

if [ ! -f "$build/build.ninja" ]; then
  CC=${CC:-clang-22} CXX=${CXX:-clang++-22} \
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DATTN_BUILD_FUZZERS=ON -DATTN_ENABLE_SANITIZERS=ON
fi
# Only the fuzzer and what it links: every library of this tree carries
# coverage instrumentation.
cmake --build "$build" --target attn-import-fuzz -- -j"$jobs"

work=$build/fuzz
mkdir -p "$work/corpus" "$work/artifacts"
# Malformed inputs must give diagnostics, not exits: ASan/UBSan stop at the
# first report; leaks are not findings (LLVM's and protobuf's globals live on).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
flags=(-dict="$fuzz_dir/onnx.dict" -max_len=65536 -rss_limit_mb=2048
       -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1
       -artifact_prefix="$work/artifacts/")
# The scratch corpus first (libFuzzer writes there); the seeds and the
# regression inputs are read only.
dirs=("$work/corpus" "$fuzz_dir/corpus" "$root/test/Import/fuzz-regressions")
if [ "$seconds" = 0 ]; then
  exec "$build/bin/attn-import-fuzz" "${flags[@]}" -runs=0 "${dirs[@]}" "$@"
fi
exec "$build/bin/attn-import-fuzz" "${flags[@]}" -max_total_time="$seconds" \
  "${dirs[@]}" "$@"
