#include "io/tar_shards.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "fake_dataset.h"
#include "io/convert.h"
#include "io/image_codec.h"
#include "test_files.h"

namespace millrace::io {
namespace {

using testing::FakeDataset;
using testing::TempDir;

Bytes Text(const std::string& s) { return Bytes(s.begin(), s.end()); }
Bytes Png(int64_t record) { return EncodePng(FakeDataset(100, 1, {1, 4, 4}).Read(record).image); }

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
  WriteTar(dir / "s.tar", {{"a.png", Png(0)},
                           {"a.cls", Text("3\n")},
                           {"a.json", Text("{}")},
                           {"dir/b.cls", Text("7")},
                           {"dir/b.png", Png(1)}});
  auto records = ParseTarShard(ReadFileSync(dir / "s.tar"), "s.tar", 5, {.num_classes = 10});
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].label, 3);
  EXPECT_EQ(records[0].entry, "a.png");
  EXPECT_EQ(records[0].index, (int64_t{5} << 32) | 0);
  EXPECT_EQ(records[1].label, 7);
  EXPECT_EQ(records[1].entry, "dir/b.png");
  EXPECT_EQ(records[1].index, (int64_t{5} << 32) | 1);
  EXPECT_EQ(records[1].bytes, Png(1));
}

TEST(TarShardsTest, BadEntriesNameTheShardAndEntryAndSkipCountsThem) {
  ExpectTarError({{"a.png", Png(0)},
                  {"a.cls", Text("1")},
                  {"b.png", Png(1)},
                  {"c.png", Png(2)},
                  {"c.cls", Text("2")}},
                 "b.png", "without a label");
  ExpectTarError({{"a.png", Png(0)},
                  {"a.cls", Text("1")},
                  {"b.png", Png(1)},
                  {"b.cls", Text("10")},
                  {"c.png", Png(2)},
                  {"c.cls", Text("2")}},
                 "b.cls", "label 10 out of range");
  ExpectTarError({{"a.png", Png(0)},
                  {"a.cls", Text("1")},
                  {"b.png", Png(1)},
                  {"b.cls", Text("x1")},
                  {"c.png", Png(2)},
                  {"c.cls", Text("2")}},
                 "b.cls", "not an integer");
  ExpectTarError({{"a.png", Png(0)},
                  {"a.cls", Text("1")},
                  {"b.cls", Text("4")},
                  {"c.png", Png(2)},
                  {"c.cls", Text("2")}},
                 "b.cls", "without an image");
}

TEST(TarShardsTest, TruncatedAndGarbageShardsAreDataErrors) {
  TempDir dir;
  std::vector<std::pair<std::string, Bytes>> entries;
  for (int i = 0; i < 6; ++i) {
    entries.push_back({std::to_string(i) + ".png", Png(i)});
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

}  // namespace
}  // namespace millrace::io
