#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace millrace::cli {

Command AddBenchCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("bench", "(not available yet)");
  return {cmd, [] { return kExitFailure; }};
}

}  // namespace millrace::cli
