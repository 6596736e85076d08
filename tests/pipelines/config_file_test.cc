// Training settings as JSON: the round trip, flags kept over the file, and the refusals
// (bad JSON with its line and column, unknown keys, bad values), each naming the file.
#include "pipelines/config_file.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"

namespace millrace::pipelines {
namespace {

std::string Refusal(const std::string& text, TrainConfig& config) {
  try {
    ApplyConfigText(text, "tune.json", config);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.what();
  }
  return "(accepted)";
}

TEST(ConfigFile, RoundTrip) {
  TrainConfig c;
  c.model = "cnn";
  c.data_format = "tar";
  c.augment = true;
  c.batch_size = 96;
  c.read_ahead = 64;
  c.compute_threads = 3;
  c.concurrency = {{"augment", 2}};
  c.capacity = {{"augment", 200}, {"collate", 194}, {"forward", 4}};
  const std::string path =
      (std::filesystem::temp_directory_path() / "millrace_config_file_test.json").string();
  WriteConfigFile(path, c, "a note");
  TrainConfig back;
  const std::set<std::string> applied = ReadConfigFile(path, back);
  std::filesystem::remove(path);
  EXPECT_EQ(back.model, "cnn");
  EXPECT_EQ(back.data_format, "tar");
  EXPECT_TRUE(back.augment);
  EXPECT_EQ(back.batch_size, 96);
  EXPECT_EQ(back.read_ahead, 64);
  EXPECT_EQ(back.compute_threads, 3);
  EXPECT_EQ(back.concurrency, c.concurrency);
  EXPECT_EQ(back.capacity, c.capacity);
  EXPECT_EQ(ConfigFileText(back, "a note"), ConfigFileText(c, "a note"));
  EXPECT_EQ(applied.count("batch_size"), 1u);
}

TEST(ConfigFile, KeptKeysAndCommandLineStagesWin) {
  TrainConfig c;
  c.batch_size = 32;                 // from --batch-size
  c.concurrency = {{"augment", 1}};  // from --concurrency augment=1
  const std::set<std::string> applied = ApplyConfigText(
      R"({"batch_size": 256, "compute_threads": 2, "limit": 500,
          "concurrency": {"augment": 3, "evaluate": 2}})",
      "tune.json", c, {"batch_size"});
  EXPECT_EQ(c.batch_size, 32);
  EXPECT_EQ(c.compute_threads, 2);
  EXPECT_EQ(c.limit, 500);
  EXPECT_EQ(c.concurrency.at("augment"), 1);
  EXPECT_EQ(c.concurrency.at("evaluate"), 2);
  EXPECT_EQ(applied.count("batch_size"), 0u);
  EXPECT_EQ(applied.count("compute_threads"), 1u);
}

TEST(ConfigFile, BadJsonNamesTheFileLineAndColumn) {
  TrainConfig c;
  const std::string m = Refusal("{\n  \"batch_size\": 128,\n  \"augment\": tru\n}", c);
  EXPECT_NE(m.find("tune.json"), std::string::npos) << m;
  EXPECT_NE(m.find("line 3"), std::string::npos) << m;
  EXPECT_NE(m.find("column"), std::string::npos) << m;
  EXPECT_EQ(c.batch_size, 128);  // nothing applied
}

TEST(ConfigFile, UnknownKeyIsRefusedNamingIt) {
  TrainConfig c;
  const std::string m = Refusal(R"({"batch_size": 64, "batchsize": 64})", c);
  EXPECT_NE(m.find("tune.json"), std::string::npos) << m;
  EXPECT_NE(m.find("\"batchsize\""), std::string::npos) << m;
  EXPECT_EQ(c.batch_size, 128);  // a refused file changes nothing
}

TEST(ConfigFile, BadValuesAreRefusedNamingTheKey) {
  TrainConfig c;
  EXPECT_NE(Refusal(R"({"batch_size": "big"})", c).find("\"batch_size\""), std::string::npos);
  EXPECT_NE(Refusal(R"({"batch_size": 0})", c).find("\"batch_size\""), std::string::npos);
  EXPECT_NE(Refusal(R"({"concurrency": {"augment": 0}})", c).find("concurrency.augment"),
            std::string::npos);
  EXPECT_NE(Refusal(R"({"capacity": [4]})", c).find("\"capacity\""), std::string::npos);
  EXPECT_NE(Refusal(R"({"format": "csv"})", c).find("\"format\""), std::string::npos);
  EXPECT_NE(Refusal(R"([1, 2])", c).find("JSON object"), std::string::npos);
}

TEST(ConfigFile, MissingFileIsAnIoError) {
  TrainConfig c;
  try {
    ReadConfigFile("/nonexistent/tune.json", c);
    FAIL() << "accepted a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tune.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace millrace::pipelines
