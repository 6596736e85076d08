#include "pipelines/compute_trace.h"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace millrace::pipelines {

namespace {
int64_t Ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
constexpr int kComputeTrack = 1000;  // the tid of the "compute stages" track
}  // namespace

void ComputeTrace::Add(int stage, std::chrono::steady_clock::time_point start,
                       std::chrono::steady_clock::time_point end, int64_t seq) {
  if (spans_.size() >= max_spans_) return;
  spans_.push_back({stage, Ns(start), Ns(end) - Ns(start), seq});
}

void ComputeTrace::MergeInto(const std::string& path,
                             const std::vector<std::string>& stage_names) const {
  nlohmann::json doc;
  {
    std::ifstream in(path);
    MILLRACE_CHECK(in.good(), ErrorKind::kIo, "can't read the trace file " << path);
    doc = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  }
  MILLRACE_CHECK(doc.is_object() && doc.contains("traceEvents"), ErrorKind::kIo,
                 "the trace file " << path << " is not a Chrome trace");
  if (spans_.empty()) return;
  double first_train_us = std::numeric_limits<double>::max();
  for (const auto& e : doc["traceEvents"]) {
    if (e.value("name", "") == "train" && e.value("ph", "") == "X") {
      first_train_us = std::min(first_train_us, e.value("ts", 0.0));
    }
  }
  if (first_train_us == std::numeric_limits<double>::max()) return;
  // Graph time 0 in steady-clock nanoseconds.
  const double origin_ns = static_cast<double>(spans_.front().start_ns) - first_train_us * 1e3;
  auto& events = doc["traceEvents"];
  events.push_back({{"name", "thread_name"},
                    {"ph", "M"},
                    {"pid", 1},
                    {"tid", kComputeTrack},
                    {"args", {{"name", "compute stages (inside train)"}}}});
  for (const Span& s : spans_) {
    events.push_back({{"name", stage_names.at(static_cast<size_t>(s.stage))},
                      {"cat", "compute"},
                      {"ph", "X"},
                      {"ts", (s.start_ns - origin_ns) * 1e-3},
                      {"dur", s.dur_ns * 1e-3},
                      {"pid", 1},
                      {"tid", kComputeTrack},
                      {"args", {{"batch", s.seq}}}});
  }
  std::ofstream out(path);
  out << doc.dump() << '\n';
  out.close();
  MILLRACE_CHECK(out.good(), ErrorKind::kIo, "can't write the trace file " << path);
}

}  // namespace millrace::pipelines
