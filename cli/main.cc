// millrace: train, evaluate, convert data and benchmark from the command line.
//
//   millrace train                       # mlp on Fashion-MNIST, 5 epochs, a few minutes
//   millrace train --model cnn --concurrency augment=2 --augment --trace run.json
//   millrace eval --checkpoint runs/last.safetensors --model mlp
//   millrace data to-folder --out /tmp/fmnist-images
//   millrace bench
//   millrace tune --model cnn --augment   # measures, picks threads and workers, writes tune.json
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "core/error.h"

namespace millrace::cli {

std::atomic<bool>& InterruptFlag() {
  static std::atomic<bool> flag{false};
  return flag;
}

std::atomic<int>& InterruptSignal() {
  static std::atomic<int> signal{0};
  return signal;
}

namespace {
// The first SIGINT (Ctrl-C) or SIGTERM (a scheduler: Slurm, Kubernetes, `docker stop`) asks
// the pipeline to cancel cleanly (and write a checkpoint of the current step); a second one
// kills the process.
extern "C" void OnInterrupt(int signal) {
  int none = 0;
  InterruptSignal().compare_exchange_strong(none, signal);
  InterruptFlag().store(true);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

// One sentence on what to do next, for the errors a person can fix.
const char* HintFor(const Error& e) {
  if (e.stage() == "loss") return nullptr;  // a diverging run: the message says what to do
  switch (e.kind()) {
    case ErrorKind::kData:
    case ErrorKind::kIo:
      return "check the path (--data DIR, --checkpoint-dir, --teacher) and that the files are "
             "complete; Fashion-MNIST comes with the dataset-fashion-mnist package "
             "(scripts/setup.sh installs it)";
    case ErrorKind::kCuda: return "run with --device cpu (or --device auto)";
    case ErrorKind::kInvalidArgument: return "see `millrace <command> --help` for the flags";
    default: return nullptr;
  }
}
}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"millrace: neural-network training as a dataflow graph", "millrace"};
  app.require_subcommand(1, 1);
  app.footer(kExitCodesHelp);
  std::vector<Command> commands = {AddTrainCommand(app), AddEvalCommand(app), AddDataCommand(app),
                                   AddBenchCommand(app), AddTuneCommand(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, or the error and a pointer to --help
    return code == 0 ? kExitOk : kExitUsage;
  }
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  try {
    for (Command& c : commands) {
      if (c.app->parsed()) return c.run();
    }
    return kExitUsage;
  } catch (const Error& e) {
    std::cout.flush();
    std::cerr << "millrace: " << e.what() << "\n";
    if (const char* hint = HintFor(e)) std::cerr << "  hint: " << hint << "\n";
    if (e.kind() == ErrorKind::kCancelled && InterruptSignal().load() == SIGTERM) {
      return kExitTerminated;
    }
    return ExitCodeFor(e);
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "millrace: unexpected failure: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace millrace::cli

namespace {
// oneDNN runs on OpenMP here, and libgomp reads its waiting policy once, when it is loaded. Its
// default lets a team thread spin 300,000 times after each parallel region before it sleeps:
// between two primitives of a step that keeps it hot, but on a machine whose cores are also
// busy (the cpu stages, other processes) a spinning thread takes a core from the thread the
// team's next barrier waits for. Passive waiting never spins, and pays a futex wake-up per
// primitive: the cnn trained 15-20% slower with it. A spin count of 1,000 (a few tens of
// microseconds) keeps the team hot between back-to-back primitives and sleeps soon after:
// measured best or within noise of best on both presets, on the quiet and the loaded machine
// (docs/BENCHMARKS.md, "OpenMP waiting"). So when neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT
// is set, millrace sets GOMP_SPINCOUNT=1000 and re-executes itself once; a user's setting is
// kept.
void DefaultOpenMpSpinCount(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) {
    return;
  }
  setenv("GOMP_SPINCOUNT", "1000", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run with libgomp's default
}
}  // namespace

int main(int argc, char** argv) {
  DefaultOpenMpSpinCount(argv);
  return millrace::cli::Main(argc, argv);
}
