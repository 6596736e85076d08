// Spans of the compute stages (forward, loss, backward, prune-mask, step, ...) that run inside
// the training graph's "train" stage, added to the graph's Chrome trace so that Perfetto shows
// each of them on a track of its own ("compute stages"), under the same time axis.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace millrace::pipelines {

class ComputeTrace {
 public:
  // Keeps at most `max_spans` spans (the first ones; later ones are counted, not kept).
  explicit ComputeTrace(size_t max_spans = 1 << 17) : max_spans_(max_spans) {}

  // One compute stage's run over one batch. Called by the compute thread.
  void Add(int stage, std::chrono::steady_clock::time_point start,
           std::chrono::steady_clock::time_point end, int64_t seq);

  // Rewrites the trace file `path` (written by Graph::WriteTrace) with the spans added. The
  // graph's time origin is recovered from its first "train" span, which starts within
  // microseconds of the first compute stage's span. Throws Error(kIo) when the file can't be
  // read or written.
  void MergeInto(const std::string& path, const std::vector<std::string>& stage_names) const;

 private:
  struct Span {
    int stage;
    int64_t start_ns, dur_ns, seq;
  };
  size_t max_spans_;
  std::vector<Span> spans_;
};

}  // namespace millrace::pipelines
