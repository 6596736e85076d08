// Hostile inputs built in the test: sizes in headers that claim far more than the file holds.
// Each must be refused, naming the file, with peak memory bounded by what is really there.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "io/gzip.h"
#include "io/idx.h"
#include "io/image_codec.h"
#include "io/image_folder.h"
#include "io/tar_format.h"
#include "test_files.h"
#include "tests/common/peak_rss.h"

namespace millrace::io {
namespace {

using millrace::testing::PeakRss;
using testing::TempDir;
using testing::WriteFile;

constexpr int64_t kMiB = int64_t{1} << 20;

#if defined(__SANITIZE_ADDRESS__)
// ASan's own threads and metadata cost ~30 MiB of RSS in a run, and its quarantine keeps freed
// buffers resident: with the quarantine on, a buffer grown by copying counts three times.
constexpr int64_t kSlack = 64 * kMiB;
#else
constexpr int64_t kSlack = 32 * kMiB;
#endif

}  // namespace
}  // namespace millrace::io

#if defined(__SANITIZE_ADDRESS__)
// Memory bounds are asserted here: freed memory goes back at once (this binary only).
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=0"; }
#endif

namespace millrace::io {
namespace {

// gzip of `header` followed by `zeros` zero bytes, deflated in pieces (zlib, level 1).
std::vector<uint8_t> GzipWithZeros(const std::vector<uint8_t>& header, int64_t zeros) {
  z_stream z{};
  deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 16);
  auto pump = [&](const uint8_t* in, size_t n, int flush) {
    z.next_in = const_cast<Bytef*>(in);
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = buf.data();
      z.avail_out = static_cast<uInt>(buf.size());
      deflate(&z, flush);
      out.insert(out.end(), buf.data(), buf.data() + (buf.size() - z.avail_out));
    } while (z.avail_out == 0);
  };
  pump(header.data(), header.size(), Z_NO_FLUSH);
  const std::vector<uint8_t> block(kMiB, 0);
  for (int64_t left = zeros; left > 0; left -= kMiB) {
    pump(block.data(), static_cast<size_t>(std::min<int64_t>(left, kMiB)), Z_NO_FLUSH);
  }
  pump(nullptr, 0, Z_FINISH);
  deflateEnd(&z);
  return out;
}

void ExpectDataError(const std::function<void()>& f, const std::string& file,
                     const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one about " << file;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

// An IDX header that claims 10^9 images of 28x28 over 200 MB of zeros (a 200 KB gzip): refused
// when the header is read, before the zeros are inflated.
TEST(HostileInputTest, IdxHeaderClaimingABillionImagesAllocatesNothingForThem) {
  TempDir dir;
  const std::string images = dir / "images.gz", labels = dir / "labels.gz";
  WriteFile(images, GzipWithZeros(testing::Idx({1000000000, 28, 28}, {}), 200 * kMiB));
  WriteFile(labels, testing::Gzip(testing::Idx({10}, testing::TestLabels(10, 10))));
  PeakRss rss;
  ExpectDataError([&] { IdxDataset::Load(images, labels); }, "images.gz",
                  "declares 1000000000 records");
  EXPECT_LT(rss.GrowthBytes("IDX gzip (200 KB) claiming 10^9 images"), kSlack);
}

// A header that tells the truth about 10 records, then 200 MB of zeros: inflation stops at the
// size the header declares.
TEST(HostileInputTest, IdxDataPastItsDeclaredSizeStopsAtThatSize) {
  TempDir dir;
  const std::string images = dir / "images.gz", labels = dir / "labels.gz";
  WriteFile(images, GzipWithZeros(testing::Idx({10, 28, 28}, {}), 200 * kMiB));
  WriteFile(labels, testing::Gzip(testing::Idx({10}, testing::TestLabels(10, 10))));
  PeakRss rss;
  ExpectDataError([&] { IdxDataset::Load(images, labels); }, "images.gz",
                  "past the 7856 bytes its header declares");
  EXPECT_LT(rss.GrowthBytes("IDX gzip of 10 records then 200 MB of zeros"), kSlack);
  // In memory too (the form the fuzzer drives).
  const std::vector<uint8_t> gz = GzipWithZeros(testing::Idx({10, 28, 28}, {}), 64 * kMiB);
  PeakRss rss2;
  ExpectDataError([&] { ParseIdx(gz, "mem.gz"); }, "mem.gz", "its header declares");
  EXPECT_LT(rss2.GrowthBytes("the same in memory (64 MB of zeros)"), kSlack);
}

// A gzip bomb against the inflater's own limit: the output never grows past the limit (it
// doubled past it: 12 GB for a 4 GiB limit).
TEST(HostileInputTest, GzipOutputNeverGrowsPastTheLimit) {
  const std::vector<uint8_t> gz = GzipWithZeros({}, 300 * kMiB);
  PeakRss rss;
  GzipInflater inflater("bomb.gz", /*max_output=*/130 * kMiB);
  ExpectDataError([&] { inflater.Feed(gz); }, "bomb.gz", "past the limit of");
  // Doubling to 256 MiB and past was the old way; the bound is twice the limit (the last copy
  // holds the old buffer and the new one), plus an eighth for ASan's shadow in sanitizer runs.
  EXPECT_LT(rss.GrowthBytes("gzip of 300 MB of zeros, limit 130 MiB"),
            2 * 130 * kMiB * 9 / 8 + kSlack);
  EXPECT_TRUE(inflater.refused());
}

TEST(HostileInputTest, BytesAfterTheGzipStreamAreAnError) {
  TempDir dir;
  const std::string images = dir / "images.gz", labels = dir / "labels.gz";
  std::vector<uint8_t> gz = testing::Gzip(testing::Idx({10, 4, 4}, testing::TestPixels(10, 4, 4)));
  gz.push_back(0x42);
  WriteFile(images, gz);
  WriteFile(labels, testing::Gzip(testing::Idx({10}, testing::TestLabels(10, 10))));
  ExpectDataError([&] { IdxDataset::Load(images, labels); }, "images.gz",
                  "1 bytes after the end of the gzip stream");
}

// A bad CRC in the trailer: the whole file is wrong, no record is to blame, even under kSkip.
TEST(HostileInputTest, BadGzipCrcBlamesTheFileNotARecord) {
  TempDir dir;
  const std::string images = dir / "images.gz", labels = dir / "labels.gz";
  std::vector<uint8_t> gz = testing::Gzip(testing::Idx({10, 4, 4}, testing::TestPixels(10, 4, 4)));
  gz[gz.size() - 6] ^= 0xff;
  WriteFile(images, gz);
  WriteFile(labels, testing::Gzip(testing::Idx({10}, testing::TestLabels(10, 10))));
  IdxOptions skip;
  skip.policy = BadInputPolicy::kSkip;
  try {
    IdxDataset::Load(images, labels, skip);
    ADD_FAILURE() << "a bad CRC was accepted";
  } catch (const Error& e) {
    EXPECT_FALSE(e.record().has_value()) << e.what();
    EXPECT_NE(std::string(e.what()).find("incorrect data check"), std::string::npos) << e.what();
  }
}

// One ustar header block for `name` claiming `size` bytes.
std::vector<uint8_t> TarHeader(const std::string& name, uint64_t size) {
  std::vector<uint8_t> h(512, 0);
  std::memcpy(h.data(), name.data(), name.size());
  std::snprintf(reinterpret_cast<char*>(h.data()) + 100, 8, "%07o", 0644);
  std::snprintf(reinterpret_cast<char*>(h.data()) + 108, 8, "%07o", 0);
  std::snprintf(reinterpret_cast<char*>(h.data()) + 116, 8, "%07o", 0);
  std::snprintf(reinterpret_cast<char*>(h.data()) + 124, 12, "%011llo",
                static_cast<unsigned long long>(size));
  std::snprintf(reinterpret_cast<char*>(h.data()) + 136, 12, "%011o", 0);
  h[156] = '0';
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (uint8_t b : h) sum += b;
  std::snprintf(reinterpret_cast<char*>(h.data()) + 148, 8, "%06o", sum);
  return h;
}

// A 10 KB shard whose one header claims a 1 GiB image: the parser reads what is there (and
// reports the cut), instead of allocating the claimed GiB first.
TEST(HostileInputTest, TarHeaderClaimingAGibibyteAllocatesWhatIsThere) {
  std::vector<uint8_t> shard = TarHeader("0001.png", uint64_t{1} << 30);
  shard.resize(shard.size() + 10000, 0x5a);
  PeakRss rss;
  ExpectDataError([&] { ParseTarShard(shard, "hostile.tar", 0); }, "0001.png", "cut off");
  EXPECT_LT(rss.GrowthBytes("10 KB tar claiming a 1 GiB entry, in memory"), kSlack);
  // The streaming form, fed in 4 KiB pieces.
  size_t at = 0;
  std::function<std::span<const uint8_t>()> read = [&]() {
    const size_t n = std::min<size_t>(4096, shard.size() - at);
    std::span<const uint8_t> piece(shard.data() + at, n);
    at += n;
    return piece;
  };
  PeakRss rss2;
  ExpectDataError([&] { ParseTarShard(read, "hostile.tar", 0, {}, [](EncodedRecord&&) {}); },
                  "0001.png", "cut off");
  EXPECT_LT(rss2.GrowthBytes("the same, streamed"), kSlack);
}

// A shard cut in the middle of a sample: the error says the archive is damaged, not that the
// sample lacks a label (its label was in the part that is missing).
TEST(HostileInputTest, TruncatedTarShardReportsTheTruncation) {
  TempDir dir;
  const std::string path = dir / "shard.tar";
  WriteTar(path, {{"a.png", Bytes(100, 1)}, {"a.cls", Bytes{'1'}}, {"b.png", Bytes(700, 2)},
                  {"b.cls", Bytes{'2'}}});
  std::vector<uint8_t> bytes = testing::ReadAll(path);
  // Cut inside b.cls's header: a.png, a.cls and b.png (header + 2 blocks) stay whole.
  bytes.resize(512 * 7 + 100);
  try {
    ParseTarShard(bytes, "shard.tar", 0);
    ADD_FAILURE() << "a truncated shard was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("without a label"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("shard.tar"), std::string::npos) << e.what();
  }
}

// A 28x28 image tree with one 4096x4096 PNG (16 KB of file, 16 MB of pixels): refused at its
// header, naming the file, because it is not the dataset's size; its pixels are never allocated.
TEST(HostileInputTest, ImageLargerThanTheDatasetsShapeIsRefusedAtItsHeader) {
  TempDir dir;
  const Tensor small = Tensor::Zeros({1, 28, 28}, DType::kU8);
  WriteFile(dir / "train/a/0.png", EncodePng(small));
  {
    const Tensor huge = Tensor::Zeros({1, 4096, 4096}, DType::kU8);
    WriteFile(dir / "train/a/1.png", EncodePng(huge));
  }
  ImageFolderDataset tree(dir / "train");
  EXPECT_EQ(tree.Read(0).image.shape(), (Shape{1, 28, 28}));
  PeakRss rss;
  ExpectDataError([&] { tree.Read(1); }, "1.png", "the dataset's images are 28x28");
  EXPECT_LT(rss.GrowthBytes("4096x4096 PNG in a 28x28 tree"), kSlack / 4);
}

}  // namespace
}  // namespace millrace::io
