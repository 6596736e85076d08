// AsyncReader: reads byte ranges of files asynchronously. On Linux it uses Boost.Asio's
// random_access_file on io_uring; where the kernel (or a seccomp policy) refuses io_uring at run
// time, a pool of threads doing pread(2) takes over, and says so once on stderr.
//
//   AsyncReader reader;                                      // io_uring where it works
//   std::future<Bytes> f = reader.Read({"train.gz"});         // the whole file
//   Bytes bytes = f.get();                                    // throws Error(kIo) on failure
//
// Prefetch (several reads in flight, handed back in order) is built on top of this by
// Prefetcher (io/prefetcher.h) and by the dataset readers.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"

namespace millrace::io {

using Bytes = std::vector<uint8_t>;

// Bytes [offset, offset + size) of `path`. size == kWholeFile reads from offset to the end.
struct FileRange {
  static constexpr uint64_t kWholeFile = ~uint64_t{0};
  std::string path;
  uint64_t offset = 0;
  uint64_t size = kWholeFile;
};

enum class ReadBackend {
  kAuto,     // io_uring, or the pread pool where io_uring is refused (said once on stderr)
  kIoUring,  // io_uring or an Error(kIo) at construction
  kPread,    // always the pread pool (also chosen by the environment: MILLRACE_IO_URING=0)
};

struct AsyncReaderOptions {
  ReadBackend backend = ReadBackend::kAuto;
  // Threads of the pread pool (the io_uring path uses one thread that only submits and reaps).
  int pread_threads = 2;
};

class AsyncReader {
 public:
  explicit AsyncReader(AsyncReaderOptions options = {});
  // Waits for the reads in flight to finish (their futures stay valid), then joins its threads.
  ~AsyncReader();
  AsyncReader(const AsyncReader&) = delete;
  AsyncReader& operator=(const AsyncReader&) = delete;

  // Starts reading `range` and returns at once. The future yields exactly the bytes asked for,
  // or throws Error(kIo) naming the file (missing file, short file, read error).
  // Thread-safe: any thread may call Read at any time.
  std::future<Bytes> Read(FileRange range);
  // Starts several reads with one hand-off to the io thread (cheaper than one Read each).
  // The futures follow the order of `ranges`. Thread-safe.
  std::vector<std::future<Bytes>> ReadBatch(std::vector<FileRange> ranges);

  // Whether reads go through io_uring (false: the pread pool).
  bool uses_io_uring() const noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a whole file on the calling thread with plain read(2) calls (for small files, tests and
// baselines). Throws Error(kIo) naming the file.
Bytes ReadFileSync(const std::string& path);

}  // namespace millrace::io
