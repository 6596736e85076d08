#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace millrace::cli {

Command AddEvalCommand(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("eval", "(not available yet)");
  return {cmd, [] { return kExitFailure; }};
}

}  // namespace millrace::cli
