// The live progress line of `millrace train`: redrawn in place with '\r' on a terminal, plain
// lines every few seconds when stdout is a file or a pipe (so logs stay readable).
//
//   ProgressLine line(std::cout, isatty(STDOUT_FILENO));
//   line.Step(progress);     // after each optimizer step (throttled inside)
//   line.Epoch(summary);     // at each epoch's end: a permanent line
//   line.Finish();           // ends the redrawn line
//
// Called from one thread at a time.
#pragma once

#include <chrono>
#include <ostream>
#include <string>

#include "pipelines/progress.h"

namespace millrace::cli {

class ProgressLine {
 public:
  ProgressLine(std::ostream& out, bool terminal);

  void Step(const pipelines::StepProgress& p);
  void Epoch(const pipelines::EpochSummary& s);
  void Finish();

  // The text of one progress line (no '\r', no newline).
  static std::string Format(const pipelines::StepProgress& p);
  static std::string Format(const pipelines::EpochSummary& s);

 private:
  void ClearLine();

  std::ostream& out_;
  bool terminal_;
  bool drawn_ = false;  // a redrawn line is on screen
  std::chrono::steady_clock::time_point last_;
};

}  // namespace millrace::cli
