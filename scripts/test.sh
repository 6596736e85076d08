#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test: the full suite in a Release
# build, the full suite again under AddressSanitizer+UBSan, the core (graph runtime) tests under
# ThreadSanitizer, then each fuzz target briefly. This is the command README.md gives and
# .ci/run calls. Timings and the choice of builds: docs/RELIABILITY.md ("CI timing").
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${MILLRACE_JOBS:-$(nproc)}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

scripts/setup.sh

echo "== build (Release) =="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build build -j "$jobs"
echo "== tests =="
ctest --test-dir build --output-on-failure -j "$jobs"

# Sanitizer builds: no CUDA, no benchmarks or samples (they have no tests). ASan+UBSan at -O0:
# UBSan's checks make optimized compiles 2.5-6x slower, and the suite's heavy lifting is in
# oneDNN, which is not instrumented either way.
sanitizer_build() {  # dir sanitizer optimization [extra cmake args]
  local dir=$1 sanitizer=$2 opt=$3
  shift 3
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="$opt -DNDEBUG" \
    -DMILLRACE_CUDA=OFF -DMILLRACE_SANITIZE="$sanitizer" -DMILLRACE_BUILD_BENCHMARKS=OFF \
    -DMILLRACE_BUILD_SAMPLES=OFF "${launcher[@]}" "$@" >/dev/null
}

echo "== the whole suite under AddressSanitizer+UBSan =="
sanitizer_build build-address address -O0
cmake --build build-address -j "$jobs"
ctest --test-dir build-address --output-on-failure -j "$jobs"

# The graph runtime under TSan. The pipelines tests under TSan (MILLRACE_TSAN_PIPELINES=1) add
# ~5 minutes of building ops, io and pipelines instrumented: run them before changing threads in
# pipelines/, not in every CI run (CI must stay well inside 30 minutes on 2 cores).
echo "== core tests under ThreadSanitizer =="
sanitizer_build build-thread thread -O1
tsan_layers='core|graph'
tsan_labels='core'
if [[ ${MILLRACE_TSAN_PIPELINES:-0} == 1 ]]; then
  tsan_layers='core|graph|pipelines'
  tsan_labels='core|pipelines'
fi
tsan_targets=$(cmake --build build-thread --target help | grep -E "^($tsan_layers)_[a-z_]*test:" | cut -d: -f1)
# shellcheck disable=SC2086
cmake --build build-thread -j "$jobs" --target $tsan_targets
TSAN_OPTIONS="suppressions=$PWD/scripts/tsan.supp ${TSAN_OPTIONS:-}" \
  ctest --test-dir build-thread --output-on-failure -j "$jobs" -L "$tsan_labels"

if [[ -x scripts/fuzz.sh ]]; then
  echo "== fuzz targets (short runs) =="
  MILLRACE_FUZZ_SECONDS=${MILLRACE_FUZZ_SECONDS:-5} scripts/fuzz.sh
fi
echo "all tests passed"
