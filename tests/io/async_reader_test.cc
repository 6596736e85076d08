#include "io/async_reader.h"

#include <gtest/gtest.h>

#include <random>

#include "io/prefetcher.h"
#include "test_files.h"

namespace millrace::io {
namespace {

using testing::TempDir;

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(gen());
  return v;
}

// Ranges that cover the edge cases: the start, the middle, the last byte, empty, whole file.
std::vector<FileRange> Ranges(const std::string& path, uint64_t size) {
  return {{path, 0, 1},
          {path, 0, 4096},
          {path, 12345, 100000},
          {path, size - 1, 1},
          {path, size / 2, 0},
          {path, 0, FileRange::kWholeFile},
          {path, 777, FileRange::kWholeFile}};
}

TEST(AsyncReaderTest, IoUringAndPreadReturnTheSameBytes) {
  TempDir dir;
  const std::string path = dir / "data.bin";
  const std::vector<uint8_t> data = RandomBytes(3 << 20, 1);
  testing::WriteFile(path, data);

  AsyncReader pread({.backend = ReadBackend::kPread});
  EXPECT_FALSE(pread.uses_io_uring());
  std::unique_ptr<AsyncReader> uring;
  try {
    uring = std::make_unique<AsyncReader>(AsyncReaderOptions{.backend = ReadBackend::kIoUring});
  } catch (const Error& e) {
    GTEST_SKIP() << "io_uring refused on this machine: " << e.what();
  }
  ASSERT_TRUE(uring->uses_io_uring());

  for (const FileRange& r : Ranges(path, data.size())) {
    auto a = uring->Read(r);
    auto b = pread.Read(r);
    const uint64_t size = r.size == FileRange::kWholeFile ? data.size() - r.offset : r.size;
    const std::vector<uint8_t> expected(data.begin() + static_cast<ptrdiff_t>(r.offset),
                                        data.begin() + static_cast<ptrdiff_t>(r.offset + size));
    EXPECT_EQ(a.get(), expected) << "io_uring, offset " << r.offset;
    EXPECT_EQ(b.get(), expected) << "pread, offset " << r.offset;
  }
}

TEST(AsyncReaderTest, MissingAndShortFilesAreIoErrorsNamingTheFile) {
  TempDir dir;
  const std::string path = dir / "short.bin";
  testing::WriteFile(path, RandomBytes(100, 2));
  for (ReadBackend backend : {ReadBackend::kAuto, ReadBackend::kPread}) {
    AsyncReader reader({.backend = backend});
    auto missing = reader.Read({dir / "nope.bin"});
    try {
      missing.get();
      FAIL() << "no error for a missing file";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_NE(e.file().find("nope.bin"), std::string::npos);
    }
    auto past_end = reader.Read({path, 50, 100});
    try {
      past_end.get();
      FAIL() << "no error for a read past the end";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_NE(std::string(e.what()).find("short.bin"), std::string::npos);
      EXPECT_NE(e.message().find("150"), std::string::npos) << e.what();
    }
  }
}

// Both backends, or only the pread pool where io_uring is refused.
std::vector<ReadBackend> Backends() {
  std::vector<ReadBackend> backends = {ReadBackend::kPread};
  try {
    AsyncReader probe({.backend = ReadBackend::kIoUring});
    backends.push_back(ReadBackend::kIoUring);
  } catch (const Error&) {
  }
  return backends;
}

TEST(AsyncReaderTest, ReadGroupReturnsEveryRangeAndKeepsErrorsInTheirSlots) {
  TempDir dir;
  const std::string path = dir / "data.bin";
  const std::vector<uint8_t> data = RandomBytes(1 << 20, 3);
  testing::WriteFile(path, data);
  for (ReadBackend backend : Backends()) {
    AsyncReader reader({.backend = backend});
    std::vector<FileRange> ranges = Ranges(path, data.size());
    ranges.insert(ranges.begin() + 2, FileRange{dir / "missing.bin"});
    ranges.push_back({path, data.size() - 10, 20});  // past the end
    std::vector<RangeResult> results = reader.ReadGroup(ranges).get();
    ASSERT_EQ(results.size(), ranges.size());
    for (size_t i = 0; i < ranges.size(); ++i) {
      const FileRange& r = ranges[i];
      if (i == 2 || i + 1 == ranges.size()) {
        ASSERT_TRUE(results[i].error) << i;
        try {
          results[i].Take();
          ADD_FAILURE() << "no error for range " << i;
        } catch (const Error& e) {
          EXPECT_EQ(e.kind(), ErrorKind::kIo);
          EXPECT_NE(std::string(e.what()).find(i == 2 ? "missing.bin" : "data.bin"),
                    std::string::npos)
              << e.what();
        }
        continue;
      }
      const uint64_t size = r.size == FileRange::kWholeFile ? data.size() - r.offset : r.size;
      const std::vector<uint8_t> expected(data.begin() + static_cast<ptrdiff_t>(r.offset),
                                          data.begin() + static_cast<ptrdiff_t>(r.offset + size));
      EXPECT_FALSE(results[i].error) << i;
      EXPECT_EQ(results[i].Take(), expected) << "range " << i;
    }
    EXPECT_TRUE(reader.ReadGroup({}).get().empty());
  }
}

TEST(AsyncReaderTest, ReadIntoFillsTheCallersBufferOnBothBackends) {
  TempDir dir;
  const std::string path = dir / "data.bin";
  const std::vector<uint8_t> data = RandomBytes(300000, 4);
  testing::WriteFile(path, data);
  for (ReadBackend backend : Backends()) {
    AsyncReader reader({.backend = backend});
    // Two buffers cycled through the file's chunks, several reads in flight.
    constexpr uint64_t kChunk = 65536;
    std::vector<uint8_t> buffers[2] = {std::vector<uint8_t>(kChunk), std::vector<uint8_t>(kChunk)};
    std::vector<uint8_t> copy;
    for (uint64_t offset = 0; offset < data.size(); offset += 2 * kChunk) {
      std::future<void> reads[2];
      uint64_t lengths[2] = {0, 0};
      for (int b = 0; b < 2; ++b) {
        const uint64_t at = offset + b * kChunk;
        if (at >= data.size()) break;
        lengths[b] = std::min<uint64_t>(kChunk, data.size() - at);
        reads[b] = reader.ReadInto({path, at, lengths[b]}, buffers[b]);
      }
      for (int b = 0; b < 2; ++b) {
        if (!reads[b].valid()) break;
        reads[b].get();
        copy.insert(copy.end(), buffers[b].begin(),
                    buffers[b].begin() + static_cast<ptrdiff_t>(lengths[b]));
      }
    }
    EXPECT_EQ(copy, data);
    auto short_read = reader.ReadInto({path, data.size() - 5, 10}, buffers[0]);
    EXPECT_THROW(short_read.get(), Error);
    auto missing = reader.ReadInto({dir / "nope", 0, 10}, buffers[0]);
    EXPECT_THROW(missing.get(), Error);
    EXPECT_THROW(reader.ReadInto({path}, buffers[0]), Error);  // no size: refused
  }
}

// "f<i>", appended rather than "f" + std::to_string(i): g++ 12 warns (-Wrestrict, falsely) on the
// inlined insert that the latter makes.
std::string FileName(int64_t i) {
  std::string name = "f";
  name += std::to_string(i);
  return name;
}

TEST(PrefetcherTest, HandsBackEveryRangeInOrder) {
  TempDir dir;
  std::vector<std::vector<uint8_t>> contents;
  for (int i = 0; i < 40; ++i) {
    contents.push_back(RandomBytes(static_cast<size_t>(100 + 997 * i), static_cast<uint32_t>(i)));
    testing::WriteFile(dir / FileName(i), contents.back());
  }
  for (ReadBackend backend : {ReadBackend::kAuto, ReadBackend::kPread}) {
    AsyncReader reader({.backend = backend, .pread_threads = 3});
    // Visit the files in a scrambled order; results must follow that order.
    std::vector<int> order;
    for (int i = 0; i < 40; ++i) order.push_back((i * 17) % 40);
    Prefetcher prefetcher(
        reader, 40, [&](int64_t i) { return FileRange{dir / FileName(order[i])}; },
        /*depth=*/6);
    for (int i = 0; i < 40; ++i) {
      std::optional<Bytes> bytes = prefetcher.Next();
      ASSERT_TRUE(bytes.has_value());
      EXPECT_EQ(*bytes, contents[order[i]]) << "position " << i;
    }
    EXPECT_FALSE(prefetcher.Next().has_value());
  }
}

// More reads in flight than Asio reaps per wake-up (128): must neither stall nor reorder.
TEST(PrefetcherTest, DeepPrefetchOfManySmallFilesCompletes) {
  TempDir dir;
  constexpr int kFiles = 600;
  for (int i = 0; i < kFiles; ++i) testing::WriteFile(dir / std::to_string(i), RandomBytes(64, i));
  for (ReadBackend backend : {ReadBackend::kAuto, ReadBackend::kPread}) {
    AsyncReader reader({.backend = backend});
    for (int round = 0; round < 3; ++round) {
      Prefetcher prefetcher(
          reader, kFiles, [&](int64_t i) { return FileRange{dir / std::to_string(i)}; }, 500);
      for (int i = 0; i < kFiles; ++i) ASSERT_EQ(*prefetcher.Next(), RandomBytes(64, i)) << i;
    }
  }
}

TEST(PrefetcherTest, AReadErrorSurfacesAtItsPositionAndDestructionDoesNotHang) {
  TempDir dir;
  testing::WriteFile(dir / "a", {1, 2, 3});
  AsyncReader reader;
  Prefetcher prefetcher(
      reader, 3, [&](int64_t i) { return FileRange{i == 1 ? dir / "missing" : dir / "a"}; }, 3);
  EXPECT_EQ(prefetcher.Next()->size(), 3u);
  EXPECT_THROW(prefetcher.Next(), Error);
  // The third read is still in flight or done; leaving it unread must not hang.
}

TEST(ChunkReaderTest, ReadsAFileFrontToBackThroughReusedBuffers) {
  TempDir dir;
  const std::string path = dir / "data.bin";
  const std::vector<uint8_t> data = RandomBytes(200003, 5);
  testing::WriteFile(path, data);
  for (ReadBackend backend : Backends()) {
    AsyncReader reader({.backend = backend});
    std::vector<Bytes> lent;  // kept across readers, as a thread reading many files does
    for (uint64_t chunk :
         {uint64_t{1000}, uint64_t{65536}, uint64_t{data.size()}, uint64_t{data.size() + 5}}) {
      for (int depth : {1, 3}) {
        ChunkReader chunks(reader, path, data.size(), chunk, depth, depth == 3 ? &lent : nullptr);
        std::vector<uint8_t> copy;
        for (auto piece = chunks.Next(); !piece.empty(); piece = chunks.Next()) {
          EXPECT_LE(piece.size(), chunk);
          copy.insert(copy.end(), piece.begin(), piece.end());
        }
        EXPECT_EQ(copy, data) << "chunk " << chunk << ", depth " << depth;
        EXPECT_TRUE(chunks.Next().empty());
      }
    }
    // A file shorter than said: the chunk past its end is an Error(kIo) naming it.
    ChunkReader short_file(reader, path, data.size() + 70000, 65536, 2);
    try {
      while (!short_file.Next().empty()) {
      }
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_NE(e.file().find("data.bin"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace millrace::io
