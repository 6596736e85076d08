// The tar index on disk (io/tar_index.h): written once, read back entry by entry with pread to
// exactly what IndexTarShard finds; reused by TarDataset while the shards are unchanged; refused
// naming the file when it is stale, truncated, overlong or not an index (and then written anew
// by TarDataset); a read past a file cut after it was opened fails naming it and the record.
#include "io/tar_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "fake_dataset.h"
#include "io/convert.h"
#include "io/tar_dataset.h"
#include "test_files.h"

namespace millrace::io {
namespace {

using testing::FakeDataset;
using testing::TempDir;

class TarIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shards_ = WriteTarShards(source_, dir_ / "shards",
                             {.format = ImageFormat::kPng, .samples_per_shard = 64});
    ASSERT_EQ(shards_.size(), 5u);
  }

  // Expects `make` to throw Error(kData) naming `path`, with `words` in the message.
  template <class F>
  static void ExpectRefused(F make, const std::string& path, const std::string& words) {
    try {
      make();
      ADD_FAILURE() << "no error; expected '" << words << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
      EXPECT_EQ(e.file(), path) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }

  FakeDataset source_{300, 10, {1, 8, 8}};
  TempDir dir_;
  std::vector<std::string> shards_;
};

TEST_F(TarIndexTest, RoundTripGivesWhatIndexTarShardFinds) {
  const std::string path = dir_ / "index";
  WriteTarIndex(path, shards_, {.num_classes = 10});
  EXPECT_FALSE(std::filesystem::exists(path + ".partial." + std::to_string(::getpid())));
  const TarIndexFile index(path, shards_);
  ASSERT_EQ(index.size(), 300);
  EXPECT_EQ(index.shard_first(), (std::vector<int64_t>{0, 64, 128, 192, 256}));
  EXPECT_EQ(index.max_label(), 9);
  int64_t record = 0;
  for (size_t s = 0; s < shards_.size(); ++s) {
    IndexTarShard(shards_[s], static_cast<int64_t>(s), {}, [&](TarMember&& m) {
      const TarIndexEntry e = index.Entry(record);
      EXPECT_EQ(uint64_t{e.offset_blocks} * 512, m.offset) << record;
      EXPECT_EQ(e.size, m.size) << record;
      EXPECT_EQ(e.label, m.label) << record;
      EXPECT_EQ(e.label, source_.Label(record)) << record;
      ++record;
    });
  }
  EXPECT_EQ(record, 300);
  EXPECT_THROW(index.Entry(300), Error);
  EXPECT_THROW(index.Entry(-1), Error);
}

TEST_F(TarIndexTest, TarDatasetWritesTheIndexBesideTheShardsOnceAndReusesIt) {
  const std::string beside = (std::filesystem::path(dir_ / "shards") / "millrace.tarindex").string();
  const TarDataset first(dir_ / "shards", {.in_memory = false});
  EXPECT_TRUE(first.index_written());
  EXPECT_EQ(first.index_path(), beside);
  const auto written = std::filesystem::last_write_time(beside);
  const TarDataset again(dir_ / "shards", {.in_memory = false});
  EXPECT_FALSE(again.index_written());
  EXPECT_EQ(std::filesystem::last_write_time(beside), written);
  ASSERT_EQ(again.size(), 300);
  EXPECT_EQ(again.num_classes(), 10);
  for (int64_t i = 0; i < again.size(); ++i) {
    const RecordLocation a = *first.Locate(i);
    const RecordLocation b = *again.Locate(i);
    EXPECT_EQ(a.range.path, b.range.path);
    EXPECT_EQ(a.range.offset, b.range.offset);
    EXPECT_EQ(a.range.size, b.range.size);
    EXPECT_EQ(a.label, b.label);
    EXPECT_EQ(again.Label(i), source_.Label(i));
  }
  // Labels past a num_classes asked for: the index is not trusted, the parse names the record.
  EXPECT_THROW(TarDataset(dir_ / "shards", {.num_classes = 5, .in_memory = false}), Error);
  // An index path of one's own.
  const TarDataset own(dir_ / "shards", {.in_memory = false, .index_path = dir_ / "own"});
  EXPECT_TRUE(own.index_written());
  EXPECT_EQ(own.index_path(), dir_ / "own");
  EXPECT_EQ(own.size(), 300);
}

TEST_F(TarIndexTest, AStaleIndexIsRefusedNamingItAndTheShardAndWrittenAnew) {
  const std::string path = dir_ / "index";
  WriteTarIndex(path, shards_, {});
  // A shard rewritten (fewer records): another size.
  WriteTarShards(FakeDataset{20, 10, {1, 8, 8}}, dir_ / "other", {.samples_per_shard = 64});
  std::filesystem::copy_file(dir_ / "other/shard-000000.tar", shards_[4],
                             std::filesystem::copy_options::overwrite_existing);
  ExpectRefused([&] { (void)TarIndexFile(path, shards_); }, path, "stale: shard " + shards_[4]);
  // The same size, another modification time.
  WriteTarIndex(path, shards_, {});
  EXPECT_NO_THROW((void)TarIndexFile(path, shards_));
  std::filesystem::last_write_time(
      shards_[1], std::filesystem::last_write_time(shards_[1]) - std::chrono::seconds(10));
  ExpectRefused([&] { (void)TarIndexFile(path, shards_); }, path, "stale: shard " + shards_[1]);
  // A shard more or less, another name.
  WriteTarIndex(path, shards_, {});
  std::vector<std::string> fewer(shards_.begin(), shards_.end() - 1);
  ExpectRefused([&] { (void)TarIndexFile(path, fewer); }, path, "indexes 5 shards");
  std::vector<std::string> renamed = shards_;
  std::filesystem::copy_file(shards_[0], dir_ / "shards/renamed.tar");
  renamed[0] = dir_ / "shards/renamed.tar";
  ExpectRefused([&] { (void)TarIndexFile(path, renamed); }, path, "stale: it indexes shard-000000.tar");
  std::filesystem::remove(dir_ / "shards/renamed.tar");

  // TarDataset writes a stale index anew and reads the shards as they are now.
  const TarDataset before(dir_ / "shards", {.in_memory = false});
  EXPECT_EQ(before.size(), 276);  // 4 shards of 64 and the rewritten one of 20
  std::filesystem::remove(shards_[4]);
  const TarDataset after(dir_ / "shards", {.in_memory = false});
  EXPECT_TRUE(after.index_written());
  EXPECT_EQ(after.size(), 256);
  EXPECT_EQ(after.Label(255), source_.Label(255));
}

TEST_F(TarIndexTest, TruncatedOverlongAndForeignFilesAreRefusedNamingThem) {
  const std::string path = dir_ / "index";
  WriteTarIndex(path, shards_, {});
  const auto whole = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, whole - 5);
  ExpectRefused([&] { (void)TarIndexFile(path, shards_); }, path, "truncated: 299 of 300");
  std::filesystem::resize_file(path, 30);  // inside the header
  ExpectRefused([&] { (void)TarIndexFile(path, shards_); }, path, "truncated");
  WriteTarIndex(path, shards_, {});
  std::filesystem::resize_file(path, whole + 7);
  ExpectRefused([&] { (void)TarIndexFile(path, shards_); }, path, "7 bytes past its last entry");
  testing::WriteFile(path, std::vector<uint8_t>(100, 'x'));
  ExpectRefused([&] { (void)TarIndexFile(path, shards_); }, path, "not a millrace tar index");
  try {
    (void)TarIndexFile(dir_ / "absent", shards_);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_EQ(e.file(), dir_ / "absent");
  }
  // TarDataset writes a truncated or foreign index anew.
  const std::string beside = (std::filesystem::path(dir_ / "shards") / "millrace.tarindex").string();
  testing::WriteFile(beside, std::vector<uint8_t>(100, 'x'));
  const TarDataset dataset(dir_ / "shards", {.in_memory = false});
  EXPECT_TRUE(dataset.index_written());
  EXPECT_EQ(dataset.size(), 300);
}

TEST_F(TarIndexTest, AnIndexCutAfterItWasOpenedFailsNamingItAndTheRecord) {
  const TarDataset dataset(dir_ / "shards", {.in_memory = false});
  EXPECT_EQ(dataset.Label(299), source_.Label(299));
  const auto whole = std::filesystem::file_size(dataset.index_path());
  std::filesystem::resize_file(dataset.index_path(), whole - 12 * 10);  // records 290.. gone
  EXPECT_EQ(dataset.Label(289), source_.Label(289));
  for (auto call : {+[](const TarDataset& d) { (void)d.Locate(295); },
                    +[](const TarDataset& d) { (void)d.Read(295); }}) {
    try {
      call(dataset);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo) << e.what();
      EXPECT_EQ(e.file(), dataset.index_path()) << e.what();
      EXPECT_EQ(e.record(), 295) << e.what();
    }
  }
}

}  // namespace
}  // namespace millrace::io
