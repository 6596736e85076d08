// The exit codes of the `millrace` command, and the mapping from millrace::Error kinds.
#pragma once

#include "core/error.h"

namespace millrace::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,     // a bug or an unexpected failure (internal, oneDNN)
  kExitUsage = 2,       // a bad flag, value, model name or combination of options
  kExitData = 3,        // the data or a checkpoint can't be read: missing file, corrupt record
  kExitDevice = 4,      // the requested device is not available in this build or machine
  kExitCancelled = 130,   // interrupted (Ctrl-C, SIGINT)
  kExitTerminated = 143,  // stopped by SIGTERM (a scheduler)
};

// The text of --help's footer that lists the codes.
inline constexpr const char* kExitCodesHelp =
    "Exit codes: 0 success, 1 unexpected failure, 2 bad usage (flag, value, model name), "
    "3 data or checkpoint can't be read, or training diverged (NaN/Inf loss), 4 device not "
    "available, 130 interrupted (SIGINT), 143 stopped (SIGTERM); with --checkpoint-dir an "
    "interrupted run writes a checkpoint of its current step first.";

inline int ExitCodeFor(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::kInvalidArgument: return kExitUsage;
    case ErrorKind::kData:
    case ErrorKind::kIo: return kExitData;
    case ErrorKind::kCuda: return kExitDevice;
    case ErrorKind::kCancelled: return kExitCancelled;
    case ErrorKind::kOneDnn:
    case ErrorKind::kInternal: return kExitFailure;
  }
  return kExitFailure;
}

}  // namespace millrace::cli
