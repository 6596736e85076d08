#include "cli/progress_line.h"

#include <cstdio>
#include <iomanip>
#include <sstream>

namespace millrace::cli {

namespace {
// Terminal redraws at most 10 times a second; plain lines every 5 seconds.
constexpr auto kTerminalInterval = std::chrono::milliseconds(100);
constexpr auto kPlainInterval = std::chrono::seconds(5);
}  // namespace

ProgressLine::ProgressLine(std::ostream& out, bool terminal)
    : out_(out), terminal_(terminal), last_(std::chrono::steady_clock::now()) {}

std::string ProgressLine::Format(const pipelines::StepProgress& p) {
  std::ostringstream s;
  s << "epoch " << p.epoch << "/" << p.epochs << "  step " << p.step_in_epoch << "/"
    << p.steps_per_epoch << "  " << std::fixed << std::setprecision(0) << p.samples_per_s
    << " samples/s  loss " << std::setprecision(4) << p.loss;
  if (!p.busy.empty()) {
    s << "  busy";
    for (const auto& [name, share] : p.busy) {
      s << " " << name << " " << std::setprecision(0) << 100.0 * share << "%";
    }
  }
  return s.str();
}

std::string ProgressLine::Format(const pipelines::EpochSummary& e) {
  std::ostringstream s;
  s << "epoch " << e.epoch << "/" << e.epochs << " done in " << std::fixed << std::setprecision(1)
    << e.seconds << " s: train loss " << std::setprecision(4) << e.train_loss << ", "
    << std::setprecision(0) << e.train_samples_per_s << " samples/s";
  for (const auto& [name, f] : {std::pair{"validation", &e.validation}, {"test", &e.test}}) {
    if (!f->done) continue;
    s << "; " << name << " accuracy " << std::setprecision(2) << 100.0 * f->accuracy << "% (loss "
      << std::setprecision(4) << f->loss << ", " << f->samples << " samples)";
  }
  if (e.sparsity > 0.0) s << "; sparsity " << std::setprecision(1) << 100.0 * e.sparsity << "%";
  return s.str();
}

void ProgressLine::ClearLine() {
  if (terminal_ && drawn_) {
    out_ << "\r\x1b[K";
    drawn_ = false;
  }
}

void ProgressLine::Step(const pipelines::StepProgress& p) {
  const auto now = std::chrono::steady_clock::now();
  const bool last_of_epoch = p.step_in_epoch == p.steps_per_epoch;
  if (terminal_) {
    if (now - last_ < kTerminalInterval && !last_of_epoch) return;
    out_ << "\r" << Format(p) << "\x1b[K" << std::flush;
    drawn_ = true;
  } else {
    if (now - last_ < kPlainInterval) return;
    out_ << Format(p) << "\n" << std::flush;
  }
  last_ = now;
}

void ProgressLine::Epoch(const pipelines::EpochSummary& s) {
  ClearLine();
  out_ << Format(s) << "\n" << std::flush;
}

void ProgressLine::Finish() {
  ClearLine();
  out_ << std::flush;
}

}  // namespace millrace::cli
