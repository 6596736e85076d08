#include "io/image_folder.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "fake_dataset.h"
#include "io/convert.h"
#include "test_files.h"

namespace millrace::io {
namespace {

using testing::FakeDataset;
using testing::TempDir;
using testing::WriteFile;

Bytes Png(int64_t record) { return EncodePng(FakeDataset(100, 1, {1, 6, 5}).Read(record).image); }

// root/ant/x.PNG, root/cat/a.png, root/cat/b.png, root/dog/c.png, plus files to ignore.
class ImageFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_ / "cat/b.png", Png(2));
    WriteFile(dir_ / "cat/a.png", Png(1));
    WriteFile(dir_ / "dog/c.png", Png(3));
    WriteFile(dir_ / "ant/x.PNG", Png(0));
    WriteFile(dir_ / "notes.txt", {1});
    WriteFile(dir_ / "dog/readme.md", {1});
  }
  TempDir dir_;
};

TEST_F(ImageFolderTest, ClassesAreSortedDirectoriesAndFilesSortedWithin) {
  ImageFolderDataset ds(dir_.path().string());
  EXPECT_EQ(ds.classes(), (std::vector<std::string>{"ant", "cat", "dog"}));
  ASSERT_EQ(ds.size(), 4);
  const int64_t labels[] = {0, 1, 1, 2};
  for (int64_t i = 0; i < 4; ++i) {
    Sample s = ds.Read(i);
    EXPECT_EQ(s.label, labels[i]);
    EXPECT_EQ(s.index, i);
    ASSERT_EQ(s.image.shape(), (Shape{1, 6, 5}));
    // File i holds FakeDataset's record i (x.PNG=0, a=1, b=2, c=3).
    EXPECT_EQ(s.image.data<uint8_t>()[7], FakeDataset::Pixel(i, 0, 1, 2));
  }
}

TEST_F(ImageFolderTest, StreamReadsAheadAndKeepsTheOrderOnBothBackends) {
  ImageFolderDataset ds(dir_.path().string());
  for (ReadBackend backend : {ReadBackend::kAuto, ReadBackend::kPread}) {
    AsyncReader reader({.backend = backend});
    ImageFolderStream stream(ds, {3, 0, 2, 1, 3}, reader, {.prefetch_depth = 2});
    for (int64_t expected : {3, 0, 2, 1, 3}) {
      auto record = stream.Next();
      ASSERT_TRUE(record.has_value());
      EXPECT_EQ(record->index, expected);
      EXPECT_EQ(record->source, ds.file(expected).path);
      auto sample = DecodeRecord(*record, {});
      EXPECT_EQ(sample->image.data<uint8_t>()[0], FakeDataset::Pixel(expected, 0, 0, 0));
    }
    EXPECT_FALSE(stream.Next().has_value());
  }
}

// Files read in groups: every (depth, group) combination hands the records over once each, in
// the order asked for, on both backends, with bad files skipped where they fall in a group.
TEST(ImageFolderGroupsTest, GroupedReadsKeepTheOrderAndSkipBadFilesInPlace) {
  TempDir dir;
  constexpr int64_t kFiles = 23;
  for (int64_t i = 0; i < kFiles; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "c%lld/%03lld.png", static_cast<long long>(i % 3),
                  static_cast<long long>(i));
    WriteFile(dir / name, Png(i));
  }
  ImageFolderDataset ds(dir.path().string());
  ASSERT_EQ(ds.size(), kFiles);
  std::vector<int64_t> order;
  for (int64_t i = 0; i < 2 * kFiles; ++i) order.push_back((i * 7) % kFiles);  // two epochs
  const std::vector<int64_t> missing = {5, 17};
  for (int64_t m : missing) std::filesystem::remove(ds.file(m).path);
  std::vector<ReadBackend> backends = {ReadBackend::kAuto, ReadBackend::kPread};
  for (ReadBackend backend : backends) {
    AsyncReader reader({.backend = backend});
    for (auto [depth, group] : {std::pair{1, 1}, {2, 16}, {5, 2}, {8, 3}, {64, 16}}) {
      SkipLog log;
      ImageFolderStream stream(ds, order, reader,
                               {.prefetch_depth = depth,
                                .group_files = group,
                                .policy = BadInputPolicy::kSkip,
                                .skip_log = &log});
      std::vector<int64_t> expected;
      for (int64_t i : order)
        if (std::find(missing.begin(), missing.end(), i) == missing.end()) expected.push_back(i);
      std::vector<int64_t> got;
      while (auto record = stream.Next()) {
        got.push_back(record->index);
        const int64_t written =  // the file's name is the record written into it
            std::stoll(std::filesystem::path(ds.file(record->index).path).stem().string());
        EXPECT_EQ(record->bytes, Png(written));
        EXPECT_EQ(record->label, ds.file(record->index).label);
      }
      EXPECT_EQ(got, expected) << "depth " << depth << ", group " << group;
      EXPECT_EQ(log.count(), 4) << log.Summary();  // each missing file, once per epoch
    }
  }
}

TEST_F(ImageFolderTest, UndecodableAndMissingFilesNameTheFileAndRecord) {
  WriteFile(dir_ / "cat/a.png", {0x89, 'P', 'N', 'G', 1, 2, 3});  // record 1: broken PNG
  ImageFolderDataset ds(dir_.path().string());
  try {
    ds.Read(1);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_NE(e.file().find("cat/a.png"), std::string::npos) << e.what();
    EXPECT_EQ(e.record(), std::optional<int64_t>(1));
  }
  std::filesystem::remove(dir_ / "dog/c.png");  // record 3 vanishes after the scan
  AsyncReader reader;
  {
    ImageFolderStream stream(ds, {0, 1, 2, 3}, reader);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream.Next().has_value());
    try {
      stream.Next();
      ADD_FAILURE() << "no error for a missing file";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo);
      EXPECT_NE(e.file().find("dog/c.png"), std::string::npos) << e.what();
      EXPECT_EQ(e.record(), std::optional<int64_t>(3));
    }
  }
  // The skip policy: one unreadable file and one undecodable image, counted.
  SkipLog log;
  ImageFolderStream stream(ds, {0, 1, 2, 3}, reader,
                           {.policy = BadInputPolicy::kSkip, .skip_log = &log});
  int decoded = 0;
  while (auto record = stream.Next())
    decoded += DecodeRecord(*record, {}, BadInputPolicy::kSkip, &log).has_value();
  EXPECT_EQ(decoded, 2);
  EXPECT_EQ(log.count(), 2);
}

// Files of other extensions, a FIFO named like an image and a broken link are reported (count
// and first paths in byte-wise order), never opened: the FIFO can't hang the scan.
TEST_F(ImageFolderTest, EntriesThatAreNotImagesAreCountedAndNamedAndAFifoNeverHangs) {
  ASSERT_EQ(::mkfifo((dir_ / "cat/pipe.jpg").c_str(), 0600), 0);
  std::filesystem::create_symlink(dir_ / "absent.png", dir_ / "dog/gone.png");
  ::alarm(10);  // a scan that opened the FIFO would block here: SIGALRM ends the test then
  ImageFolderDataset ds(dir_.path().string());
  ::alarm(0);
  EXPECT_EQ(ds.size(), 4);
  const IgnoredEntries& ignored = ds.ignored();
  EXPECT_EQ(ignored.count, 4);
  EXPECT_EQ(ignored.first, (std::vector<std::string>{"cat/pipe.jpg (a FIFO)",
                                                     "dog/gone.png (a broken link)",
                                                     "dog/readme.md", "notes.txt"}));
  const std::string note = ignored.Note(ds.root());
  EXPECT_NE(note.find("4 entries under " + ds.root() + " are not an image"), std::string::npos)
      << note;
  EXPECT_NE(note.find("cat/pipe.jpg (a FIFO)"), std::string::npos) << note;

  // More than IgnoredEntries::kKept: the count, the first five, and "...".
  for (int i = 0; i < 5; ++i) WriteFile(dir_ / ("ant/z" + std::to_string(i) + ".txt"), {1});
  ImageFolderDataset more(dir_.path().string());
  EXPECT_EQ(more.ignored().count, 9);
  ASSERT_EQ(more.ignored().first.size(), IgnoredEntries::kKept);
  EXPECT_EQ(more.ignored().first[0], "ant/z0.txt");
  EXPECT_NE(more.ignored().Note(more.root()).find(", ..."), std::string::npos);
}

TEST(ImageFolderErrorsTest, MissingOrEmptyRootsThrow) {
  TempDir dir;
  EXPECT_THROW(ImageFolderDataset(dir / "absent"), Error);
  EXPECT_THROW(ImageFolderDataset(dir.path().string()), Error);  // no class directory
  std::filesystem::create_directories(dir / "a");
  EXPECT_THROW(ImageFolderDataset(dir.path().string()), Error);  // no image
}

TEST(ConvertTest, ImageTreeRoundTripsThroughImageFolder) {
  TempDir dir;
  FakeDataset source(25, 10, {1, 8, 8});
  EXPECT_EQ(WriteImageTree(source, dir / "png", {.format = ImageFormat::kPng}), 25);
  ImageFolderDataset png(dir / "png");
  ASSERT_EQ(png.size(), 25);
  EXPECT_EQ(png.num_classes(), 10);
  EXPECT_EQ(png.classes().front(), "0");
  for (int64_t i = 0; i < png.size(); ++i) {
    Sample s = png.Read(i);
    // Sorted by class, then by record: find the source record from the file name.
    const int64_t record = std::stoll(std::filesystem::path(png.file(i).path).stem().string());
    EXPECT_EQ(s.label, record % 10);
    Sample expected = source.Read(record);
    for (int64_t p = 0; p < 64; ++p)
      ASSERT_EQ(s.image.data<uint8_t>()[p], expected.image.data<uint8_t>()[p]) << record;
  }
  EXPECT_EQ(WriteImageTree(source, dir / "jpg", {.limit = 12}), 12);
  ImageFolderDataset jpg(dir / "jpg");
  EXPECT_EQ(jpg.size(), 12);
  EXPECT_EQ(SniffImageFormat(ReadFileSync(jpg.file(0).path)), ImageFormat::kJpeg);
}

}  // namespace
}  // namespace millrace::io
