#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test: the full suite in a Release
# build, then the core runtime again under ThreadSanitizer and under AddressSanitizer+UBSan.
# This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${MILLRACE_JOBS:-$(nproc)}

scripts/setup.sh

echo "== build (Release) =="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
echo "== tests =="
ctest --test-dir build --output-on-failure -j "$jobs"

for sanitizer in thread address; do
  echo "== core tests under sanitizer: $sanitizer =="
  cmake -S . -B "build-$sanitizer" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMILLRACE_ONLY_CORE=ON -DMILLRACE_CUDA=OFF -DMILLRACE_SANITIZE=$sanitizer >/dev/null
  cmake --build "build-$sanitizer" -j "$jobs"
  ctest --test-dir "build-$sanitizer" --output-on-failure -j "$jobs"
done

if [[ -x scripts/fuzz.sh ]]; then
  echo "== fuzz targets (short runs) =="
  scripts/fuzz.sh
fi
echo "all tests passed"
