// Decode + augment (random crop with 4 pixels of padding, random flip) + collate of the JPEG
// image tree (Fashion-MNIST train, written by the converter), on 2 cores with oneTBB, beside the
// same files read and decoded in a plain loop on one thread, in the same run.
//
//   build-io/benchmarks/io_preprocess_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include "bench_data.h"
#include "io/augment.h"
#include "io/collate.h"
#include "io/image_folder.h"
#include "io/sampler.h"

namespace millrace::io::bench {
namespace {

constexpr int64_t kBatch = 256;
constexpr int kCores = 2;
const AugmentOptions kAugment{.seed = 7, .crop_padding = 4, .random_flip = true};

const ImageFolderDataset& Tree() {
  static ImageFolderDataset tree(JpegTree());
  return tree;
}

// open + read(2) + close of one whole file.
Bytes PlainRead(const ImageFolderDataset::File& f) {
  Bytes bytes(f.bytes);
  const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::read(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
    std::abort();
  ::close(fd);
  return bytes;
}

// samples/s (wall clock), and the process's CPU time per sample (all threads).
void Rate(benchmark::State& state, int64_t samples, double cpu_start) {
  state.counters["cpu_us/sample"] =
      (ProcessCpuSeconds() - cpu_start) * 1e6 /
      (static_cast<double>(samples) * static_cast<double>(state.iterations()));
  state.counters["samples/s"] =
      benchmark::Counter(static_cast<double>(samples) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// The baseline: one thread, read and decode each file, nothing else.
void BM_PlainReadDecode(benchmark::State& state) {
  const auto order = Permutation(Tree().size(), 1, 0);
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    int64_t pixels = 0;
    for (int64_t i : order) pixels += DecodeImage(PlainRead(Tree().file(i)), "").numel();
    benchmark::DoNotOptimize(pixels);
  }
  Rate(state, Tree().size(), cpu_start);
}

// The whole job on one thread: read, decode, crop + flip, collate into batches of 256.
void BM_OneThreadReadDecodeAugmentCollate(benchmark::State& state) {
  const auto order = Permutation(Tree().size(), 1, 0);
  tbb::task_arena arena(1);
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    arena.execute([&] {
      std::vector<Sample> samples;
      for (size_t begin = 0; begin < order.size(); begin += kBatch) {
        const size_t end = std::min(order.size(), begin + kBatch);
        samples.clear();
        for (size_t k = begin; k < end; ++k) {
          const auto& f = Tree().file(order[k]);
          Sample s{DecodeImage(PlainRead(f), f.path), f.label, order[k]};
          samples.push_back(Augment(std::move(s), kAugment, 0));
        }
        Batch batch = Collate(samples, {.normalize = FashionMnistNormalization()});
        benchmark::DoNotOptimize(batch.images.raw_data());
      }
    });
  }
  Rate(state, Tree().size(), cpu_start);
}

// io: an ImageFolderStream reads ahead on the AsyncReader (arg 0: io_uring, 1: pread pool);
// cpu: a task_arena of 2 decodes and augments each batch with parallel_for, then collates.
void BM_StreamDecodeAugmentCollate(benchmark::State& state) {
  const auto order = Permutation(Tree().size(), 1, 0);
  AsyncReader reader({.backend = state.range(0) == 0 ? ReadBackend::kIoUring : ReadBackend::kPread,
                      .pread_threads = 1});
  tbb::task_arena arena(kCores);
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    ImageFolderStream stream(Tree(), order, reader, {.prefetch_depth = 2 * kBatch});
    std::vector<EncodedRecord> records;
    std::vector<Sample> samples(kBatch);
    for (;;) {
      records.clear();
      while (static_cast<int64_t>(records.size()) < kBatch) {
        auto r = stream.Next();
        if (!r) break;
        records.push_back(std::move(*r));
      }
      if (records.empty()) break;
      samples.resize(records.size());
      arena.execute([&] {
        tbb::parallel_for(tbb::blocked_range<size_t>(0, records.size(), 16),
                          [&](const tbb::blocked_range<size_t>& r) {
                            for (size_t k = r.begin(); k < r.end(); ++k)
                              samples[k] = Augment(*DecodeRecord(records[k], {}), kAugment, 0);
                          });
        Batch batch = Collate(samples, {.normalize = FashionMnistNormalization()});
        benchmark::DoNotOptimize(batch.images.raw_data());
      });
    }
  }
  Rate(state, Tree().size(), cpu_start);
}

// cpu only: a task_arena of 2 where each task reads (pread), decodes and augments, then collates.
void BM_ParallelReadDecodeAugmentCollate(benchmark::State& state) {
  const auto order = Permutation(Tree().size(), 1, 0);
  tbb::task_arena arena(kCores);
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    arena.execute([&] {
      std::vector<Sample> samples;
      for (size_t begin = 0; begin < order.size(); begin += kBatch) {
        const size_t end = std::min(order.size(), begin + kBatch);
        samples.resize(end - begin);
        tbb::parallel_for(tbb::blocked_range<size_t>(begin, end, 16),
                          [&](const tbb::blocked_range<size_t>& r) {
                            for (size_t k = r.begin(); k < r.end(); ++k) {
                              const auto& f = Tree().file(order[k]);
                              Sample s{DecodeImage(PlainRead(f), f.path), f.label, order[k]};
                              samples[k - begin] = Augment(std::move(s), kAugment, 0);
                            }
                          });
        Batch batch = Collate(samples, {.normalize = FashionMnistNormalization()});
        benchmark::DoNotOptimize(batch.images.raw_data());
      }
    });
  }
  Rate(state, Tree().size(), cpu_start);
}

void Setup(const benchmark::State&) {
  static bool done = [] {
    std::vector<std::string> paths;
    for (int64_t i = 0; i < Tree().size(); ++i) paths.push_back(Tree().file(i).path);
    WarmPageCache(paths);
    return true;
  }();
  (void)done;
}

BENCHMARK(BM_PlainReadDecode)->Setup(Setup)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OneThreadReadDecodeAugmentCollate)
    ->Setup(Setup)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_StreamDecodeAugmentCollate)
    ->Setup(Setup)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ParallelReadDecodeAugmentCollate)
    ->Setup(Setup)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace millrace::io::bench

BENCHMARK_MAIN();
