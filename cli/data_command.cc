#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace millrace::cli {

Command AddDataCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("data", "(not available yet)");
  return {cmd, [] { return kExitFailure; }};
}

}  // namespace millrace::cli
