#include "bench_data.h"

#include <sys/resource.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "io/async_reader.h"
#include "io/convert.h"
#include "io/idx.h"
#include "io/tar_shards.h"

namespace millrace::io::bench {
namespace fs = std::filesystem;

std::string DataDir() {
  const char* dir = std::getenv("MILLRACE_BENCH_DATA");
  return dir && *dir ? dir : "/tmp/millrace-bench";
}

namespace {

// Builds `dir` with `write` unless its completion marker exists.
template <typename F>
void BuildOnce(const std::string& dir, F&& write) {
  const std::string marker = dir + "/.complete";
  if (fs::exists(marker)) return;
  std::cerr << "writing " << dir << " (once)...\n";
  fs::remove_all(dir);
  write();
  std::ofstream(marker) << "ok\n";
}

}  // namespace

std::string JpegTree() {
  const std::string dir = DataDir() + "/fmnist-jpeg";
  BuildOnce(dir,
            [&] { WriteImageTree(IdxDataset::FashionMnist("train"), dir, {.jpeg_quality = 95}); });
  return dir;
}

std::vector<std::string> TarShards() {
  const std::string dir = DataDir() + "/fmnist-tar";
  BuildOnce(dir, [&] {
    WriteTarShards(IdxDataset::FashionMnist("train"), dir,
                   {.jpeg_quality = 95, .samples_per_shard = 10000});
  });
  return ListTarShards(dir);
}

double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void WarmPageCache(const std::vector<std::string>& paths) {
  for (const auto& p : paths) (void)ReadFileSync(p);
}

}  // namespace millrace::io::bench
