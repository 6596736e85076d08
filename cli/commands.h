// The subcommands of `millrace`. Each Add* registers its flags on `app` and returns the
// subcommand; each Run* runs it once parsed and returns the exit code (cli/exit_codes.h).
// Errors are thrown as millrace::Error; main() prints them and maps them to exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>

namespace millrace::cli {

// Set by the SIGINT handler; the running pipeline polls it and cancels its graph.
std::atomic<bool>& InterruptFlag();
// The signal that set InterruptFlag (SIGINT or SIGTERM), 0 before any.
std::atomic<int>& InterruptSignal();

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command AddTrainCommand(CLI::App& app);
Command AddEvalCommand(CLI::App& app);
Command AddDataCommand(CLI::App& app);
Command AddBenchCommand(CLI::App& app);
Command AddTuneCommand(CLI::App& app);

}  // namespace millrace::cli
