// The compute thread's oneDNN team size, measured rather than fixed: compute gets every core
// that the data stages do not need.
//
// A training run starts with a team of every core (on IDX without augmentation the data stages
// need a few percent of one). After a warm-up (ThreadPlanOptions::first_after_s) and then every
// `every_s`, the plan reads the graph's statistics over the last window: the busy cores of the
// stages on cpu workers (augment, collate, the teacher's and evaluation's stages; io stages
// mostly wait on the kernel and are not counted) and gives compute
//   cores - ceil(data cores - slack),  at least 1 and at most cores,
// so a data side that needs under `slack` of a core shares a core with compute rather than
// taking one from it (0.5: the mlp on IDX keeps ~0.3 cores of collate and epoch-end evaluation
// busy and trained 45k samples/s with 2 threads against 37k with 1, docs/BENCHMARKS.md). The
// compute thread applies a change between two steps (ops::InitComputeThread; oneDNN's primitives
// are cached per team size, so a change costs one set of primitive creations). A user's
// --compute-threads, or deterministic mode, fixes the team.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/graph/stats.h"

namespace millrace::pipelines {

struct ThreadPlanOptions {
  double first_after_s = 2.0;  // the first plan, over the run's first seconds
  double every_s = 10.0;       // then a plan per window of this length
  double slack = 0.5;          // cores of data work that compute shares a core with
};

// The rule above, alone (tested on its own).
int PlanComputeThreads(int cores, double data_cores, double slack);

// Cores the data stages kept busy between two statistics of the same graph: the busy seconds
// of stages on cpu workers (placement "cpu(N)") divided by the wall time between them.
double DataCores(const GraphStats& before, const GraphStats& now);

class ComputeThreadPlan {
 public:
  // adaptive = false: `threads` stays (the user's or deterministic mode's choice).
  ComputeThreadPlan(int cores, int threads, bool adaptive, ThreadPlanOptions options = {});

  int threads() const { return threads_; }
  bool adaptive() const { return adaptive_; }
  // Whether a plan is due at `elapsed_s` of the graph's run (cheap: call after every step).
  bool Due(double elapsed_s) const;
  // Plans from the statistics now; returns the new team size when it changes. The caller
  // applies it on the compute thread.
  std::optional<int> Update(const GraphStats& now);
  // "compute 2 threads of 2 cores (data stages busy 0.06 cores over 2.0 s)"
  std::string Explain() const;

 private:
  int cores_, threads_;
  bool adaptive_;
  ThreadPlanOptions options_;
  GraphStats window_start_;
  double next_s_;
  double last_data_cores_ = -1, last_window_s_ = 0;
};

}  // namespace millrace::pipelines
