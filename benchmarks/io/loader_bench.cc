// Loader throughput of io/ beside a plain sequential read of the same files from the page cache,
// in the same run: IDX (Fashion-MNIST train, gzip), the JPEG image tree and JPEG tar shards
// written from it by the converter. Each loader benchmark also runs its plain loop alternately
// with the loader and reports vs_plain (plain wall time / loader wall time) from those pairs.
//
//   build/benchmarks/io_loader_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "bench_data.h"
#include "io/idx.h"
#include "io/image_folder.h"
#include "io/sampler.h"
#include "io/tar_shards.h"

namespace millrace::io::bench {
namespace {

const std::string kImages = std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz";
const std::string kLabels = std::string(kFashionMnistDir) + "/train-labels-idx1-ubyte.gz";

ReadBackend Backend(const benchmark::State& state) {
  return state.range(0) == 0 ? ReadBackend::kIoUring : ReadBackend::kPread;
}

// A plain loop: open, read(2) into one reused buffer, close. Returns the bytes read.
uint64_t PlainRead(const std::string& path, std::vector<uint8_t>& buffer) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) std::abort();
  uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n <= 0) break;
    total += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return total;
}

// MB/s and samples/s (wall clock), and the process's CPU time per sample (all threads).
void Rates(benchmark::State& state, uint64_t bytes, int64_t samples, double cpu_start) {
  state.counters["cpu_us/sample"] =
      (ProcessCpuSeconds() - cpu_start) * 1e6 /
      (static_cast<double>(samples) * static_cast<double>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(samples) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// Runs `loader` and `plain` alternately, timing each (wall clock; process CPU for the loader),
// with the benchmark's timer paused over `plain`. Reports the loader's rates and
// vs_plain = plain wall time / loader wall time over the same iterations: alternating puts
// both under the same load on a shared machine, which separate benchmarks a few seconds apart
// are not.
template <typename Loader, typename Plain>
void Alternate(benchmark::State& state, uint64_t bytes, int64_t samples, Loader&& loader,
               Plain&& plain) {
  using Clock = std::chrono::steady_clock;
  double loader_wall = 0, plain_wall = 0, loader_cpu = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    const double c0 = ProcessCpuSeconds();
    loader();
    loader_cpu += ProcessCpuSeconds() - c0;
    loader_wall += std::chrono::duration<double>(Clock::now() - t0).count();
    state.PauseTiming();
    const auto t1 = Clock::now();
    plain();
    plain_wall += std::chrono::duration<double>(Clock::now() - t1).count();
    state.ResumeTiming();
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["cpu_us/sample"] = loader_cpu * 1e6 / (static_cast<double>(samples) * n);
  state.counters["vs_plain"] = loader_wall > 0 ? plain_wall / loader_wall : 0;
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(samples) * n, benchmark::Counter::kIsRate);
}

// ---- IDX --------------------------------------------------------------------------------------

void BM_IdxPlainRead(benchmark::State& state) {
  std::vector<uint8_t> buffer(1 << 20);
  uint64_t bytes = 0;
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) bytes = PlainRead(kImages, buffer) + PlainRead(kLabels, buffer);
  Rates(state, bytes, 60000, cpu_start);
}

// The plain way to load IDX: zlib's gzread, sequentially, into one buffer per file.
void PlainGunzip(std::vector<uint8_t>& out) {
  for (const auto& path : {kImages, kLabels}) {
    gzFile f = gzopen(path.c_str(), "rb");
    gzbuffer(f, 1 << 20);
    int n = 0;
    size_t at = 0;
    while ((n = gzread(f, out.data() + at, 1 << 20)) > 0) at += static_cast<size_t>(n);
    gzclose(f);
    benchmark::DoNotOptimize(out.data());
  }
}

uint64_t IdxBytes() {
  return std::filesystem::file_size(kImages) + std::filesystem::file_size(kLabels);
}

void BM_IdxPlainReadGunzip(benchmark::State& state) {
  std::vector<uint8_t> out(48 << 20);
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) PlainGunzip(out);
  Rates(state, IdxBytes(), 60000, cpu_start);
}

// vs_plain: against PlainGunzip.
void BM_IdxLoad(benchmark::State& state) {
  AsyncReader reader({.backend = Backend(state)});
  std::vector<uint8_t> out(48 << 20);
  Alternate(
      state, IdxBytes(), 60000,
      [&] {
        IdxDataset ds = IdxDataset::Load(kImages, kLabels, {.reader = &reader});
        benchmark::DoNotOptimize(ds.size());
      },
      [&] { PlainGunzip(out); });
}

// ---- image tree -------------------------------------------------------------------------------

const ImageFolderDataset& Tree() {
  static ImageFolderDataset tree(JpegTree());
  return tree;
}

std::vector<int64_t> Order() { return Permutation(Tree().size(), 1, 0); }

uint64_t TreeBytes() {
  uint64_t bytes = 0;
  for (int64_t i = 0; i < Tree().size(); ++i) bytes += Tree().file(i).bytes;
  return bytes;
}

// Open, read, close each file in `order`, one thread.
void PlainTreeRead(const std::vector<int64_t>& order, std::vector<uint8_t>& buffer) {
  uint64_t bytes = 0;
  for (int64_t i : order) bytes += PlainRead(Tree().file(i).path, buffer);
  benchmark::DoNotOptimize(bytes);
}

void BM_TreePlainRead(benchmark::State& state) {
  const auto order = Order();
  std::vector<uint8_t> buffer(1 << 16);
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) PlainTreeRead(order, buffer);
  Rates(state, TreeBytes(), Tree().size(), cpu_start);
}

// vs_plain: against PlainTreeRead of the same order.
void BM_TreeStream(benchmark::State& state) {
  const auto order = Order();
  AsyncReader reader({.backend = Backend(state)});
  std::vector<uint8_t> buffer(1 << 16);
  Alternate(
      state, TreeBytes(), Tree().size(),
      [&] {
        ImageFolderStream stream(Tree(), order, reader,
                                 {.prefetch_depth = static_cast<int>(state.range(1)),
                                  .group_files = static_cast<int>(state.range(2))});
        uint64_t bytes = 0;
        while (auto record = stream.Next()) bytes += record->bytes.size();
        benchmark::DoNotOptimize(bytes);
      },
      [&] { PlainTreeRead(order, buffer); });
}

// ---- tar shards -------------------------------------------------------------------------------

const std::vector<std::string>& Shards() {
  static std::vector<std::string> shards = TarShards();
  return shards;
}

uint64_t PlainTarRead(std::vector<uint8_t>& buffer) {
  uint64_t bytes = 0;
  for (const auto& s : Shards()) bytes += PlainRead(s, buffer);
  return bytes;
}

void BM_TarPlainRead(benchmark::State& state) {
  std::vector<uint8_t> buffer(1 << 20);
  uint64_t bytes = 0;
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) bytes = PlainTarRead(buffer);
  Rates(state, bytes, 60000, cpu_start);
}

// The floor of the tar stream's CPU: libarchive parsing one shard already in memory into
// records, one thread, no reads, no hand-offs, no shuffle.
void BM_TarParseInMemory(benchmark::State& state) {
  const Bytes shard = ReadFileSync(Shards()[0]);
  int64_t samples = 0;
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    samples = static_cast<int64_t>(ParseTarShard(shard, Shards()[0], 0).size());
    benchmark::DoNotOptimize(samples);
  }
  Rates(state, shard.size(), samples, cpu_start);
}

// vs_plain: against PlainTarRead.
void BM_TarStream(benchmark::State& state) {
  AsyncReader reader({.backend = Backend(state)});
  std::vector<uint8_t> buffer(1 << 20);
  const uint64_t bytes = PlainTarRead(buffer);
  Alternate(
      state, bytes, 60000,
      [&] {
        TarShardStream stream(Shards(), reader,
                              {.seed = 1,
                               .epoch = 0,
                               .shuffle_buffer = 1000,
                               .shards_in_flight = static_cast<int>(state.range(1))});
        int64_t samples = 0;
        while (auto record = stream.Next()) ++samples;
        if (samples != 60000) state.SkipWithError("the stream lost samples");
      },
      [&] { PlainTarRead(buffer); });
}

void Setup(const benchmark::State&) {
  static bool done = [] {
    std::vector<std::string> paths = Shards();
    for (int64_t i = 0; i < Tree().size(); ++i) paths.push_back(Tree().file(i).path);
    paths.push_back(kImages);
    paths.push_back(kLabels);
    WarmPageCache(paths);
    return true;
  }();
  (void)done;
}

// First arg 0: io_uring, 1: the pread pool (2 threads). Tree: prefetch depth, files per read
// group. Tar: shards in flight (each parsed on its own io thread).
BENCHMARK(BM_IdxPlainRead)->Setup(Setup)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_IdxPlainReadGunzip)->Setup(Setup)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_IdxLoad)->Setup(Setup)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TreePlainRead)->Setup(Setup)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TreeStream)
    ->Setup(Setup)
    ->Args({0, 64, 16})
    ->Args({0, 64, 32})
    ->Args({0, 256, 64})
    ->Args({1, 64, 16})
    ->Args({1, 64, 32})
    ->Args({1, 256, 64})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_TarPlainRead)->Setup(Setup)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TarParseInMemory)->Setup(Setup)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TarStream)
    ->Setup(Setup)
    ->Args({0, 2})
    ->Args({1, 1})
    ->Args({1, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace millrace::io::bench

BENCHMARK_MAIN();
