// Decode + augment (random crop with 4 pixels of padding, random flip) + collate of the JPEG
// image tree (Fashion-MNIST train, written by the converter), on 2 cores with oneTBB, beside the
// same files read and decoded in a plain loop on one thread, in the same run. Two rows give this
// machine's ceilings on one thread: open + read(2) + close alone, and a bare tjDecompress2 of the
// files already in memory.
//
//   build/benchmarks/io_preprocess_bench --benchmark_repetitions=3
//   --benchmark_report_aggregates_only=true --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>

#include "bench_data.h"
#include "io/augment.h"
#include "io/collate.h"
#include "io/image_codec.h"
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

// open + read(2) + close of one whole file into `bytes` (reused: no allocation once it is big
// enough). Returns the bytes read.
std::span<const uint8_t> ReadInto(const ImageFolderDataset::File& f, Bytes& bytes) {
  if (bytes.size() < static_cast<size_t>(f.bytes)) bytes.resize(static_cast<size_t>(f.bytes));
  const int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 ||
      ::read(fd, bytes.data(), static_cast<size_t>(f.bytes)) != static_cast<ssize_t>(f.bytes))
    std::abort();
  ::close(fd);
  return {bytes.data(), static_cast<size_t>(f.bytes)};
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

// Ceiling of the reads: open + read + close of each file into one buffer, one thread.
void BM_ReadOnly(benchmark::State& state) {
  const auto order = Permutation(Tree().size(), 1, 0);
  Bytes buffer;
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    int64_t bytes = 0;
    for (int64_t i : order) bytes += static_cast<int64_t>(ReadInto(Tree().file(i), buffer).size());
    benchmark::DoNotOptimize(bytes);
  }
  Rate(state, Tree().size(), cpu_start);
}

// Ceiling of the decodes: libjpeg-turbo alone, tjDecompress2 of every file already in memory into
// one 28x28 buffer, one handle, one thread (arg: 0 exact DCT, 1 TJFLAG_FASTDCT).
void BM_BareTjDecompress(benchmark::State& state) {
  static const std::vector<Bytes> files = [] {
    std::vector<Bytes> all;
    Bytes buffer;
    for (int64_t i = 0; i < Tree().size(); ++i) {
      auto bytes = ReadInto(Tree().file(i), buffer);
      all.emplace_back(bytes.begin(), bytes.end());
    }
    return all;
  }();
  const auto order = Permutation(Tree().size(), 1, 0);
  std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), tjDestroy);
  const int flags =
      TJFLAG_STOPONWARNING | TJFLAG_NOREALLOC | (state.range(0) == 1 ? TJFLAG_FASTDCT : 0);
  uint8_t pixels[28 * 28];
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    for (int64_t i : order) {
      const Bytes& f = files[static_cast<size_t>(i)];
      if (tjDecompress2(tj.get(), f.data(), static_cast<unsigned long>(f.size()), pixels, 28, 0, 28,
                        TJPF_GRAY, flags) != 0)
        std::abort();
      benchmark::DoNotOptimize(pixels);
    }
  }
  Rate(state, Tree().size(), cpu_start);
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
        CollatedBatch batch = Collate(samples, {.normalize = FashionMnistNormalization()});
        benchmark::DoNotOptimize(batch.images.raw_data());
      }
    });
  }
  Rate(state, Tree().size(), cpu_start);
}

// The same job on one thread, fused: each file read into one reused buffer, decoded into one
// reused image (DecodeImageInto), cropped + flipped + normalised straight into its batch slot
// (BatchBuilder): no allocation per sample.
void BM_OneThreadFused(benchmark::State& state) {
  const auto order = Permutation(Tree().size(), 1, 0);
  const CollateOptions collate{.normalize = FashionMnistNormalization()};
  Bytes buffer;
  Tensor image;
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    for (size_t begin = 0; begin < order.size(); begin += kBatch) {
      const size_t end = std::min(order.size(), begin + kBatch);
      BatchBuilder builder(static_cast<int64_t>(end - begin), {1, 28, 28}, collate, kAugment, 0);
      for (size_t k = begin; k < end; ++k) {
        const auto& f = Tree().file(order[k]);
        DecodeImageInto(ReadInto(f, buffer), f.path, image);
        builder.Set(static_cast<int64_t>(k - begin), image, f.label, order[k]);
      }
      CollatedBatch batch = builder.Finish();
      benchmark::DoNotOptimize(batch.images.raw_data());
    }
  }
  Rate(state, Tree().size(), cpu_start);
}

// io: an ImageFolderStream reads ahead on the AsyncReader (arg 0: io_uring, 1: pread pool);
// cpu: a task_arena of 2 decodes each batch's records with parallel_for straight into their
// slots of the batch (DecodeImageInto + BatchBuilder, fused crop + flip + normalize).
void BM_StreamDecodeAugmentCollate(benchmark::State& state) {
  const auto order = Permutation(Tree().size(), 1, 0);
  const CollateOptions collate{.normalize = FashionMnistNormalization()};
  AsyncReader reader({.backend = state.range(0) == 0 ? ReadBackend::kIoUring : ReadBackend::kPread,
                      .pread_threads = 1});
  tbb::task_arena arena(kCores);
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) {
    ImageFolderStream stream(Tree(), order, reader, {.prefetch_depth = 2 * kBatch});
    std::vector<EncodedRecord> records;
    for (;;) {
      records.clear();
      while (static_cast<int64_t>(records.size()) < kBatch) {
        auto r = stream.Next();
        if (!r) break;
        records.push_back(std::move(*r));
      }
      if (records.empty()) break;
      arena.execute([&] {
        BatchBuilder builder(static_cast<int64_t>(records.size()), {1, 28, 28}, collate, kAugment,
                             0);
        tbb::parallel_for(
            tbb::blocked_range<size_t>(0, records.size(), 4),
            [&](const tbb::blocked_range<size_t>& r) {
              thread_local Tensor image;
              for (size_t k = r.begin(); k < r.end(); ++k) {
                const EncodedRecord& record = records[k];
                DecodeImageInto(record.bytes, record.source, image);
                builder.Set(static_cast<int64_t>(k), image, record.label, record.index);
              }
            },
            tbb::simple_partitioner());
        CollatedBatch batch = builder.Finish();
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
        CollatedBatch batch = Collate(samples, {.normalize = FashionMnistNormalization()});
        benchmark::DoNotOptimize(batch.images.raw_data());
      }
    });
  }
  Rate(state, Tree().size(), cpu_start);
}

// Wall-clock nanoseconds the threads spent inside the fused job's tasks (reading, decoding,
// writing), against which the 2-thread rows report "busy": the share of 2 threads x wall time
// spent working. What is missing to 1 are the idle gaps (waiting at the end of a batch, starting
// tasks, and, on a loaded machine, being descheduled between tasks).
std::atomic<int64_t> g_busy_ns{0};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// One batch of the fused job: samples order[begin, end) read, decoded and written straight into
// their slots by a parallel_for (simple_partitioner, `grain` samples a task) in the calling
// thread's arena; no second pass to collate.
CollatedBatch FusedBatch(const std::vector<int64_t>& order, size_t begin, size_t end, size_t grain) {
  BatchBuilder builder(static_cast<int64_t>(end - begin), {1, 28, 28},
                       {.normalize = FashionMnistNormalization()}, kAugment, 0);
  tbb::parallel_for(
      tbb::blocked_range<size_t>(begin, end, grain),
      [&](const tbb::blocked_range<size_t>& r) {
        const int64_t start = NowNs();
        thread_local Bytes buffer;
        thread_local Tensor image;
        for (size_t k = r.begin(); k < r.end(); ++k) {
          const auto& f = Tree().file(order[k]);
          DecodeImageInto(ReadInto(f, buffer), f.path, image);
          builder.Set(static_cast<int64_t>(k - begin), image, f.label, order[k]);
        }
        g_busy_ns.fetch_add(NowNs() - start, std::memory_order_relaxed);
      },
      tbb::simple_partitioner());
  return builder.Finish();
}

// Sets the "busy" counter of a 2-thread row from g_busy_ns and the loop's wall time.
void Busy(benchmark::State& state, int64_t wall_start_ns) {
  state.counters["busy"] =
      static_cast<double>(g_busy_ns.load()) /
      (static_cast<double>(kCores) * static_cast<double>(NowNs() - wall_start_ns));
}

// Runs `epoch(order, grain)` once per iteration in a task_arena of the 2 cores (the calling
// thread and one worker), order a fixed permutation of the tree and grain the row's first
// argument, and reports the rate and the "busy" share of the fused job's tasks.
template <class Epoch>
void FusedRow(benchmark::State& state, Epoch epoch) {
  const auto order = Permutation(Tree().size(), 1, 0);
  const size_t grain = static_cast<size_t>(state.range(0));
  tbb::task_arena arena(kCores);
  g_busy_ns = 0;
  const int64_t wall_start = NowNs();
  const double cpu_start = ProcessCpuSeconds();
  for (auto _ : state) arena.execute([&] { epoch(order, grain); });
  Busy(state, wall_start);
  Rate(state, Tree().size(), cpu_start);
}

// The fused job on 2 cores, one batch at a time (arg: grain size): both threads meet at the end
// of every batch.
void BM_ParallelFused(benchmark::State& state) {
  FusedRow(state, [](const std::vector<int64_t>& order, size_t grain) {
    for (size_t begin = 0; begin < order.size(); begin += kBatch) {
      CollatedBatch batch = FusedBatch(order, begin, std::min(order.size(), begin + kBatch), grain);
      benchmark::DoNotOptimize(batch.images.raw_data());
    }
  });
}

// The same with up to N batches in flight (parallel_pipeline: batch numbers in order, batches
// filled in parallel, handed out in order): a thread done with its part of one batch takes work
// from the next instead of waiting for the other thread (args: grain size, batches in flight).
void BM_ParallelFusedPipelined(benchmark::State& state) {
  const size_t in_flight = static_cast<size_t>(state.range(1));
  FusedRow(state, [in_flight](const std::vector<int64_t>& order, size_t grain) {
    size_t next = 0;
    auto batch_starts = [&](tbb::flow_control& fc) -> size_t {
      if (next >= order.size()) fc.stop();
      const size_t begin = next;
      next += kBatch;
      return begin;
    };
    auto fill = [&](size_t begin) {
      return FusedBatch(order, begin, std::min(order.size(), begin + kBatch), grain);
    };
    auto consume = [](CollatedBatch batch) { benchmark::DoNotOptimize(batch.images.raw_data()); };
    tbb::parallel_pipeline(
        in_flight, tbb::make_filter<void, size_t>(tbb::filter_mode::serial_in_order, batch_starts) &
                       tbb::make_filter<size_t, CollatedBatch>(tbb::filter_mode::parallel, fill) &
                       tbb::make_filter<CollatedBatch, void>(tbb::filter_mode::serial_in_order, consume));
  });
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

BENCHMARK(BM_ReadOnly)->Setup(Setup)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BareTjDecompress)
    ->Setup(Setup)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_PlainReadDecode)->Setup(Setup)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_OneThreadReadDecodeAugmentCollate)
    ->Setup(Setup)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_OneThreadFused)->Setup(Setup)->Unit(benchmark::kMillisecond)->UseRealTime();
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
BENCHMARK(BM_ParallelFused)
    ->Setup(Setup)
    ->Arg(4)
    ->Arg(16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ParallelFusedPipelined)
    ->Setup(Setup)
    ->Args({4, 2})
    ->Args({4, 3})
    ->Args({4, 6})
    ->Args({16, 3})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace millrace::io::bench

BENCHMARK_MAIN();
