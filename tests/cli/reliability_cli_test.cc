// The `millrace train` command under a scheduler's SIGTERM and a diverging learning rate:
// exit codes, the one line that says what was saved, and a bit-exact resume.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Starts `millrace COMMAND ARGS...` (COMMAND: train) with stdout and stderr in `log`; returns
// its pid.
pid_t Start(const std::vector<std::string>& args, const fs::path& log,
            const char* command = "train") {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv = {const_cast<char*>(MILLRACE_BINARY), const_cast<char*>(command)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(MILLRACE_BINARY, argv.data());
    ::_exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class CliReliability : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("millrace_cli_rel_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::vector<std::string> Args(const fs::path& checkpoints) const {
    return {"--model",
            "mlp-small",
            "--limit",
            "4096",
            "--batch-size",
            "32",
            "--epochs",
            "10",
            "--no-eval",
            "--deterministic",
            "--compute-threads",
            "1",
            "--seed",
            "3",
            "--checkpoint-dir",
            checkpoints.string()};
  }
  fs::path dir_;
};

TEST_F(CliReliability, SigtermWritesACheckpointExits143AndResumesBitExactly) {
  const fs::path stopped = dir_ / "stopped", straight = dir_ / "straight";
  const pid_t pid = Start(Args(stopped), dir_ / "stopped.log");
  // Once epoch 1's checkpoint is there, the run is in epoch 2: stop it as a scheduler would.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(stopped / "step-0000000128.safetensors") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGTERM);
  const int code = Wait(pid);
  const std::string log = ReadFile(dir_ / "stopped.log");
  ASSERT_EQ(code, 143) << log;
  EXPECT_NE(log.find("checkpoint of step"), std::string::npos) << log;
  EXPECT_NE(log.find("--resume"), std::string::npos) << log;
  for (const auto& entry : fs::directory_iterator(stopped)) {
    EXPECT_EQ(entry.path().string().find(".tmp."), std::string::npos) << entry.path();
  }

  std::vector<std::string> resume = Args(stopped);
  resume.push_back("--resume");
  ASSERT_EQ(Wait(Start(resume, dir_ / "resumed.log")), 0) << ReadFile(dir_ / "resumed.log");
  ASSERT_EQ(Wait(Start(Args(straight), dir_ / "straight.log")), 0)
      << ReadFile(dir_ / "straight.log");
  const std::string a = ReadFile(stopped / "last.safetensors");
  const std::string b = ReadFile(straight / "last.safetensors");
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "the resumed run's final checkpoint differs from the straight run's";
}

TEST_F(CliReliability, DivergingLearningRateExits3NamingTheStep) {
  std::vector<std::string> args = Args(dir_ / "ckpt");
  args[7] = "1";  // --epochs
  args.insert(args.end(), {"--lr", "1e6"});
  const int code = Wait(Start(args, dir_ / "log"));
  const std::string log = ReadFile(dir_ / "log");
  EXPECT_EQ(code, 3) << log;
  EXPECT_NE(log.find("stage 'loss'"), std::string::npos) << log;
  EXPECT_NE(log.find("at step"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir_ / "ckpt" / "last.safetensors")) << log;
}

TEST_F(CliReliability, UnwritableCheckpointDirFailsBeforeTraining) {
  std::vector<std::string> args = Args("/proc/millrace-no");
  const auto t0 = std::chrono::steady_clock::now();
  const int code = Wait(Start(args, dir_ / "log"));
  EXPECT_EQ(code, 3) << ReadFile(dir_ / "log");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_NE(ReadFile(dir_ / "log").find("--checkpoint-dir"), std::string::npos);
  args = Args(dir_ / "c");
  args.insert(args.end(), {"--compute-threads", "100000"});
  EXPECT_EQ(Wait(Start(args, dir_ / "log2")), 2) << ReadFile(dir_ / "log2");
}

}  // namespace

namespace {

// kill -9 at random points, 20 times, each followed by a resume from whatever checkpoint is
// there: the run still ends with the straight run's final checkpoint, bit for bit, and no torn
// file is ever read (a killed write leaves only a temporary, removed by the next start).
TEST_F(CliReliability, KillNineTwentyTimesStillEndsBitExact) {
  const fs::path killed = dir_ / "killed", straight = dir_ / "straight";
  ASSERT_EQ(Wait(Start(Args(straight), dir_ / "straight.log")), 0)
      << ReadFile(dir_ / "straight.log");
  std::mt19937 rng(14);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::string> args = Args(killed);
    if (fs::exists(killed / "last.safetensors")) args.push_back("--resume");
    const pid_t pid = Start(args, dir_ / "killed.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 400));
    ::kill(pid, SIGKILL);
    const int code = Wait(pid);
    const std::string log = ReadFile(dir_ / "killed.log");
    // A run killed after its last checkpoint leaves nothing to train: the next one says so.
    if (code == 2 && log.find("nothing to train") != std::string::npos) break;
    ASSERT_TRUE(code == 128 + SIGKILL || code == 0) << log;
  }
  std::vector<std::string> args = Args(killed);
  if (fs::exists(killed / "last.safetensors")) args.push_back("--resume");
  const int code = Wait(Start(args, dir_ / "final.log"));
  const std::string log = ReadFile(dir_ / "final.log");
  // 0, or 2 when a killed run had already finished ("nothing to train").
  ASSERT_TRUE(code == 0 || log.find("nothing to train") != std::string::npos) << log;
  EXPECT_TRUE(ReadFile(killed / "last.safetensors") == ReadFile(straight / "last.safetensors"));
}

}  // namespace

namespace {

// IDX bytes (raw: the loader takes raw files under the .gz names too).
std::string Idx(const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>(d >> shift));
  }
  return out + data;
}

TEST_F(CliReliability, BadRecordsFailNamingTheRecordOrAreSkippedAndReported) {
  const fs::path data = dir_ / "data";
  fs::create_directories(data);
  std::string labels;
  for (int i = 0; i < 100; ++i) labels.push_back(static_cast<char>(i % 10));
  labels[5] = static_cast<char>(200);  // out of range
  for (const char* split : {"train", "t10k"}) {
    std::ofstream(data / (std::string(split) + "-images-idx3-ubyte.gz"), std::ios::binary)
        << Idx({100, 28, 28}, std::string(100 * 784, '\x40'));
    std::ofstream(data / (std::string(split) + "-labels-idx1-ubyte.gz"), std::ios::binary)
        << Idx({100}, labels);
  }
  std::vector<std::string> args = {"--data", data.string(), "--batch-size", "10",       "--epochs",
                                   "1",      "--no-eval",   "--model",      "mlp-small"};
  EXPECT_EQ(Wait(Start(args, dir_ / "fail.log")), 3) << ReadFile(dir_ / "fail.log");
  const std::string fail = ReadFile(dir_ / "fail.log");
  EXPECT_NE(fail.find("train-labels-idx1-ubyte.gz, record 5"), std::string::npos) << fail;

  args.insert(args.end(), {"--on-bad-record", "skip"});
  EXPECT_EQ(Wait(Start(args, dir_ / "skip.log")), 0) << ReadFile(dir_ / "skip.log");
  const std::string skip = ReadFile(dir_ / "skip.log");
  EXPECT_NE(skip.find("1 record skipped"), std::string::npos) << skip;
  EXPECT_NE(skip.find("record 5"), std::string::npos) << skip;

  args.insert(args.end(), {"--max-bad-share", "0.001"});  // 1 of 100 is more than 0.1%
  EXPECT_EQ(Wait(Start(args, dir_ / "share.log")), 3) << ReadFile(dir_ / "share.log");
}

// An image tree (written by `millrace data to-folder`) with two files that fail to decode: fail
// exits 3 at the stage augment naming the file; skip trains, shows the skipped samples in the
// stage table and lists both files at the end.
TEST_F(CliReliability, UndecodableImagesFailNamingTheFileOrAreSkippedAndListed) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is not installed";
  }
  const fs::path tree = dir_ / "tree";
  ASSERT_EQ(
      Wait(Start({"to-folder", "--out", tree.string(), "--limit", "200"}, dir_ / "w.log", "data")),
      0)
      << ReadFile(dir_ / "w.log");
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(tree / "train")) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GT(files.size(), 100u);
  std::ofstream(files[50], std::ios::trunc) << "not a jpeg";
  // Entries that are not images: reported in a warning, the FIFO never opened.
  std::ofstream(tree / "train" / "README.txt") << "Fashion-MNIST as JPEG\n";
  ASSERT_EQ(::mkfifo((tree / "train" / "0" / "pipe.jpg").c_str(), 0600), 0);
  fs::resize_file(files[90], fs::file_size(files[90]) / 3);
  std::vector<std::string> args = {"--data",       tree.string(), "--format", "folder",
                                   "--batch-size", "20",          "--epochs", "1",
                                   "--no-eval",    "--model",     "mlp-small"};
  EXPECT_EQ(Wait(Start(args, dir_ / "fail.log")), 3) << ReadFile(dir_ / "fail.log");
  const std::string fail = ReadFile(dir_ / "fail.log");
  EXPECT_NE(fail.find("stage 'augment'"), std::string::npos) << fail;
  EXPECT_TRUE(fail.find(files[50].string()) != std::string::npos ||
              fail.find(files[90].string()) != std::string::npos)
      << fail;

  args.insert(args.end(), {"--on-bad-record", "skip"});
  EXPECT_EQ(Wait(Start(args, dir_ / "skip.log")), 0) << ReadFile(dir_ / "skip.log");
  const std::string skip = ReadFile(dir_ / "skip.log");
  EXPECT_NE(skip.find("2 records skipped"), std::string::npos) << skip;
  EXPECT_NE(skip.find(files[50].string()), std::string::npos) << skip;
  EXPECT_NE(skip.find(files[90].string()), std::string::npos) << skip;
  EXPECT_NE(skip.find("skipped"), skip.find("bad records skipped")) << skip;  // the table's too
  EXPECT_NE(skip.find("warning: 2 entries under " + (tree / "train").string() +
                      " are not an image and were ignored: 0/pipe.jpg (a FIFO), README.txt"),
            std::string::npos)
      << skip;
}

// Overwrites the first four bytes of the first JPEG in `shard` (its first member's magic).
void SpoilFirstJpeg(const fs::path& shard) {
  const std::string bytes = ReadFile(shard);
  const size_t jpeg = bytes.find("\xff\xd8\xff");
  ASSERT_NE(jpeg, std::string::npos) << shard;
  ASSERT_LT(jpeg, 2048u) << shard << ": the first member is not the first image";
  std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(jpeg));
  f.write("ZZZZ", 4);
}

// Tar shards whose first member is undecodable (it would set the image size): `train` fails
// naming the shard, member and record, or skips it; `eval` follows --on-bad-record the same way,
// lists the skipped record at the end, and fails over --max-bad-share.
TEST_F(CliReliability, UndecodableFirstTarMemberAndEvalFollowOnBadRecord) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "Fashion-MNIST is not installed";
  }
  const fs::path data = dir_ / "tar";
  ASSERT_EQ(
      Wait(Start({"to-tar", "--out", data.string(), "--limit", "200"}, dir_ / "w.log", "data")), 0)
      << ReadFile(dir_ / "w.log");
  const fs::path train_shard = data / "train" / "shard-000000.tar";
  const fs::path test_shard = data / "test" / "shard-000000.tar";
  SpoilFirstJpeg(train_shard);
  SpoilFirstJpeg(test_shard);
  const fs::path checkpoints = dir_ / "ck";
  std::vector<std::string> args = {"--data",
                                   data.string(),
                                   "--format",
                                   "tar",
                                   "--batch-size",
                                   "20",
                                   "--epochs",
                                   "1",
                                   "--no-eval",
                                   "--model",
                                   "mlp-small",
                                   "--checkpoint-dir",
                                   checkpoints.string()};
  EXPECT_EQ(Wait(Start(args, dir_ / "fail.log")), 3) << ReadFile(dir_ / "fail.log");
  const std::string fail = ReadFile(dir_ / "fail.log");
  EXPECT_NE(fail.find(train_shard.string() + " [entry "), std::string::npos) << fail;
  EXPECT_NE(fail.find("record 0:"), std::string::npos) << fail;

  args.insert(args.end(), {"--on-bad-record", "skip"});
  ASSERT_EQ(Wait(Start(args, dir_ / "skip.log")), 0) << ReadFile(dir_ / "skip.log");
  const std::string skip = ReadFile(dir_ / "skip.log");
  EXPECT_NE(skip.find("1 record skipped"), std::string::npos) << skip;
  EXPECT_NE(skip.find("  data error: " + train_shard.string() + " [entry "), std::string::npos)
      << skip;

  std::vector<std::string> eval = {(checkpoints / "last.safetensors").string(),
                                   "--data",
                                   data.string(),
                                   "--format",
                                   "tar",
                                   "--model",
                                   "mlp-small"};
  EXPECT_EQ(Wait(Start(eval, dir_ / "eval-fail.log", "eval")), 3)
      << ReadFile(dir_ / "eval-fail.log");
  const std::string eval_fail = ReadFile(dir_ / "eval-fail.log");
  EXPECT_NE(eval_fail.find(test_shard.string() + " [entry "), std::string::npos) << eval_fail;
  EXPECT_NE(eval_fail.find("record 0:"), std::string::npos) << eval_fail;

  eval.insert(eval.end(), {"--on-bad-record", "skip"});
  EXPECT_EQ(Wait(Start(eval, dir_ / "eval-skip.log", "eval")), 0)
      << ReadFile(dir_ / "eval-skip.log");
  const std::string eval_skip = ReadFile(dir_ / "eval-skip.log");
  EXPECT_NE(eval_skip.find("on 199 test samples"), std::string::npos) << eval_skip;
  EXPECT_NE(eval_skip.find("bad records skipped (--on-bad-record skip): 1 record skipped"),
            std::string::npos)
      << eval_skip;
  EXPECT_NE(eval_skip.find("  data error: " + test_shard.string() + " [entry "), std::string::npos)
      << eval_skip;

  eval.insert(eval.end(), {"--max-bad-share", "0.001"});  // 1 of 200 is more than 0.1%
  EXPECT_EQ(Wait(Start(eval, dir_ / "eval-share.log", "eval")), 3)
      << ReadFile(dir_ / "eval-share.log");
  EXPECT_NE(ReadFile(dir_ / "eval-share.log").find("--max-bad-share"), std::string::npos)
      << ReadFile(dir_ / "eval-share.log");
}

}  // namespace
