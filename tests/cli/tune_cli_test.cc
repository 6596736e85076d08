// `millrace train --config FILE` (settings from JSON; flags override; refusals exit 2 naming the
// file and the key) and a smoke run of `millrace tune`.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/cli/run_millrace.h"

namespace {

using TuneCliResult = ::millrace::testing::CliResult;
using ::millrace::testing::RunMillrace;
constexpr auto& Contains = ::millrace::testing::Has;

std::string TempFile(const std::string& name, const std::string& text) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << text;
  return path;
}

constexpr const char* kShortRun =
    "train --limit 512 --epochs 1 --model mlp-small --no-eval --test-limit 100";

TEST(TrainConfigFlag, FileIsAppliedAndFlagsOverrideIt) {
  const std::string path = TempFile("millrace_cli_config.json",
                                    R"({"batch_size": 32, "compute_threads": 1,
                                        "concurrency": {"augment": 2}})");
  TuneCliResult r = RunMillrace(std::string(kShortRun) + " --config " + path);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "16 steps of 32")) << r.out;
  EXPECT_TRUE(Contains(r.out, "augment workers 2")) << r.out;
  TuneCliResult o = RunMillrace(std::string(kShortRun) + " --config " + path + " --batch-size 64");
  EXPECT_EQ(o.code, 0) << o.out;
  EXPECT_TRUE(Contains(o.out, "8 steps of 64")) << o.out;
  EXPECT_TRUE(Contains(o.out, "overridden by flags: --batch-size")) << o.out;
  std::filesystem::remove(path);
}

TEST(TrainConfigFlag, UnknownKeyExits2NamingTheFileAndTheKey) {
  const std::string path = TempFile("millrace_cli_config_unknown.json", R"({"batch-size": 32})");
  TuneCliResult r = RunMillrace(std::string(kShortRun) + " --config " + path);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(Contains(r.out, path)) << r.out;
  EXPECT_TRUE(Contains(r.out, "unknown key \"batch-size\"")) << r.out;
  std::filesystem::remove(path);
}

TEST(TrainConfigFlag, BadJsonExits2WithTheLine) {
  const std::string path =
      TempFile("millrace_cli_config_bad.json", "{\n  \"batch_size\": 32,\n  \"augment\" true\n}");
  TuneCliResult r = RunMillrace(std::string(kShortRun) + " --config " + path);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(Contains(r.out, path)) << r.out;
  EXPECT_TRUE(Contains(r.out, "line 3")) << r.out;
  std::filesystem::remove(path);
}

// A smoke run on a small subset: the table, the choice, the explanation and a JSON file that
// parses and that `train --config` takes; --exhaustive prints the same table over its grid.
TEST(Tune, SmokeRunWritesAConfigurationTrainReads) {
  const std::string out =
      (std::filesystem::temp_directory_path() / "millrace_tune_smoke.json").string();
  std::filesystem::remove(out);
  const std::string flags =
      "--model mlp-small --limit 512 --batch-size 64 --steps 8 "
      "--trial-warmup 2 --cores 2 --device cpu --out " +
      out;
  TuneCliResult r = RunMillrace("tune " + flags);
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* part : {"samples/s", "default", "probe", "verify", "chosen: compute threads",
                           "what limits throughput: ", "-bound", "wrote "}) {
    EXPECT_TRUE(Contains(r.out, part)) << part << " missing from: " << r.out;
  }
  std::ifstream file(out);
  ASSERT_TRUE(file.good()) << out;
  const nlohmann::json doc = nlohmann::json::parse(file);
  EXPECT_TRUE(doc.at("compute_threads").is_number_integer());
  EXPECT_EQ(doc.at("batch_size"), 64);
  EXPECT_TRUE(doc.at("concurrency").contains("augment"));

  TuneCliResult train = RunMillrace(std::string(kShortRun) + " --config " + out);
  EXPECT_EQ(train.code, 0) << train.out;
  EXPECT_TRUE(Contains(train.out, "steps of 64")) << train.out;

  TuneCliResult grid = RunMillrace("tune --exhaustive " + flags);
  ASSERT_EQ(grid.code, 0) << grid.out;
  EXPECT_TRUE(Contains(grid.out, "4 trials")) << grid.out;  // 2 thread counts x 2 workers
  EXPECT_TRUE(Contains(grid.out, "chosen: ")) << grid.out;
  std::filesystem::remove(out);
}

TEST(Tune, HelpExplainsTheTrialsAndTheOutput) {
  TuneCliResult r = RunMillrace("tune --help");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const char* part : {"--exhaustive", "--out", "--steps", "train --config", "trials"}) {
    EXPECT_TRUE(Contains(r.out, part)) << part << " missing from: " << r.out;
  }
}

}  // namespace
