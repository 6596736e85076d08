#!/usr/bin/env bash
# Builds the libFuzzer targets (io/fuzz: IDX and gzip, tar in memory and streamed, image decode,
# collate, safetensors, image-tree scan) with clang in build-fuzz and runs each for a short time
# (MILLRACE_FUZZ_SECONDS, default 20), seeded from tests/fuzz_corpus/<target>/. New inputs go to
# build-fuzz/corpus/<target>; a crash leaves its input in build-fuzz/ and fails the script.
# The targets use the production limits (4 GiB per IDX file, 1 GiB per tar entry, 2^26 pixels);
# -rss_limit_mb is the memory bound docs/RELIABILITY.md states for inputs of -max_len bytes
# (twice 1032 x 64 KiB of inflated gzip, or one 2^26-pixel RGB image, plus ASan's overhead),
# so an amplification past it is a finding.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${MILLRACE_FUZZ_SECONDS:-20}
jobs=${MILLRACE_JOBS:-$(nproc)}
targets=(idx tar image_decode collate safetensors image_tree)

CXX=${MILLRACE_FUZZ_CXX:-clang++} cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMILLRACE_BUILD_FUZZERS=ON -DMILLRACE_CUDA=OFF -DMILLRACE_BUILD_TESTS=OFF \
  -DMILLRACE_BUILD_BENCHMARKS=OFF -DMILLRACE_BUILD_SAMPLES=OFF -DMILLRACE_BUILD_CLI=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target "${targets[@]/#/io_fuzz_}"

for t in "${targets[@]}"; do
  echo "== fuzz io_fuzz_$t for ${seconds}s =="
  mkdir -p "build-fuzz/corpus/$t"
  log="build-fuzz/fuzz-$t.log"
  if ! (cd build-fuzz && "io/fuzz/io_fuzz_$t" -max_total_time="$seconds" -timeout=10 \
          -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
          "corpus/$t" "../tests/fuzz_corpus/$t") >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "io_fuzz_$t failed (full log: $log)"
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|Done [0-9]+ runs" "$log" || true
done
echo "fuzz targets ran clean"
