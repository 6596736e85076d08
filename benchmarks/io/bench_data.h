// Data for the io benchmarks: Fashion-MNIST train written out once by the converter.
#pragma once

#include <string>
#include <vector>

namespace millrace::io::bench {

// $MILLRACE_BENCH_DATA or /tmp/millrace-bench.
std::string DataDir();
// DataDir()/fmnist-jpeg: the 60,000 training images as root/<class>/<record>.jpg (quality 95).
std::string JpegTree();
// DataDir()/fmnist-tar: the same as JPEG tar shards of 10,000 samples.
std::vector<std::string> TarShards();
// CPU seconds used so far by the whole process (all threads, user + system). On a shared
// machine, CPU per sample is steadier than wall-clock rates.
double ProcessCpuSeconds();

// Reads every file once so that runs start from the page cache.
void WarmPageCache(const std::vector<std::string>& paths);

}  // namespace millrace::io::bench
