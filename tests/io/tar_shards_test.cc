#include "io/tar_shards.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "fake_dataset.h"
#include "io/convert.h"
#include "io/image_codec.h"
#include "io/tar_dataset.h"
#include "test_files.h"

namespace millrace::io {
namespace {

using testing::FakeDataset;
using testing::TempDir;

Bytes Text(const std::string& s) { return Bytes(s.begin(), s.end()); }
Bytes SmallPng(int64_t record) {
  return EncodePng(FakeDataset(100, 1, {1, 4, 4}).Read(record).image);
}

void ExpectTarError(const std::vector<std::pair<std::string, Bytes>>& entries,
                    const std::string& entry, const std::string& words, int64_t num_classes = 10) {
  TempDir dir;
  WriteTar(dir / "s.tar", entries);
  const Bytes bytes = ReadFileSync(dir / "s.tar");
  try {
    ParseTarShard(bytes, "s.tar", 0, {.num_classes = num_classes});
    ADD_FAILURE() << "no error; expected '" << words << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_NE(e.file().find("s.tar"), std::string::npos) << e.what();
    EXPECT_NE(e.file().find(entry), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
  SkipLog log;
  auto records = ParseTarShard(
      bytes, "s.tar", 0,
      {.num_classes = num_classes, .policy = BadInputPolicy::kSkip, .skip_log = &log});
  EXPECT_EQ(log.count(), 1) << log.Summary();
  EXPECT_EQ(records.size(), 2u);  // the good samples around the bad one
}

TEST(TarShardsTest, GroupsEntriesByKeyIntoLabelledRecords) {
  TempDir dir;
  WriteTar(dir / "s.tar", {{"a.png", SmallPng(0)},
                           {"a.cls", Text("3\n")},
                           {"a.json", Text("{}")},
                           {"dir/b.cls", Text("7")},
                           {"dir/b.png", SmallPng(1)}});
  auto records = ParseTarShard(ReadFileSync(dir / "s.tar"), "s.tar", 5, {.num_classes = 10});
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].label, 3);
  EXPECT_EQ(records[0].entry, "a.png");
  EXPECT_EQ(records[0].index, (int64_t{5} << 32) | 0);
  EXPECT_EQ(records[1].label, 7);
  EXPECT_EQ(records[1].entry, "dir/b.png");
  EXPECT_EQ(records[1].index, (int64_t{5} << 32) | 1);
  EXPECT_EQ(records[1].bytes, SmallPng(1));
}

TEST(TarShardsTest, BadEntriesNameTheShardAndEntryAndSkipCountsThem) {
  ExpectTarError({{"a.png", SmallPng(0)},
                  {"a.cls", Text("1")},
                  {"b.png", SmallPng(1)},
                  {"c.png", SmallPng(2)},
                  {"c.cls", Text("2")}},
                 "b.png", "without a label");
  ExpectTarError({{"a.png", SmallPng(0)},
                  {"a.cls", Text("1")},
                  {"b.png", SmallPng(1)},
                  {"b.cls", Text("10")},
                  {"c.png", SmallPng(2)},
                  {"c.cls", Text("2")}},
                 "b.cls", "label 10 out of range");
  ExpectTarError({{"a.png", SmallPng(0)},
                  {"a.cls", Text("1")},
                  {"b.png", SmallPng(1)},
                  {"b.cls", Text("x1")},
                  {"c.png", SmallPng(2)},
                  {"c.cls", Text("2")}},
                 "b.cls", "not an integer");
  ExpectTarError({{"a.png", SmallPng(0)},
                  {"a.cls", Text("1")},
                  {"b.cls", Text("4")},
                  {"c.png", SmallPng(2)},
                  {"c.cls", Text("2")}},
                 "b.cls", "without an image");
}

TEST(TarShardsTest, TruncatedAndGarbageShardsAreDataErrors) {
  TempDir dir;
  std::vector<std::pair<std::string, Bytes>> entries;
  for (int i = 0; i < 6; ++i) {
    entries.push_back({std::to_string(i) + ".png", SmallPng(i)});
    entries.push_back({std::to_string(i) + ".cls", Text(std::to_string(i))});
  }
  WriteTar(dir / "s.tar", entries);
  Bytes bytes = ReadFileSync(dir / "s.tar");
  bytes.resize(bytes.size() / 2 + 100);
  EXPECT_THROW(ParseTarShard(bytes, "s.tar", 0), Error);
  SkipLog log;
  auto kept = ParseTarShard(bytes, "s.tar", 0, {.policy = BadInputPolicy::kSkip, .skip_log = &log});
  EXPECT_GE(log.count(), 1);
  EXPECT_GE(kept.size(), 1u);
  EXPECT_LT(kept.size(), 6u);
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_EQ(kept[i].label, static_cast<int64_t>(i));
  Bytes garbage(3000, 0x41);
  EXPECT_THROW(ParseTarShard(garbage, "g.tar", 0), Error);
}

// The first member that decodes sets a TarDataset's image size: under kSkip an undecodable first
// member is passed over (it fails again when read), under kFail the open names the shard, the
// member and the record; in memory and on disk alike.
TEST(TarShardsTest, AnUndecodableFirstMemberIsPassedOverUnderSkip) {
  TempDir dir;
  const std::string shards = dir / "shards";
  std::filesystem::create_directories(shards);
  std::vector<std::pair<std::string, Bytes>> entries = {{"a.png", Text("not an image")},
                                                        {"a.cls", Text("1")}};
  for (int i = 0; i < 3; ++i) {
    entries.push_back({"b" + std::to_string(i) + ".png", SmallPng(i)});
    entries.push_back({"b" + std::to_string(i) + ".cls", Text(std::to_string(i))});
  }
  WriteTar(shards + "/s.tar", entries);
  for (bool in_memory : {true, false}) {
    SCOPED_TRACE(in_memory ? "in memory" : "on disk");
    try {
      TarDataset refused(shards, {.in_memory = in_memory});
      ADD_FAILURE() << "an undecodable first member was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
      EXPECT_NE(std::string(e.what()).find("s.tar [entry a.png"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("record 0:"), std::string::npos) << e.what();
    }
    const TarDataset dataset(shards, {.in_memory = in_memory, .policy = BadInputPolicy::kSkip});
    ASSERT_EQ(dataset.size(), 4);
    EXPECT_THROW(dataset.Read(0), Error);
    EXPECT_EQ(dataset.Read(1).image.shape(), (Shape{1, 4, 4}));
  }
}

// The streaming parse, fed in pieces of any size, gives what the in-memory parse gives: the same
// records, and the same errors and skips.
TEST(TarShardsTest, StreamingParseInPiecesEqualsTheInMemoryParse) {
  TempDir dir;
  std::vector<std::pair<std::string, Bytes>> entries;
  for (int i = 0; i < 9; ++i) {
    entries.push_back({"k" + std::to_string(i) + ".png", SmallPng(i)});
    if (i != 4) entries.push_back({"k" + std::to_string(i) + ".cls", Text(std::to_string(i))});
  }
  WriteTar(dir / "s.tar", entries);
  const Bytes whole = ReadFileSync(dir / "s.tar");
  Bytes truncated = whole;
  truncated.resize(whole.size() * 2 / 3);
  for (const Bytes* bytes : std::vector<const Bytes*>{&whole, &truncated}) {
    SkipLog memory_log;
    const TarParseOptions memory_options{.policy = BadInputPolicy::kSkip, .skip_log = &memory_log};
    const auto expected = ParseTarShard(*bytes, "s.tar", 2, memory_options);
    ASSERT_GE(expected.size(), 4u);
    for (size_t piece : {size_t{1}, size_t{7}, size_t{512}, size_t{1000}, bytes->size()}) {
      size_t at = 0;
      const std::function<std::span<const uint8_t>()> read = [&] {
        const size_t n = std::min(piece, bytes->size() - at);
        std::span<const uint8_t> out(bytes->data() + at, n);
        at += n;
        return out;
      };
      SkipLog log;
      std::vector<EncodedRecord> got;
      ParseTarShard(read, "s.tar", 2, {.policy = BadInputPolicy::kSkip, .skip_log = &log},
                    [&](EncodedRecord&& r) { got.push_back(std::move(r)); });
      ASSERT_EQ(got.size(), expected.size()) << "pieces of " << piece;
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].bytes, expected[i].bytes);
        EXPECT_EQ(got[i].label, expected[i].label);
        EXPECT_EQ(got[i].index, expected[i].index);
        EXPECT_EQ(got[i].entry, expected[i].entry);
        EXPECT_EQ(got[i].source, "s.tar");
      }
      EXPECT_EQ(log.count(), memory_log.count()) << "pieces of " << piece;
      // kFail: the first bad sample (k4, without a label) throws, naming the shard and entry.
      at = 0;
      int emitted = 0;
      try {
        ParseTarShard(read, "s.tar", 2, {}, [&](EncodedRecord&&) { ++emitted; });
        ADD_FAILURE() << "no error";
      } catch (const Error& e) {
        EXPECT_NE(e.file().find("k4.png"), std::string::npos) << e.what();
      }
      EXPECT_EQ(emitted, 4);  // k0..k3 came before the error
    }
  }
  // An error of the source (an unreadable shard) surfaces as itself.
  const std::function<std::span<const uint8_t>()> failing = []() -> std::span<const uint8_t> {
    throw Error(ErrorKind::kIo, "read failed").WithFile("s.tar");
  };
  try {
    ParseTarShard(failing, "s.tar", 0, {}, [](EncodedRecord&&) {});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
}

// Shards written by the converter, read back by two ranks.
class TarStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shards_ = WriteTarShards(source_, dir_ / "shards",
                             {.format = ImageFormat::kPng, .samples_per_shard = 7});
  }
  std::vector<EncodedRecord> ReadAll(int rank, int world, int64_t epoch, int64_t buffer = 16) {
    AsyncReader reader;
    TarShardStream stream(shards_, reader,
                          {.seed = 11,
                           .epoch = epoch,
                           .shuffle_buffer = buffer,
                           .rank = rank,
                           .world = world,
                           .shards_in_flight = 2,
                           .parse = {.num_classes = 10}});
    std::vector<EncodedRecord> out;
    while (auto r = stream.Next()) out.push_back(std::move(*r));
    return out;
  }
  TempDir dir_;
  FakeDataset source_{40, 10, {1, 4, 4}};
  std::vector<std::string> shards_;
};

TEST_F(TarStreamTest, ConverterShardsHoldEveryRecordWithItsLabelAndPixels) {
  ASSERT_EQ(shards_.size(), 6u);  // 40 records, 7 per shard
  EXPECT_EQ(ListTarShards(dir_ / "shards"), shards_);
  auto records = ReadAll(0, 1, 0);
  ASSERT_EQ(records.size(), 40u);
  std::set<int64_t> keys;
  for (const auto& r : records) {
    const int64_t record = std::stoll(r.entry.substr(0, r.entry.find('.')));
    keys.insert(record);
    EXPECT_EQ(r.label, record % 10);
    Tensor img = DecodeImage(r.bytes, r.entry);
    EXPECT_EQ(img.data<uint8_t>()[5], FakeDataset::Pixel(record, 0, 1, 1));
  }
  EXPECT_EQ(keys.size(), 40u);
}

TEST_F(TarStreamTest, TwoRanksCoverTheEpochExactlyOnce) {
  for (int64_t epoch : {0, 1}) {
    std::map<std::string, int> seen;
    size_t total = 0;
    for (int rank : {0, 1}) {
      for (const auto& r : ReadAll(rank, 2, epoch)) {
        ++seen[r.source + "/" + r.entry];
        ++total;
      }
    }
    EXPECT_EQ(total, 40u) << "epoch " << epoch;
    EXPECT_EQ(seen.size(), 40u) << "epoch " << epoch;
    for (const auto& [key, count] : seen) EXPECT_EQ(count, 1) << key;
  }
}

TEST_F(TarStreamTest, ShuffleIsSeededPerEpoch) {
  auto order = [](const std::vector<EncodedRecord>& rs) {
    std::vector<std::string> keys;
    for (const auto& r : rs) keys.push_back(r.entry);
    return keys;
  };
  EXPECT_EQ(order(ReadAll(0, 1, 3)), order(ReadAll(0, 1, 3)));
  EXPECT_NE(order(ReadAll(0, 1, 3)), order(ReadAll(0, 1, 4)));
  AsyncReader reader;
  TarShardStream plain(shards_, reader, {.shuffle = false});
  for (int64_t i = 0; i < 40; ++i) {
    auto r = plain.Next();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(std::stoll(r->entry), i);  // in record order without shuffling
  }
}

// Records reach the consumer in batches from several io threads; whatever the batch size, queue
// bound, shards in flight and chunk size, each rank's output is the same sequence, and the ranks
// together cover the epoch exactly once.
TEST_F(TarStreamTest, BatchedHandOffCoversTheEpochOnceWithRankShardingWhateverTheThreading) {
  struct Threading {
    int shards_in_flight, batch_records, queued_batches;
    uint64_t chunk_bytes;
    int chunks_in_flight;
  };
  const std::vector<Threading> threadings = {{1, 1, 1, 512, 1},
                                             {3, 2, 1, 1000, 2},
                                             {2, 256, 16, uint64_t{1} << 20, 3},
                                             {6, 3, 2, 4096, 4}};
  for (ReadBackend backend : {ReadBackend::kAuto, ReadBackend::kPread}) {
    AsyncReader reader({.backend = backend});
    for (int world : {1, 2, 4}) {
      std::map<std::string, int> seen;
      for (int rank = 0; rank < world; ++rank) {
        std::vector<std::string> reference;
        for (size_t t = 0; t < threadings.size(); ++t) {
          const Threading& th = threadings[t];
          TarShardStream stream(shards_, reader,
                                {.seed = 5,
                                 .epoch = 2,
                                 .shuffle_buffer = 9,
                                 .rank = rank,
                                 .world = world,
                                 .shards_in_flight = th.shards_in_flight,
                                 .batch_records = th.batch_records,
                                 .queued_batches = th.queued_batches,
                                 .chunk_bytes = th.chunk_bytes,
                                 .chunks_in_flight = th.chunks_in_flight,
                                 .parse = {.num_classes = 10}});
          std::vector<std::string> keys;
          while (auto r = stream.Next()) {
            keys.push_back(r->source + "/" + r->entry);
            const int64_t record = std::stoll(r->entry.substr(0, r->entry.find('.')));
            EXPECT_EQ(r->label, record % 10);
          }
          if (t == 0) {
            reference = keys;
            for (const auto& k : keys) ++seen[k];
          } else {
            EXPECT_EQ(keys, reference)
                << "world " << world << ", rank " << rank << ", threading " << t;
          }
        }
      }
      EXPECT_EQ(seen.size(), 40u) << "world " << world;
      for (const auto& [key, count] : seen) EXPECT_EQ(count, 1) << key;
    }
  }
}

TEST_F(TarStreamTest, BadShardsMidEpochFailAfterTheirGoodRecordsOrAreSkipped) {
  // Shard 2 cut off in the middle, shard 4 gone.
  const std::string cut = shards_[2];
  Bytes bytes = ReadFileSync(cut);
  bytes.resize(bytes.size() / 2);
  testing::WriteFile(cut, bytes);
  std::filesystem::remove(shards_[4]);
  AsyncReader reader;
  TarShardStream failing(shards_, reader,
                         {.shuffle = false, .batch_records = 2, .parse = {.num_classes = 10}});
  int64_t before_error = 0;
  try {
    while (failing.Next()) ++before_error;
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(cut), std::string::npos) << e.what();
  }
  EXPECT_GE(before_error, 14);  // shards 0 and 1 whole, then what shard 2 holds before the cut
  EXPECT_LT(before_error, 21);

  SkipLog log;
  TarShardStream skipping(
      shards_, reader,
      {.shuffle = false,
       .batch_records = 2,
       .parse = {.num_classes = 10, .policy = BadInputPolicy::kSkip, .skip_log = &log}});
  std::set<int64_t> records;
  while (auto r = skipping.Next()) records.insert(std::stoll(r->entry));
  EXPECT_GE(log.count(), 2) << log.Summary();  // the cut and the missing shard
  bool names_missing = false;
  for (const auto& m : log.messages()) names_missing |= m.find(shards_[4]) != std::string::npos;
  EXPECT_TRUE(names_missing) << log.Summary();
  for (int64_t i = 0; i < 14; ++i) EXPECT_EQ(records.count(i), 1u) << i;   // shards 0, 1
  for (int64_t i = 28; i < 35; ++i) EXPECT_EQ(records.count(i), 0u) << i;  // shard 4
  for (int64_t i = 35; i < 40; ++i) EXPECT_EQ(records.count(i), 1u) << i;  // shard 5
}

TEST_F(TarStreamTest, TarDatasetReadsEveryRecordInShardOrderWithItsPixels) {
  TarDataset dataset(dir_ / "shards");
  ASSERT_EQ(dataset.size(), 40);
  EXPECT_EQ(dataset.num_classes(), 10);  // the largest label + 1
  EXPECT_EQ(dataset.shards().size(), 6u);
  for (int64_t i : {0, 6, 7, 39}) {  // the converter writes records in order: i is record i
    const Sample s = dataset.Read(i);
    EXPECT_EQ(s.index, i);
    EXPECT_EQ(s.label, i % 10);
    const Sample expected = source_.Read(i);
    ASSERT_EQ(s.image.shape(), expected.image.shape());
    for (int64_t k = 0; k < s.image.numel(); ++k) {
      ASSERT_EQ(s.image.data<uint8_t>()[k], expected.image.data<uint8_t>()[k]) << i << " " << k;
    }
  }
  EXPECT_THROW(dataset.Read(40), Error);
  // Opening fails with `kind`, and the message holds `names`.
  auto expect_refused = [&](const std::string& dir, TarDatasetOptions options, ErrorKind kind,
                            const std::string& names) {
    try {
      TarDataset refused(dir, options);
      ADD_FAILURE() << dir << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
    }
  };
  expect_refused(dir_ / "none", {}, ErrorKind::kIo, "none");
  // Shards larger than the memory allowed, naming the directory.
  expect_refused(dir_ / "shards", {.max_bytes = 1000}, ErrorKind::kInvalidArgument, "shards");
  // A label outside the classes asked for, naming the shard (label 5 with 5 classes).
  expect_refused(dir_ / "shards", {.num_classes = 5}, ErrorKind::kData, "shard-000000.tar");
}

TEST_F(TarStreamTest, DestroyingAStreamMidEpochStopsItsIoThreads) {
  AsyncReader reader;
  for (int taken : {0, 1, 5}) {
    TarShardStream stream(shards_, reader,
                          {.seed = 3,
                           .shards_in_flight = 3,
                           .batch_records = 1,
                           .queued_batches = 1,
                           .chunk_bytes = 512,
                           .chunks_in_flight = 1});
    for (int i = 0; i < taken; ++i) ASSERT_TRUE(stream.Next().has_value());
  }  // each destructor returns (the io threads wait on full queues or reads)
}

}  // namespace
}  // namespace millrace::io
