#include "io/gzip.h"

#include <sys/mman.h>
#include <zlib.h>

#include <algorithm>

#include "core/error.h"
#include "io/record.h"

namespace millrace::io {

bool IsGzip(std::span<const uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

struct GzipInflater::Stream {
  z_stream z{};
};

GzipInflater::GzipInflater(std::string name, uint64_t max_output)
    : name_(std::move(name)), max_output_(max_output), stream_(std::make_unique<Stream>()) {
  // 16 + MAX_WBITS: a gzip wrapper (header, CRC32 and length checked by zlib).
  if (inflateInit2(&stream_->z, 16 + MAX_WBITS) != Z_OK)
    MILLRACE_THROW(ErrorKind::kInternal, "inflateInit2 failed for " << name_);
}

GzipInflater::~GzipInflater() { inflateEnd(&stream_->z); }

void GzipInflater::Reserve(uint64_t bytes) {
  if (used_ != 0 || bytes == 0 || bytes >= max_output_) return;
  // Capacity only (a bogus hint costs address space, not memory). One byte more than the data:
  // inflate then has room left to reach the end of the stream (the trailer) within it.
  output_.reserve(static_cast<size_t>(bytes) + 1);
  reserved_ = true;
  // Ask for transparent huge pages over the buffer (where THP is in `madvise` mode): faulting a
  // large output in 2 MiB pages instead of 4 KiB ones saves the kernel most of its work.
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t start = (reinterpret_cast<uintptr_t>(output_.data()) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end =
      (reinterpret_cast<uintptr_t>(output_.data()) + output_.capacity()) & ~(kHuge - 1);
  if (end > start) ::madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
}

void GzipInflater::ExpectSize(std::function<uint64_t(std::span<const uint8_t>)> probe) {
  probe_ = std::move(probe);
}

void GzipInflater::Feed(std::span<const uint8_t> chunk) {
  if (chunk.empty()) return;
  if (finished_) {
    trailing_ += chunk.size();
    return;
  }
  z_stream& z = stream_->z;
  z.next_in = const_cast<Bytef*>(chunk.data());
  size_t remaining = chunk.size();
  for (;;) {
    if (z.avail_in == 0) {
      const uInt take = static_cast<uInt>(std::min<size_t>(remaining, 1u << 30));
      z.avail_in = take;
      remaining -= take;
    }
    // Room for inflate: within a reservation the buffer is resized in steps (no copy, and pages
    // are touched only as the output reaches them); past it, or without one, it doubles. Never
    // past the limit plus one byte (the byte that tells a stream at the limit from one past it).
    const size_t cap = static_cast<size_t>(std::min<uint64_t>(max_output_, SIZE_MAX - 1) + 1);
    const size_t left = output_.size() - used_;
    if (left < (1u << 16) && output_.size() < output_.capacity() && output_.size() < cap) {
      output_.resize(std::min({output_.capacity(), output_.size() + (size_t{4} << 20), cap}));
    } else if ((left == 0 || (!reserved_ && left < (1u << 16))) && output_.size() < cap) {
      output_.resize(std::min(std::max<size_t>(output_.size() * 2, used_ + (1u << 20)), cap));
    }
    z.next_out = output_.data() + used_;
    const size_t room = std::min<size_t>(output_.size() - used_, 1u << 30);
    z.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&z, Z_NO_FLUSH);
    used_ += room - z.avail_out;
    if (probe_) {
      uint64_t declared = 0;
      try {
        declared = probe_(output());
      } catch (...) {
        refused_ = true;
        throw;
      }
      if (declared != 0) {
        probe_ = nullptr;
        if (declared < max_output_) {
          max_output_ = declared;
          limit_why_ = "the " + std::to_string(declared) + " bytes its header declares";
        }
      }
    }
    if (used_ > max_output_) {
      refused_ = true;
      throw DataError(name_, std::nullopt,
                      "gzip stream decompresses past " +
                          (limit_why_.empty()
                               ? "the limit of " + std::to_string(max_output_) + " bytes"
                               : limit_why_));
    }
    if (rc == Z_STREAM_END) {
      finished_ = true;
      trailing_ = z.avail_in + remaining;
      break;
    }
    const bool input_used_up = z.avail_in == 0 && remaining == 0;
    if ((rc == Z_OK || rc == Z_BUF_ERROR) && input_used_up && z.avail_out != 0)
      break;  // more input
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || (rc == Z_BUF_ERROR && z.avail_out != 0)) {
      throw DataError(
          name_, std::nullopt,
          std::string("corrupt gzip stream after ") + std::to_string(used_) +
              " decompressed bytes: " + (z.msg ? z.msg : "inflate error " + std::to_string(rc)));
    }
  }
}

Bytes GzipInflater::Take() {
  output_.resize(used_);
  used_ = 0;
  return std::move(output_);
}

}  // namespace millrace::io
