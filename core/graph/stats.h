// Statistics of a running or finished graph: per stage and per channel. Plain values, copied
// out of the runtime by Graph::Stats(), which any thread may call while the graph runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace millrace {

struct StageStats {
  std::string name;
  std::string placement;        // "cpu(2)", "io(1)", "compute", ...
  std::string shape;            // "source", "map", "filter", "flat-map", "batch", "sink", ...
  int concurrency = 1;          // the current setting
  uint64_t items_in = 0;        // items taken from the input(s) (sources: 0)
  uint64_t items_out = 0;       // items handed to the output(s) (sinks: 0)
  uint64_t items_skipped = 0;   // items a MapOrSkip body passed over (bad records)
  double busy_s = 0;            // summed over concurrent invocations: can exceed elapsed_s
  double starved_s = 0;         // wall time with nothing running because the input was empty
  double blocked_s = 0;         // wall time with nothing running because an output was full
  double busy_fraction = 0;     // busy_s / (elapsed_s * concurrency)
  double starved_fraction = 0;  // starved_s / elapsed_s
  double blocked_fraction = 0;  // blocked_s / elapsed_s
  std::vector<std::string> inputs_from;  // producers of the input channel(s)
  bool finished = false;
};

struct ChannelStats {
  std::string from, to;  // stage names
  int64_t capacity = 0;
  int64_t size = 0;           // items queued now
  double mean_occupancy = 0;  // sampled every GraphOptions::sample_period while running
  int64_t max_occupancy = 0;  // largest size seen at a push
  uint64_t items = 0;         // items that went through
};

struct GraphStats {
  double elapsed_s = 0;  // since Run() started (to its end once it has returned)
  bool running = false;
  std::vector<StageStats> stages;      // in the order they were added
  std::vector<ChannelStats> channels;  // in the order they were connected

  // The stage with the highest busy_fraction, or nullptr when there are no stages.
  const StageStats* Bottleneck() const;
  // One sentence: "augment is the bottleneck: busy 97% at concurrency 1; train waited 38% on
  // an empty input from augment; read was blocked 55% on a full output".
  std::string BottleneckSentence() const;
  // A text table of every stage and channel, followed by BottleneckSentence().
  std::string ToTable() const;
};

}  // namespace millrace
