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
#include <exception>
#include <future>
#include <memory>
#include <span>
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

// One range's outcome in a ReadGroup: its bytes, or the Error(kIo) that reading it raised.
struct RangeResult {
  Bytes bytes;
  std::exception_ptr error;
  // The bytes, or rethrows the error.
  Bytes Take();
};

enum class ReadBackend {
  kAuto,     // io_uring, or the pread pool where io_uring is refused (said once on stderr)
  kIoUring,  // io_uring or an Error(kIo) at construction
  kPread,    // always the pread pool (kAuto picks it too where MILLRACE_IO_URING=0)
};

struct AsyncReaderOptions {
  ReadBackend backend = ReadBackend::kAuto;
  // Threads of the pread pool (the io_uring path uses one thread that only submits and reaps,
  // plus a pool of this size for ReadGroup once it is called).
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

  // Reads `range` into `into` (range.size bytes, not kWholeFile; the buffer must stay valid
  // until the future is ready). No allocation per read: a caller cycles a few buffers through a
  // large file's chunks. The future throws Error(kIo) as Read's does. Thread-safe.
  std::future<void> ReadInto(FileRange range, std::span<uint8_t> into);

  // Reads several ranges as one job: one hand-off to an io thread and one future for the lot,
  // which is much cheaper per range than Read or ReadBatch where the ranges are small files.
  // The job reads with pread(2) on a pool thread on either backend (the io_uring backend
  // starts a pool of pread_threads for groups on first use): for small files io_uring saves
  // nothing, as the open costs more than the read.
  // A range that can't be read doesn't fail the others: its result holds the error. Results
  // follow the order of `ranges`. Thread-safe.
  //
  //   auto group = reader.ReadGroup({{"a.jpg"}, {"b.jpg"}});
  //   for (RangeResult& r : group.get()) Use(r.Take());   // Take throws Error(kIo) for a bad one
  std::future<std::vector<RangeResult>> ReadGroup(std::vector<FileRange> ranges);

  // Whether reads go through io_uring (false: the pread pool).
  bool uses_io_uring() const noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a whole file on the calling thread with plain read(2) calls (for small files, tests and
// baselines). Throws Error(kIo) naming the file.
Bytes ReadFileSync(const std::string& path);
// Reads `range` the same way (the plain sequential read that the asynchronous one is tested
// against). Throws Error(kIo) naming the file for a missing, short or unreadable file.
Bytes ReadRangeSync(const FileRange& range);

}  // namespace millrace::io
