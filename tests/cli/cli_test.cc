// The `millrace` command as a person meets it: exit codes and messages for the mistakes people
// make, a short training run on a subset, and eval of the checkpoint that run wrote.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>

#include "tests/cli/run_millrace.h"

namespace {

using Result = ::millrace::testing::CliResult;
using ::millrace::testing::Has;
constexpr auto& Millrace = ::millrace::testing::RunMillrace;

TEST(Cli, HelpSaysTheDefaultsAndExitCodes) {
  Result r = Millrace("train --help");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Has(r.out, "5 epochs")) << r.out;
  EXPECT_TRUE(Has(r.out, "--concurrency")) << r.out;
  Result top = Millrace("--help");
  EXPECT_EQ(top.code, 0);
  EXPECT_TRUE(Has(top.out, "Exit codes")) << top.out;
}

TEST(Cli, MissingDatasetNamesThePathAndExits3) {
  Result r = Millrace("train --data /nonexistent/fashion");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_TRUE(Has(r.out, "/nonexistent/fashion")) << r.out;
  EXPECT_TRUE(Has(r.out, "hint")) << r.out;
}

TEST(Cli, DatasetDirectoryWithoutTheFilesNamesTheFile) {
  const std::string empty = std::filesystem::temp_directory_path().string();
  Result r = Millrace("train --data " + empty);
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_TRUE(Has(r.out, "train-images")) << r.out;
}

TEST(Cli, UnknownModelListsTheChoicesAndExits2) {
  Result r = Millrace("train --model resnet50");
  EXPECT_EQ(r.code, 2) << r.out;
  for (const char* name : {"resnet50", "mlp", "mlp-small", "cnn", "dwsep"}) {
    EXPECT_TRUE(Has(r.out, name)) << name << " missing from: " << r.out;
  }
}

// A device that does not answer (no GPU here; cuda:7 on a machine with fewer): exit 4 before
// any data loads, saying why and what to run instead.
TEST(Cli, MissingCudaDeviceSaysWhatToDoAndExits4) {
  Result r = Millrace("train --device cuda:7");
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_TRUE(Has(r.out, "cuda:7")) << r.out;
  EXPECT_TRUE(Has(r.out, "--device cpu")) << r.out;
  EXPECT_FALSE(Has(r.out, "epoch")) << r.out;
}

// bench on a device that does not answer: the same exit 4 and advice, before any data loads.
TEST(Cli, BenchOnAMissingCudaDeviceExits4) {
  Result r = Millrace("bench --device cuda:7");
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_TRUE(Has(r.out, "--device cuda:7: ")) << r.out;
  EXPECT_TRUE(Has(r.out, "--device cpu")) << r.out;
  EXPECT_FALSE(Has(r.out, "millrace bench: model")) << r.out;
}

// bench on the CPU: the oneDNN sgemm ceiling, compute-only and end-to-end, per run and as
// medians, the CPU-time lines with one oneDNN thread, and no TF32 line; its help says what the
// ceiling is on each device. (mlp-small runs its 330 steps in well under a second: the graph
// reports progress every 0.1 s, so a much shorter run has no steady interval to time.)
TEST(Cli, BenchOnTheCpuReportsCeilingComputeOnlyAndEndToEnd) {
  Result r = Millrace(
      "bench --model mlp-small --limit 8192 --epochs 3 --batch-size 64 --steps 300 "
      "--untimed-steps 30 --repeat 1 --compute-threads 1 --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Has(r.out, "cores, oneDNN threads 1, augment workers")) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("  run 1: sgemm [0-9.]+ GFLOP/s, compute-only "
                                                  "[0-9]+ samples/s, end-to-end [0-9]+ samples/s"
                                                  "   \\| per compute-thread CPU second: sgemm")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("  sgemm ceiling +[0-9.]+ GFLOP/s = [0-9]+ "
                                                  "samples/s at [0-9.]+ MFLOP per sample")))
      << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("  compute-only +[0-9]+ samples/s \\([0-9.]+ of "
                                                  "the ceiling\\)")))
      << r.out;
  EXPECT_TRUE(Has(r.out, "by the compute thread's CPU time")) << r.out;
  EXPECT_TRUE(Has(r.out, "end-to-end / compute-only: ")) << r.out;
  EXPECT_FALSE(Has(r.out, "tf32")) << r.out;
  Result help = Millrace("bench --help");
  EXPECT_EQ(help.code, 0) << help.out;
  EXPECT_TRUE(Has(help.out, "oneDNN sgemm")) << help.out;
  EXPECT_TRUE(Has(help.out, "TF32")) << help.out;
}

// --precision: a value outside fp32, tf32, bf16 is bad usage (exit 2) naming the values, in
// train, eval and bench; the help says the default and that the CPU ignores it; on --device cpu
// a precision other than fp32 is accepted with a note (before any data loads).
TEST(Cli, PrecisionFlagNamesItsValuesAndIsANoteOnTheCpu) {
  for (const char* command : {"train", "eval --checkpoint x.safetensors", "bench"}) {
    Result r = Millrace(std::string(command) + " --precision fp16");
    EXPECT_EQ(r.code, 2) << command << ": " << r.out;
    for (const char* value : {"fp16", "fp32", "tf32", "bf16"}) {
      EXPECT_TRUE(Has(r.out, value)) << command << ": " << value << " missing from: " << r.out;
    }
  }
  Result help = Millrace("train --help");
  EXPECT_TRUE(Has(help.out, "--precision")) << help.out;
  EXPECT_TRUE(Has(help.out, "tf32 (the default")) << help.out;
  Result cpu = Millrace("train --device cpu --precision bf16 --data /nonexistent/fashion");
  EXPECT_EQ(cpu.code, 3) << cpu.out;  // the missing data, after the note
  EXPECT_TRUE(Has(cpu.out, "--precision bf16: no effect on the CPU")) << cpu.out;
  Result plain = Millrace("train --device cpu --data /nonexistent/fashion");
  EXPECT_FALSE(Has(plain.out, "--precision")) << plain.out;
}

TEST(Cli, MalformedConcurrencyExits2) {
  Result r = Millrace("train --concurrency augment");
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_TRUE(Has(r.out, "STAGE=N")) << r.out;
  Result serial = Millrace("train --limit 256 --concurrency forward=2");
  EXPECT_EQ(serial.code, 2) << serial.out;
  EXPECT_TRUE(Has(serial.out, "augment")) << serial.out;
}

// --teacher-cache FILE: the first run fills the file, the second finds every sample there;
// a cache with --augment is refused as bad usage.
TEST(Cli, TeacherCacheFileIsReusedAndRefusedWithAugmentation) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("millrace_cli_teacher_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  Result teacher = Millrace(
      "train --limit 512 --epochs 1 --batch-size 64 --model mlp-small "
      "--no-eval --checkpoint-dir " +
      dir.string());
  ASSERT_EQ(teacher.code, 0) << teacher.out;
  const std::string student =
      "train --limit 512 --epochs 2 --batch-size 64 --model mlp-small "
      "--no-eval --teacher-model mlp-small --teacher " +
      (dir / "last.safetensors").string();
  const std::string file = (dir / "teacher.logits").string();
  Result first = Millrace(student + " --teacher-cache " + file);
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_TRUE(Has(first.out, "(0 of 512 samples there)")) << first.out;
  Result second = Millrace(student + " --teacher-cache " + file);
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_TRUE(Has(second.out, "(512 of 512 samples there)")) << second.out;
  Result augmented = Millrace(student + " --augment --teacher-cache memory");
  EXPECT_EQ(augmented.code, 2) << augmented.out;
  EXPECT_TRUE(Has(augmented.out, "needs unaugmented inputs")) << augmented.out;
  std::filesystem::remove_all(dir);
}

TEST(Cli, ShortTrainingRunThenEvalOfItsCheckpoint) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("millrace_cli_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  Result train = Millrace(
      "train --limit 2048 --test-limit 500 --epochs 2 --batch-size 64 "
      "--model mlp-small --checkpoint-dir " +
      dir.string());
  ASSERT_EQ(train.code, 0) << train.out;
  // stdout is a pipe here: plain lines, no carriage returns.
  EXPECT_FALSE(Has(train.out, "\r")) << train.out;
  EXPECT_TRUE(Has(train.out, "thread budget")) << train.out;
  EXPECT_TRUE(Has(train.out, "epoch 1/2 done")) << train.out;
  EXPECT_TRUE(Has(train.out, "epoch 2/2 done")) << train.out;
  EXPECT_TRUE(Has(train.out, "bottleneck")) << train.out;
  EXPECT_TRUE(Has(train.out, "forward")) << train.out;
  std::smatch m;
  const std::regex accuracy("test accuracy ([0-9.]+)% \\(([0-9]+) of 500\\)");
  ASSERT_TRUE(std::regex_search(train.out, m, accuracy)) << train.out;
  const std::string correct = m[2];
  EXPECT_GT(std::stod(m[1]), 60.0);

  // eval of the checkpoint gives the same count on the same 500 test images.
  Result eval = Millrace("eval " + (dir / "last.safetensors").string() +
                         " --model mlp-small --test-limit 500");
  ASSERT_EQ(eval.code, 0) << eval.out;
  ASSERT_TRUE(std::regex_search(eval.out, m, accuracy)) << eval.out;
  EXPECT_EQ(m[2], correct) << eval.out;

  // best.safetensors, the best-evaluated epoch, is a checkpoint `eval` reads too.
  EXPECT_TRUE(Has(train.out, "/best.safetensors (epoch ")) << train.out;
  Result best = Millrace("eval " + (dir / "best.safetensors").string() +
                         " --model mlp-small --test-limit 500");
  ASSERT_EQ(best.code, 0) << best.out;
  ASSERT_TRUE(std::regex_search(best.out, m, accuracy)) << best.out;
  EXPECT_GE(std::stoi(m[2]), std::stoi(correct)) << best.out;

  Result wrong = Millrace("eval " + (dir / "last.safetensors").string() + " --model mlp");
  EXPECT_NE(wrong.code, 0) << wrong.out;
  EXPECT_TRUE(Has(wrong.out, "last.safetensors")) << wrong.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
