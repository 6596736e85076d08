// RecordReader: the records of an image tree and of tar shards on disk, in a given order, read
// ahead through AsyncReader (io_uring and the pread pool) with a bounded number of reads in
// flight; the bytes decode to the very samples that a plain read gives; errors name the file
// and the record.
#include "io/record_reader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <numeric>
#include <random>

#include "fake_dataset.h"
#include "io/convert.h"
#include "io/image_folder.h"
#include "io/tar_dataset.h"
#include "io/tar_format.h"
#include "test_files.h"

namespace millrace::io {
namespace {

using testing::FakeDataset;
using testing::TempDir;

bool SameSample(const Sample& a, const Sample& b) {
  return a.label == b.label && a.index == b.index && a.image.shape() == b.image.shape() &&
         std::memcmp(a.image.raw_data(), b.image.raw_data(), a.image.nbytes()) == 0;
}

// A seeded permutation of [0, n), repeated `times` (two epochs' worth of order).
std::vector<int64_t> Shuffled(int64_t n, int times, uint64_t seed) {
  std::vector<int64_t> order;
  std::mt19937_64 rng(seed);
  for (int t = 0; t < times; ++t) {
    std::vector<int64_t> epoch(static_cast<size_t>(n));
    std::iota(epoch.begin(), epoch.end(), 0);
    std::shuffle(epoch.begin(), epoch.end(), rng);
    order.insert(order.end(), epoch.begin(), epoch.end());
  }
  return order;
}

RecordReader::NextIndex Over(const std::vector<int64_t>& order) {
  return [&order, k = size_t{0}]() mutable -> std::optional<int64_t> {
    if (k == order.size()) return std::nullopt;
    return order[k++];
  };
}

// Reads `order` of `dataset` with `depth` reads in flight and checks each record against the
// plain read (Read) and the reads in flight against the bound.
void ExpectReadsInOrder(const IndexedDataset& dataset, const std::vector<int64_t>& order,
                        ReadBackend backend, int depth) {
  AsyncReader reader({.backend = backend});
  EXPECT_EQ(reader.uses_io_uring(), backend == ReadBackend::kIoUring);
  RecordReader records(dataset, Over(order), reader, {.prefetch_depth = depth});
  EXPECT_LE(records.in_flight(), depth);
  size_t k = 0;
  while (std::optional<EncodedRecord> r = records.Next()) {
    ASSERT_LT(k, order.size());
    ASSERT_EQ(r->index, order[k]);
    EXPECT_EQ(r->label, dataset.Label(order[k]));
    EXPECT_LE(records.in_flight(), depth);
    const std::optional<RecordLocation> where = dataset.Locate(order[k]);
    ASSERT_TRUE(where.has_value());
    EXPECT_EQ(r->bytes, ReadRangeSync(where->range)) << k;
    EXPECT_TRUE(SameSample(dataset.Decode(*r), dataset.Read(order[k]))) << k;
    ++k;
  }
  EXPECT_EQ(k, order.size());
  EXPECT_EQ(records.records(), static_cast<int64_t>(order.size()));
  // Bounded, and the reads did run ahead up to the bound.
  EXPECT_EQ(records.max_in_flight(), depth);
  EXPECT_EQ(records.in_flight(), 0);
}

std::vector<ReadBackend> Backends() {
  std::vector<ReadBackend> backends = {ReadBackend::kPread};
  try {
    AsyncReader probe({.backend = ReadBackend::kIoUring});
    backends.push_back(ReadBackend::kIoUring);
  } catch (const Error& e) {
    std::cerr << "io_uring refused here, testing the pread pool only: " << e.what() << "\n";
  }
  return backends;
}

class RecordReaderTest : public ::testing::Test {
 protected:
  FakeDataset source_{300, 10, {1, 8, 8}};
  TempDir dir_;
};

TEST_F(RecordReaderTest, ImageTreeRecordsComeInOrderWithinTheDepthAndDecodeLikeAPlainRead) {
  WriteImageTree(source_, dir_ / "tree", {.format = ImageFormat::kPng});
  const ImageFolderDataset tree(dir_ / "tree");
  ASSERT_EQ(tree.size(), 300);
  const std::vector<int64_t> order = Shuffled(tree.size(), 2, 5);
  for (ReadBackend backend : Backends()) {
    for (int depth : {1, 3, 16, 64}) {
      SCOPED_TRACE(::testing::Message()
                   << "depth " << depth << " io_uring " << (backend == ReadBackend::kIoUring));
      ExpectReadsInOrder(tree, order, backend, depth);
    }
  }
}

TEST_F(RecordReaderTest, TarShardsOnDiskKeepAnIndexAndReadLikeTheInMemoryDataset) {
  WriteTarShards(source_, dir_ / "shards", {.format = ImageFormat::kJpeg, .samples_per_shard = 64});
  const TarDataset in_memory(dir_ / "shards");
  const TarDataset on_disk(dir_ / "shards", {.in_memory = false});
  ASSERT_EQ(on_disk.size(), 300);
  EXPECT_EQ(on_disk.num_classes(), 10);
  EXPECT_EQ(on_disk.shards().size(), 5u);
  for (int64_t i = 0; i < on_disk.size(); ++i) {
    // The index points at exactly the bytes the parse of the whole shard found.
    const std::optional<RecordLocation> where = on_disk.Locate(i);
    ASSERT_TRUE(where.has_value());
    EXPECT_EQ(ReadRangeSync(where->range), in_memory.record(i).bytes) << i;
    EXPECT_EQ(where->range.path, in_memory.record(i).source);
    EXPECT_EQ(on_disk.Label(i), in_memory.Label(i));
    ASSERT_TRUE(SameSample(on_disk.Read(i), in_memory.Read(i))) << i;
  }
  EXPECT_FALSE(in_memory.Locate(0).has_value());  // in memory: nothing to read
  const std::vector<int64_t> order = Shuffled(on_disk.size(), 2, 9);
  for (ReadBackend backend : Backends()) {
    ExpectReadsInOrder(on_disk, order, backend, 32);
  }
}

TEST_F(RecordReaderTest, IndexTarShardFindsEveryMemberThatTheParseFinds) {
  WriteTar(dir_ / "s.tar", {{"a.png", Bytes(700, 1)},
                            {"a.cls", Bytes{'3'}},
                            {"a.json", Bytes{'{', '}'}},
                            {"dir/b.cls", Bytes{'7'}},
                            {"dir/b.png", Bytes(1, 2)},
                            {"c.jpg", Bytes(513, 3)},
                            {"c.cls", Bytes{'1', '\n'}}});
  const std::vector<EncodedRecord> parsed =
      ParseTarShard(ReadFileSync(dir_ / "s.tar"), dir_ / "s.tar", 4, {.num_classes = 10});
  std::vector<TarMember> members;
  IndexTarShard(dir_ / "s.tar", 4, {.num_classes = 10},
                [&](TarMember&& m) { members.push_back(std::move(m)); });
  ASSERT_EQ(members.size(), parsed.size());
  ASSERT_EQ(members.size(), 3u);
  for (size_t i = 0; i < members.size(); ++i) {
    EXPECT_EQ(members[i].index, parsed[i].index);
    EXPECT_EQ(members[i].label, parsed[i].label);
    EXPECT_EQ(members[i].entry, parsed[i].entry);
    EXPECT_EQ(ReadRangeSync({dir_ / "s.tar", members[i].offset, members[i].size}), parsed[i].bytes);
  }
  // A bad label is the parse's error, naming the shard and the entry.
  WriteTar(dir_ / "bad.tar", {{"k.png", Bytes(3, 1)}, {"k.cls", Bytes{'x'}}});
  try {
    IndexTarShard(dir_ / "bad.tar", 0, {}, [](TarMember&&) {});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_NE(e.file().find("bad.tar [entry k.cls]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(IndexTarShard(dir_ / "absent.tar", 0, {}, [](TarMember&&) {}), Error);
}

// A record's file gone, cut short or cut off after the index was made: Next fails naming the
// file and the record (the records before it come first).
TEST_F(RecordReaderTest, MissingAndShortFilesFailNamingTheFileAndTheRecord) {
  WriteImageTree(source_, dir_ / "tree", {.format = ImageFormat::kPng});
  WriteTarShards(source_, dir_ / "shards", {.samples_per_shard = 100});
  const ImageFolderDataset tree(dir_ / "tree");
  const TarDataset shards(dir_ / "shards", {.in_memory = false});
  std::filesystem::remove(tree.file(7).path);
  std::filesystem::resize_file(tree.file(9).path, tree.file(9).bytes / 2);
  std::filesystem::resize_file(shards.shards()[2], 512);  // records 200.. lie past its end
  auto expect_error = [](const IndexedDataset& dataset, std::vector<int64_t> order,
                         ReadBackend backend, const std::string& file, int64_t record,
                         const std::string& words) {
    AsyncReader reader({.backend = backend});
    RecordReader records(dataset, Over(order), reader, {.prefetch_depth = 4});
    ASSERT_TRUE(records.Next().has_value());  // order[0] is good
    try {
      records.Next();
      ADD_FAILURE() << "no error for " << file;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kIo) << e.what();
      EXPECT_EQ(e.file(), file) << e.what();
      EXPECT_EQ(e.record(), record) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  for (ReadBackend backend : Backends()) {
    expect_error(tree, {3, 7, 4}, backend, tree.file(7).path, 7, "cannot open");
    expect_error(tree, {3, 9, 4}, backend, tree.file(9).path, 9, "file ends after");
    expect_error(shards, {5, 250, 4}, backend, shards.shards()[2], 250, "file ends after");
  }
  // The plain read says the same.
  try {
    tree.Read(7);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.record(), 7);
  }
  try {
    shards.Read(250);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), shards.shards()[2]) << e.what();
    EXPECT_EQ(e.record(), 250);
  }
}

// The converter's repeat (for scaling runs): copy r of record i is record r * n + i.
TEST_F(RecordReaderTest, RepeatedShardsHoldTheRecordsOverAndOver) {
  WriteTarShards(source_, dir_ / "x3",
                 {.format = ImageFormat::kPng, .samples_per_shard = 128, .limit = 50, .repeat = 3});
  const TarDataset x3(dir_ / "x3", {.in_memory = false});
  ASSERT_EQ(x3.size(), 150);
  for (int64_t k = 0; k < x3.size(); ++k) {
    const Sample s = x3.Read(k);
    Sample expected = source_.Read(k % 50);
    expected.index = k;
    ASSERT_TRUE(SameSample(s, expected)) << k;
  }
  EXPECT_THROW(WriteTarShards(source_, dir_ / "x0", {.repeat = 0}), Error);
}

TEST_F(RecordReaderTest, RecordsHeldInMemoryAreNotReadAndDecodeToTheirSample) {
  const std::vector<int64_t> order = Shuffled(source_.size(), 1, 3);
  AsyncReader reader({.backend = ReadBackend::kPread});
  RecordReader records(source_, Over(order), reader, {.prefetch_depth = 8});
  size_t k = 0;
  while (auto r = records.Next()) {
    EXPECT_TRUE(r->bytes.empty());
    EXPECT_EQ(r->label, source_.Label(order[k]));
    EXPECT_TRUE(SameSample(source_.Decode(*r), source_.Read(order[k])));
    ++k;
  }
  EXPECT_EQ(k, order.size());
  EXPECT_THROW(RecordReader(source_, Over(order), reader, {.prefetch_depth = 0}), Error);
}

}  // namespace
}  // namespace millrace::io
