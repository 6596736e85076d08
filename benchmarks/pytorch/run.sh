#!/bin/bash
# PyTorch beside millrace on the same machine (benchmarks/pytorch/train_bench.py), set up as a
# competent user would: Debian's python3-torch, OpenBLAS (the OpenMP build, extracted from
# Debian's libopenblas0-openmp package into a temporary folder and put first on
# LD_LIBRARY_PATH, rather than switching the system's BLAS), glibc malloc keeping freed memory.
#   benchmarks/pytorch/run.sh [train_bench.py options]   e.g. --models cnn --threads 2
# Needs python3-torch (apt-get install python3-torch); never a dependency of the build or tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
blas=${MILLRACE_OPENBLAS_DIR:-/tmp/millrace-openblas}
if [[ ! -e $blas/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 ]]; then
  mkdir -p "$blas"
  (cd "$blas" && apt-get download -q libopenblas0-openmp >/dev/null 2>&1 && dpkg -x libopenblas0-openmp_*.deb .)
fi
export LD_LIBRARY_PATH=$blas/usr/lib/x86_64-linux-gnu/openblas-openmp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456
exec /usr/bin/python3 "$here/train_bench.py" "$@"
