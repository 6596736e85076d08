#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test: the full suite in a Release
# build, the full suite again under AddressSanitizer+UBSan, the core (graph runtime) and
# pipelines tests under ThreadSanitizer, then each fuzz target briefly. This is the command README.md gives and
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
# oneDNN, which is not instrumented either way. Unity builds (CMake joins up to 8 sources of a
# target into one translation unit): each file's headers (oneTBB, Asio, oneDNN, gtest) are parsed
# once per batch instead of once per file, which cuts the sanitizer builds' CPU time by a third
# (docs/RELIABILITY.md, "CI timing"); the Release build stays one file per unit, so a name that
# two files of a target both define at namespace scope is caught here, not there.
sanitizer_build() {  # dir sanitizer optimization [extra cmake args]
  local dir=$1 sanitizer=$2 opt=$3
  shift 3
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="$opt -DNDEBUG" \
    -DMILLRACE_CUDA=OFF -DMILLRACE_SANITIZE="$sanitizer" -DMILLRACE_BUILD_BENCHMARKS=OFF \
    -DMILLRACE_BUILD_SAMPLES=OFF -DCMAKE_UNITY_BUILD=ON "${launcher[@]}" "$@" >/dev/null
}

echo "== the whole suite under AddressSanitizer+UBSan =="
sanitizer_build build-address address -O0
cmake --build build-address -j "$jobs"
ctest --test-dir build-address --output-on-failure -j "$jobs"

# The graph runtime and the pipelines (the training graph's stages, readers and checkpoints)
# under TSan: only their test targets and the libraries they link are built. The pipelines part
# costs ~3 minutes of 2 cores (docs/RELIABILITY.md, "CI timing"); MILLRACE_TSAN_PIPELINES=0
# leaves it out.
echo "== core and pipelines tests under ThreadSanitizer =="
sanitizer_build build-thread thread -O1
tsan_layers='core|graph|pipelines'
tsan_labels='core|pipelines'
if [[ ${MILLRACE_TSAN_PIPELINES:-1} == 0 ]]; then
  tsan_layers='core|graph'
  tsan_labels='core'
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
