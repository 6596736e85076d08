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

TEST(PrefetcherTest, HandsBackEveryRangeInOrder) {
  TempDir dir;
  std::vector<std::vector<uint8_t>> contents;
  for (int i = 0; i < 40; ++i) {
    contents.push_back(RandomBytes(static_cast<size_t>(100 + 997 * i), static_cast<uint32_t>(i)));
    testing::WriteFile(dir / ("f" + std::to_string(i)), contents.back());
  }
  for (ReadBackend backend : {ReadBackend::kAuto, ReadBackend::kPread}) {
    AsyncReader reader({.backend = backend, .pread_threads = 3});
    // Visit the files in a scrambled order; results must follow that order.
    std::vector<int> order;
    for (int i = 0; i < 40; ++i) order.push_back((i * 17) % 40);
    Prefetcher prefetcher(
        reader, 40, [&](int64_t i) { return FileRange{dir / ("f" + std::to_string(order[i]))}; },
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

}  // namespace
}  // namespace millrace::io
