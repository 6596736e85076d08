#include "io/idx.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "io/gzip.h"
#include "test_files.h"

namespace millrace::io {
namespace {

using testing::Gzip;
using testing::Idx;
using testing::TempDir;
using testing::TestLabels;
using testing::TestPixels;
using testing::WriteFile;

// Runs `f`, expects an Error of `kind` whose text names `file` (and `record` when >= 0).
template <typename F>
void ExpectError(F&& f, ErrorKind kind, const std::string& file, int64_t record,
                 const std::string& words) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one about " << file;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_NE(e.file().find(file), std::string::npos) << e.what();
    if (record >= 0) {
      EXPECT_EQ(e.record(), std::optional<int64_t>(record)) << e.what();
    }
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

bool HaveFashionMnist() {
  return std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
}

TEST(FashionMnistTest, LoadsBothSplitsWithBalancedClassesAndTheFilesPixels) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "no Fashion-MNIST at " << kFashionMnistDir;
  IdxDataset train = IdxDataset::FashionMnist("train");
  IdxDataset test = IdxDataset::FashionMnist("test");
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(train.num_classes(), 10);
  EXPECT_EQ(train.image_shape(), (Shape{1, 28, 28}));
  std::vector<int64_t> histogram(10, 0);
  for (int64_t i = 0; i < train.size(); ++i) ++histogram[static_cast<size_t>(train.label(i))];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(histogram[c], 6000) << "class " << c;

  // The raw files, gunzipped independently: images at 16 + r*784 + y*28 + x, labels at 8 + r.
  const std::string dir = kFashionMnistDir;
  for (auto [ds, prefix] : {std::pair{&train, "train"}, std::pair{&test, "t10k"}}) {
    const auto images = testing::Gunzip(dir + "/" + prefix + "-images-idx3-ubyte.gz");
    const auto labels = testing::Gunzip(dir + "/" + prefix + "-labels-idx1-ubyte.gz");
    const int64_t n = ds->size();
    ASSERT_EQ(images.size(), static_cast<size_t>(16 + n * 784));
    for (int64_t r : {int64_t{0}, int64_t{1}, int64_t{4321}, n - 1}) {
      Sample s = ds->Read(r);
      EXPECT_EQ(s.index, r);
      EXPECT_EQ(s.label, labels[static_cast<size_t>(8 + r)]);
      ASSERT_EQ(s.image.shape(), (Shape{1, 28, 28}));
      for (auto [y, x] :
           {std::pair{0, 0}, std::pair{14, 14}, std::pair{20, 9}, std::pair{27, 27}}) {
        EXPECT_EQ(s.image.data<uint8_t>()[y * 28 + x],
                  images[static_cast<size_t>(16 + r * 784 + y * 28 + x)])
            << prefix << " record " << r << " pixel (" << y << ", " << x << ")";
      }
    }
  }
}

TEST(FashionMnistTest, IoUringAndPreadLoadTheSameRecords) {
  if (!HaveFashionMnist()) GTEST_SKIP() << "no Fashion-MNIST at " << kFashionMnistDir;
  AsyncReader pread({.backend = ReadBackend::kPread});
  AsyncReader automatic;
  IdxDataset a = IdxDataset::FashionMnist("test", kFashionMnistDir, {.reader = &pread});
  IdxDataset b = IdxDataset::FashionMnist(
      "test", kFashionMnistDir, {.chunk_bytes = 65536, .prefetch_depth = 7, .reader = &automatic});
  ASSERT_EQ(a.size(), b.size());
  for (int64_t i = 0; i < a.size(); i += 997) {
    const auto pa = a.pixels(i), pb = b.pixels(i);
    EXPECT_TRUE(std::equal(pa.begin(), pa.end(), pb.begin())) << i;
    EXPECT_EQ(a.label(i), b.label(i));
  }
}

class IdxBadInputTest : public ::testing::Test {
 protected:
  // 10 images of 4x4, labels r % 10, gzipped or raw.
  void WritePair(bool gzip_images = true, int n_images = 10, int n_labels = 10) {
    auto images = Idx({static_cast<uint32_t>(n_images), 4, 4}, TestPixels(n_images, 4, 4));
    auto labels = Idx({static_cast<uint32_t>(n_labels)}, TestLabels(n_labels, 10));
    WriteFile(images_path_, gzip_images ? Gzip(images) : images);
    WriteFile(labels_path_, Gzip(labels));
  }
  IdxDataset Load(BadInputPolicy policy = BadInputPolicy::kFail, SkipLog* log = nullptr) {
    return IdxDataset::Load(images_path_, labels_path_, {.policy = policy, .skip_log = log});
  }
  TempDir dir_;
  std::string images_path_ = dir_ / "images.idx3.gz";
  std::string labels_path_ = dir_ / "labels.idx1.gz";
};

TEST_F(IdxBadInputTest, AGoodPairLoadsRawOrGzip) {
  for (bool gz : {true, false}) {
    WritePair(gz);
    IdxDataset ds = Load();
    ASSERT_EQ(ds.size(), 10);
    EXPECT_EQ(ds.image_shape(), (Shape{1, 4, 4}));
    Sample s = ds.Read(7);
    EXPECT_EQ(s.label, 7);
    EXPECT_EQ(s.image.data<uint8_t>()[2 * 4 + 3], (7 * 31 + 2 * 7 + 3) % 256);
    EXPECT_THROW(ds.Read(10), Error);
  }
}

TEST_F(IdxBadInputTest, TruncatedRawFileNamesTheFirstIncompleteRecord) {
  auto images = Idx({10, 4, 4}, TestPixels(10, 4, 4));
  images.resize(16 + 6 * 16 + 5);  // records 0..5 whole, record 6 cut
  WriteFile(images_path_, images);
  WriteFile(labels_path_, Gzip(Idx({10}, TestLabels(10, 10))));
  ExpectError([&] { Load(); }, ErrorKind::kData, "images.idx3.gz", 6, "record 6 of 10");
  SkipLog log;
  IdxDataset ds = Load(BadInputPolicy::kSkip, &log);
  EXPECT_EQ(ds.size(), 6);
  EXPECT_EQ(ds.skipped(), 4);
  EXPECT_EQ(log.count(), 1);  // one problem (the cut file) that cost 4 records
  EXPECT_EQ(ds.Read(5).image.data<uint8_t>()[0], (5 * 31) % 256);
}

TEST_F(IdxBadInputTest, TruncatedGzipIsAnErrorAndSkipKeepsTheWholeRecords) {
  auto images = Idx({200, 4, 4}, TestPixels(200, 4, 4));
  auto gz = Gzip(images);
  gz.resize(gz.size() * 2 / 3);
  WriteFile(images_path_, gz);
  WriteFile(labels_path_, Gzip(Idx({200}, TestLabels(200, 10))));
  ExpectError([&] { Load(); }, ErrorKind::kData, "images.idx3.gz", -1, "truncated gzip");
  SkipLog log;
  IdxDataset ds = Load(BadInputPolicy::kSkip, &log);
  EXPECT_GT(ds.skipped(), 0);
  EXPECT_EQ(ds.size() + ds.skipped(), 200);
  EXPECT_EQ(log.count(), 1);
  for (int64_t i = 0; i < ds.size(); ++i)
    ASSERT_EQ(ds.Read(i).image.data<uint8_t>()[5], (i * 31 + 7 + 1) % 256);
}

TEST_F(IdxBadInputTest, CorruptGzipIsADataError) {
  WritePair();
  auto gz = testing::ReadAll(images_path_);
  gz[gz.size() - 6] ^= 0xff;  // the CRC32 in the trailer
  WriteFile(images_path_, gz);
  ExpectError([&] { Load(); }, ErrorKind::kData, "images.idx3.gz", -1, "corrupt gzip");
  gz = testing::Gzip(Idx({10, 4, 4}, TestPixels(10, 4, 4)));
  gz[2] = 7;  // compression method: not deflate
  WriteFile(images_path_, gz);
  ExpectError([&] { Load(); }, ErrorKind::kData, "images.idx3.gz", -1, "corrupt gzip");
}

TEST_F(IdxBadInputTest, WrongMagicIsADataError) {
  WritePair();
  auto raw = Idx({10, 4, 4}, TestPixels(10, 4, 4));
  raw[0] = 0x12;
  WriteFile(images_path_, Gzip(raw));
  ExpectError([&] { Load(); }, ErrorKind::kData, "images.idx3.gz", -1, "wrong magic");
  raw[0] = 0;
  raw[2] = 0x0d;  // float elements: not supported
  WriteFile(images_path_, raw);
  ExpectError([&] { Load(); }, ErrorKind::kData, "images.idx3.gz", -1, "not supported");
  // A labels file where an images file belongs.
  WriteFile(images_path_, Gzip(Idx({10}, TestLabels(10, 10))));
  ExpectError([&] { Load(); }, ErrorKind::kData, "images.idx3.gz", -1, "[N, H, W]");
}

TEST_F(IdxBadInputTest, CountMismatchNamesTheFirstUnpairedRecord) {
  WritePair(true, 10, 8);
  ExpectError([&] { Load(); }, ErrorKind::kData, "images.idx3.gz", 8, "10 images but 8 labels");
  SkipLog log;
  IdxDataset ds = Load(BadInputPolicy::kSkip, &log);
  EXPECT_EQ(ds.size(), 8);
  EXPECT_EQ(ds.skipped(), 2);
  EXPECT_EQ(log.count(), 1);
}

TEST_F(IdxBadInputTest, LabelOutOfRangeNamesTheRecordAndSkipDropsIt) {
  auto labels = TestLabels(10, 10);
  labels[3] = 10;
  labels[8] = 200;
  WriteFile(images_path_, Gzip(Idx({10, 4, 4}, TestPixels(10, 4, 4))));
  WriteFile(labels_path_, Gzip(Idx({10}, labels)));
  ExpectError([&] { Load(); }, ErrorKind::kData, "labels.idx1.gz", 3, "label 10 out of range");
  SkipLog log;
  IdxDataset ds = Load(BadInputPolicy::kSkip, &log);
  EXPECT_EQ(ds.size(), 8);
  EXPECT_EQ(ds.skipped(), 2);
  EXPECT_EQ(log.count(), 2);
  EXPECT_NE(log.Summary().find("2 records skipped"), std::string::npos) << log.Summary();
  // Records 0 1 2 4 5 6 7 9 remain, with their own indices and pixels.
  Sample s = ds.Read(3);
  EXPECT_EQ(s.index, 4);
  EXPECT_EQ(s.label, 4);
  EXPECT_EQ(s.image.data<uint8_t>()[0], (4 * 31) % 256);
}

TEST_F(IdxBadInputTest, MissingFileIsAnIoErrorNamingIt) {
  WritePair();
  std::filesystem::remove(labels_path_);
  ExpectError([&] { Load(); }, ErrorKind::kIo, "labels.idx1.gz", -1, "cannot open");
}

// A size hint (the gzip trailer's ISIZE) changes how the output is allocated, never what it
// holds: right, too small, too large or absent, fed whole or in pieces.
TEST(GzipInflaterTest, ReservationHintsOfAnySizeGiveTheSameOutput) {
  std::vector<uint8_t> data = TestPixels(3000, 28, 28);  // 2.35 MB
  const std::vector<uint8_t> gz = Gzip(data);
  for (uint64_t hint : {uint64_t{0}, uint64_t{1000}, uint64_t{data.size()},
                        uint64_t{data.size() + 1}, uint64_t{3 * data.size()}}) {
    for (size_t piece : {size_t{4096}, gz.size()}) {
      GzipInflater inflater("x.gz");
      inflater.Reserve(hint);
      for (size_t at = 0; at < gz.size(); at += piece)
        inflater.Feed(std::span<const uint8_t>(gz).subspan(at, std::min(piece, gz.size() - at)));
      EXPECT_TRUE(inflater.finished());
      EXPECT_EQ(inflater.Take(), data) << "hint " << hint << ", pieces of " << piece;
    }
  }
  GzipInflater limited("x.gz", /*max_output=*/1000);
  limited.Reserve(data.size());  // past the limit: ignored, and the limit still holds
  EXPECT_THROW(limited.Feed(gz), Error);
}

TEST(IdxParseTest, ParsesHeadersAndRejectsTrailingBytes) {
  auto raw = Idx({3, 2, 2}, TestPixels(3, 2, 2));
  IdxArray a = ParseIdx(raw, "x");
  EXPECT_EQ(a.header.dims, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(a.header.record_bytes(), 4);
  EXPECT_EQ(ParseIdx(Gzip(raw), "x").bytes, raw);
  raw.push_back(1);
  EXPECT_THROW(ParseIdx(raw, "x"), Error);
  EXPECT_THROW(ParseIdx(std::vector<uint8_t>{0, 0, 8}, "x"), Error);
  EXPECT_THROW(ParseIdx(std::vector<uint8_t>{0, 0, 8, 9}, "x"), Error);  // rank 9
}

}  // namespace
}  // namespace millrace::io
