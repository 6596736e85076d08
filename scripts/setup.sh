#!/usr/bin/env bash
# Installs every Debian package millrace builds, tests and trains with. Idempotent: when all
# are present it only checks (well under a second) and installs nothing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libtbb-dev               # CPU task scheduling, bounded queues
  libdnnl-dev              # CPU compute (oneDNN)
  ocl-icd-opencl-dev       # oneDNN's CMake package looks for OpenCL (its GPU runtime)
  libboost1.81-dev         # Boost.Asio
  liburing-dev             # io_uring behind Asio's random_access_file
  libgtest-dev libgmock-dev libbenchmark-dev
  zlib1g-dev libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libarchive-dev
  nlohmann-json3-dev libcli11-dev
  clang libclang-rt-14-dev # libFuzzer targets
  dataset-fashion-mnist    # /usr/share/datasets/fashion-mnist
  time                     # /usr/bin/time -v: peak memory in scripts/bench_reading.sh
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
