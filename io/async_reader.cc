// The one place in millrace that sets up io_uring (through Boost.Asio) and its pread fallback.
#include "io/async_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/random_access_file.hpp>
#include <boost/asio/read_at.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>

#include "core/error.h"

namespace millrace::io {
namespace asio = boost::asio;

namespace {

Error IoError(const std::string& path, const std::string& what) {
  return Error(ErrorKind::kIo, what).WithFile(path);
}

std::exception_ptr IoErrorPtr(const std::string& path, const std::string& what) {
  return std::make_exception_ptr(IoError(path, what));
}

bool EnvForcesPread() {
  const char* v = std::getenv("MILLRACE_IO_URING");
  return v != nullptr && (std::string_view(v) == "0" || std::string_view(v) == "off");
}

void SayFallbackOnce(const std::string& why) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::cerr << "millrace io: io_uring unavailable (" << why
              << "); reading files with a pread thread pool\n";
  });
}

// Reads [offset, offset + size) of the open file `fd` into `into`.
void PreadAll(int fd, const FileRange& range, uint64_t size, uint8_t* into) {
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, into + done, size - done, range.offset + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(range.path, std::string("read failed: ") + std::strerror(errno));
    }
    if (n == 0) {
      throw IoError(range.path, "file ends after " + std::to_string(range.offset + done) +
                                    " bytes, " + std::to_string(range.offset + size) + " expected");
    }
    done += static_cast<uint64_t>(n);
  }
}

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

int OpenForRead(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(path, std::string("cannot open: ") + std::strerror(errno));
  return fd;
}

// A read on the calling thread: open, fstat when the size is open-ended, pread until done.
Bytes PreadRange(const FileRange& range) {
  const int fd = OpenForRead(range.path);
  FdCloser closer{fd};
  uint64_t size = range.size;
  if (size == FileRange::kWholeFile) {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw IoError(range.path, std::strerror(errno));
    if (static_cast<uint64_t>(st.st_size) < range.offset)
      throw IoError(range.path, "offset " + std::to_string(range.offset) + " past the end");
    size = static_cast<uint64_t>(st.st_size) - range.offset;
  }
  Bytes bytes(size);
  PreadAll(fd, range, size, bytes.data());
  return bytes;
}

// The same into the caller's buffer (range.size bytes).
void PreadRangeInto(const FileRange& range, uint8_t* into) {
  const int fd = OpenForRead(range.path);
  FdCloser closer{fd};
  PreadAll(fd, range, range.size, into);
}

}  // namespace

class AsyncReader::Impl {
 public:
  explicit Impl(AsyncReaderOptions options)
      : pread_threads_(static_cast<size_t>(std::max(1, options.pread_threads))) {
    // The environment picks for kAuto only: an explicit kIoUring is a demand.
    const bool want_uring = options.backend == ReadBackend::kIoUring ||
                            (options.backend == ReadBackend::kAuto && !EnvForcesPread());
    if (want_uring) {
      std::string why;
      if (ProbeIoUring(&why)) {
        StartIoUring();
        return;
      }
      if (options.backend == ReadBackend::kIoUring)
        MILLRACE_THROW(ErrorKind::kIo, "io_uring was asked for but is unavailable: " << why);
      SayFallbackOnce(why);
    }
    pool_.emplace(pread_threads_);
  }

  ~Impl() {
    if (uring_thread_.joinable()) {
      work_.reset();  // run() returns once the reads in flight have completed
      uring_thread_.join();
    }
    if (pool_) pool_->join();
    if (group_pool_) group_pool_->join();
  }

  bool uses_io_uring() const noexcept { return uring_thread_.joinable(); }

  std::vector<std::future<Bytes>> ReadBatch(std::vector<FileRange> ranges) {
    std::vector<std::future<Bytes>> futures;
    futures.reserve(ranges.size());
    if (pool_) {
      for (auto& r : ranges) futures.push_back(Read(std::move(r)));
      return futures;
    }
    auto batch = std::make_shared<std::vector<Request>>();
    batch->reserve(ranges.size());
    for (auto& r : ranges) {
      auto promise = std::make_shared<std::promise<Bytes>>();
      futures.push_back(promise->get_future());
      batch->push_back({std::move(r), nullptr, Fulfil(std::move(promise))});
    }
    asio::post(ctx_, [this, batch] {
      for (auto& request : *batch) Submit(std::move(request));
    });
    return futures;
  }

  std::future<Bytes> Read(FileRange range) {
    auto promise = std::make_shared<std::promise<Bytes>>();
    std::future<Bytes> future = promise->get_future();
    if (pool_) {
      asio::post(*pool_, [range = std::move(range), promise]() mutable {
        try {
          promise->set_value(PreadRange(range));
        } catch (...) {
          promise->set_exception(std::current_exception());
        }
      });
    } else {
      asio::post(ctx_, [this, range = std::move(range), promise]() mutable {
        Submit({std::move(range), nullptr, Fulfil(std::move(promise))});
      });
    }
    return future;
  }

  std::future<void> ReadInto(FileRange range, std::span<uint8_t> into) {
    MILLRACE_CHECK_ARG(
        range.size != FileRange::kWholeFile && range.size <= into.size(),
        "ReadInto needs a range size that fits the buffer (" << into.size() << " bytes)");
    auto promise = std::make_shared<std::promise<void>>();
    std::future<void> future = promise->get_future();
    if (pool_) {
      asio::post(*pool_, [range = std::move(range), into = into.data(), promise] {
        try {
          PreadRangeInto(range, into);
          promise->set_value();
        } catch (...) {
          promise->set_exception(std::current_exception());
        }
      });
      return future;
    }
    asio::post(ctx_, [this, range = std::move(range), into = into.data(), promise]() mutable {
      Submit({std::move(range), into, [promise](Bytes&&, std::exception_ptr error) {
                if (error) {
                  promise->set_exception(std::move(error));
                } else {
                  promise->set_value();
                }
              }});
    });
    return future;
  }

  std::future<std::vector<RangeResult>> ReadGroup(std::vector<FileRange> ranges) {
    struct Group {
      std::vector<FileRange> ranges;
      std::vector<RangeResult> results;
      std::promise<std::vector<RangeResult>> promise;
    };
    auto group = std::make_shared<Group>();
    group->ranges = std::move(ranges);
    group->results.resize(group->ranges.size());
    auto future = group->promise.get_future();
    if (group->ranges.empty()) {
      group->promise.set_value({});
      return future;
    }
    // One task reads the whole group with pread, on a pool thread, whatever the backend: the
    // ranges a group is for are small files, where io_uring saves nothing (Asio has no async
    // open, and an open costs more than a 1 KB read from the page cache) and costs a file
    // object, a submission and a completion per file (measured: ~1.4x the CPU of a plain loop
    // with one io_uring read per file, ~1.1x with pread). The io_uring backend starts its pool
    // for groups on first use.
    auto read_all = [group] {
      for (size_t i = 0; i < group->ranges.size(); ++i) {
        try {
          group->results[i].bytes = PreadRange(group->ranges[i]);
        } catch (...) {
          group->results[i].error = std::current_exception();
        }
      }
      group->promise.set_value(std::move(group->results));
    };
    if (pool_) {
      asio::post(*pool_, std::move(read_all));
    } else {
      std::call_once(group_pool_once_, [this] { group_pool_.emplace(pread_threads_); });
      asio::post(*group_pool_, std::move(read_all));
    }
    return future;
  }

 private:
  // Opening a random_access_file creates Asio's io_uring service, which throws when
  // io_uring_queue_init is refused (old kernel, seccomp, io_uring_disabled sysctl).
  static bool ProbeIoUring(std::string* why) {
    try {
      asio::io_context probe_ctx;
      asio::random_access_file probe(probe_ctx);
      probe.open("/proc/self/exe", asio::random_access_file::read_only);
      char byte;
      probe.read_some_at(0, asio::buffer(&byte, 1));
      return true;
    } catch (const std::system_error& e) {
      *why = e.what();
      return false;
    }
  }

  void StartIoUring() {
    // Create the file service (and its ring) on this thread, so a failure surfaces here.
    { asio::random_access_file warm_up(ctx_); }
    work_.emplace(ctx_.get_executor());
    uring_thread_ = std::thread([this] { ctx_.run(); });
  }

  // Boost 1.81's io_uring service reaps at most 128 completions per wake-up of its
  // (edge-triggered) eventfd; with more reads in the ring, completions can sit unreaped while the
  // consumer waits for one of them. So at most kMaxInRing reads are in the ring; the others wait
  // here. Runs on the io thread only (no lock).
  static constexpr int kMaxInRing = 64;

  // What a finished read hands its bytes or its error to (called on the io thread).
  using Done = std::function<void(Bytes&&, std::exception_ptr)>;

  static Done Fulfil(std::shared_ptr<std::promise<Bytes>> promise) {
    return [promise = std::move(promise)](Bytes&& bytes, std::exception_ptr error) {
      if (error) {
        promise->set_exception(std::move(error));
      } else {
        promise->set_value(std::move(bytes));
      }
    };
  }

  // A read for the io thread: into `into` (range.size bytes, owned by the caller) when not
  // null, else into a new Bytes handed to `done`.
  struct Request {
    FileRange range;
    uint8_t* into = nullptr;
    Done done;
  };

  void Submit(Request request) {
    if (in_ring_ >= kMaxInRing) {
      waiting_.push_back(std::move(request));
      return;
    }
    ++in_ring_;
    if (!StartUringRead(std::move(request))) ReadDone();
  }

  // A read left the ring: start waiting ones.
  void ReadDone() {
    --in_ring_;
    while (in_ring_ < kMaxInRing && !waiting_.empty()) {
      Request request = std::move(waiting_.front());
      waiting_.pop_front();
      ++in_ring_;
      if (!StartUringRead(std::move(request))) --in_ring_;
    }
  }

  // Runs on the io thread: open (synchronous, as Asio has no async open), then one async read
  // that io_uring completes; the handler calls `done` and ReadDone. Returns false when `done`
  // was called at once (error, empty range) and no read entered the ring.
  bool StartUringRead(Request request) {
    FileRange& range = request.range;
    Done& done = request.done;
    try {
      // open(2) here and hand the descriptor to Asio: Asio's own open() adds a posix_fadvise
      // call per file, which costs as much as the read of a small file.
      const int fd = ::open(range.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw IoError(range.path, std::string("cannot open: ") + std::strerror(errno));
      auto file = std::make_shared<asio::random_access_file>(ctx_);
      boost::system::error_code ec;
      file->assign(fd, ec);
      if (ec) {
        ::close(fd);
        throw IoError(range.path, "cannot open: " + ec.message());
      }
      uint64_t size = range.size;
      if (size == FileRange::kWholeFile) {
        const uint64_t file_size = file->size();
        if (file_size < range.offset)
          throw IoError(range.path, "offset " + std::to_string(range.offset) + " past the end");
        size = file_size - range.offset;
      }
      if (size == 0) {
        done({}, nullptr);
        return false;
      }
      std::shared_ptr<Bytes> bytes;
      uint8_t* into = request.into;
      if (into == nullptr) {
        bytes = std::make_shared<Bytes>(size);
        into = bytes->data();
      }
      const uint64_t offset = range.offset;
      asio::async_read_at(
          *file, offset, asio::buffer(into, size),
          [this, file, bytes, size, done = std::move(done), range = std::move(range)](
              const boost::system::error_code& ec, size_t n) {
            if (ec == asio::error::eof || (!ec && n < size)) {
              done({},
                   IoErrorPtr(range.path, "file ends after " + std::to_string(range.offset + n) +
                                              " bytes, " + std::to_string(range.offset + size) +
                                              " expected"));
            } else if (ec) {
              done({}, IoErrorPtr(range.path, "read failed: " + ec.message()));
            } else {
              done(bytes ? std::move(*bytes) : Bytes(), nullptr);
            }
            ReadDone();
          });
      return true;
    } catch (const Error&) {
      done({}, std::current_exception());
    } catch (const std::exception& e) {
      done({}, IoErrorPtr(range.path, e.what()));
    }
    return false;
  }

  asio::io_context ctx_{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread uring_thread_;
  size_t pread_threads_;
  std::optional<asio::thread_pool> pool_;  // the pread backend
  std::once_flag group_pool_once_;
  std::optional<asio::thread_pool> group_pool_;  // ReadGroup on the io_uring backend
  int in_ring_ = 0;                              // io thread only
  std::deque<Request> waiting_;
};

AsyncReader::AsyncReader(AsyncReaderOptions options) : impl_(std::make_unique<Impl>(options)) {}
AsyncReader::~AsyncReader() = default;
std::future<Bytes> AsyncReader::Read(FileRange range) { return impl_->Read(std::move(range)); }
std::vector<std::future<Bytes>> AsyncReader::ReadBatch(std::vector<FileRange> ranges) {
  return impl_->ReadBatch(std::move(ranges));
}
std::future<void> AsyncReader::ReadInto(FileRange range, std::span<uint8_t> into) {
  return impl_->ReadInto(std::move(range), into);
}
std::future<std::vector<RangeResult>> AsyncReader::ReadGroup(std::vector<FileRange> ranges) {
  return impl_->ReadGroup(std::move(ranges));
}
bool AsyncReader::uses_io_uring() const noexcept { return impl_->uses_io_uring(); }

Bytes RangeResult::Take() {
  if (error) std::rethrow_exception(error);
  return std::move(bytes);
}

Bytes ReadFileSync(const std::string& path) { return PreadRange(FileRange{path}); }
Bytes ReadRangeSync(const FileRange& range) { return PreadRange(range); }

}  // namespace millrace::io
