#!/usr/bin/env bash
# Asynchronous reads in training (docs/BENCHMARKS.md, "Reading in training"): as root,
#   scripts/bench_reading.sh [millrace binary] [pairs] [all|rss]      (rss: part 2 only, any user)
# 1. `train --format folder --augment` samples/s with the page cache dropped vs warm, in
#    interleaved pairs (cold, warm, cold, warm, ...). "cold" drops the page cache
#    (echo 3 > /proc/sys/vm/drop_caches) and then runs a 1-step IDX training so that the program's
#    own libraries are paged in again: only the image tree is cold. "cold-all" leaves them out too.
# 2. peak RSS of `train --format tar` on 60k and 600k records (300 steps each), interleaved; the
#    first pair with the shards' index files (millrace.tarindex) removed, so written at open.
# Needs /tmp/fmnist (millrace data to-folder --out /tmp/fmnist), /tmp/fmnist-tar60k and
# /tmp/fmnist-tar600k (millrace data to-tar --split train [--repeat 10] --out ...).
set -euo pipefail
bin=${1:-build/cli/millrace}
pairs=${2:-3}
part=${3:-all}
rate() { grep -o 'in [0-9.]* s: [0-9]* samples/s' | grep -o '[0-9]* samples/s' | cut -d' ' -f1; }
train_tree() { "$bin" train --format folder --data /tmp/fmnist --augment --epochs 1 --no-eval 2>&1 | rate; }
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
echo "binary $bin; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$pairs"); do
  [ "$part" = rss ] && break
  drop
  "$bin" train --limit 128 --batch-size 128 --epochs 1 --no-eval > /dev/null 2>&1
  cold=$(train_tree)
  warm=$(train_tree)
  drop
  cold_all=$(train_tree)
  warm2=$(train_tree)
  echo "pair $i: cold $cold warm $warm ratio $(echo "scale=3; $cold / $warm" | bc)" \
       "| cold-all $cold_all warm $warm2 ratio $(echo "scale=3; $cold_all / $warm2" | bc)"
done
rss() {
  /usr/bin/time -v "$bin" train --format tar --data "$1" --augment --epochs 1 --max-steps 300 \
    --no-eval 2>&1 | grep 'Maximum resident' | grep -o '[0-9]*$'
}
rm -f /tmp/fmnist-tar60k/train/millrace.tarindex /tmp/fmnist-tar600k/train/millrace.tarindex
for i in $(seq "$pairs"); do
  small=$(rss /tmp/fmnist-tar60k)
  large=$(rss /tmp/fmnist-tar600k)
  echo "rss $i: 60k ${small} KB 600k ${large} KB ratio $(echo "scale=3; $large / $small" | bc)"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
