// The tuner's model of a training graph (what `millrace tune` fits and optimises; docs/TUNING.md).
//
// From short measured runs of the graph (their GraphStats), each stage gets a service time:
// its busy seconds per training sample, s_i (a parallel stage's for one worker). Its rate as a
// function of what it is given, in samples/s:
//   a parallel cpu stage with concurrency c_i:   c_i / s_i
//   a serial cpu stage or an io stage:           1 / s_i (fixed: more cores do not help)
//   compute with t oneDNN threads:               R(t), measured per thread count (interpolated
//                                                between counts, flat past the last one)
// and the machine's cores bound the sum: at throughput X the cpu stages keep X * sum(s_i)
// cores busy and compute keeps t cores busy a share X / R(t) of the time, so
//   X <= cores / (sum over cpu stages of s_i + t / R(t)).
// The throughput of a configuration (t, c) is the smallest of these bounds (Plumber, Kuchnik et
// al., MLSys 2022, as a max-min over integer allocations). Optimize searches every t in
// [1, cores] and every c_i in [1, cores] exactly (the training graph has one or two tunable
// stages); ties go to fewer threads in all. Capacities then give the channel into the limiting
// stage room for four batches (two elsewhere), plus its producer's workers' reordering room.
//
// Pure functions of their arguments; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/graph/stats.h"

namespace millrace::pipelines {

enum class StageRole {
  kParallel,  // a cpu stage whose concurrency the tuner sets (augment)
  kSerial,    // a cpu stage that runs one item at a time (collate)
  kIo,        // an io stage: waits on the kernel, costs no core (read)
};

struct StageModel {
  std::string name;
  StageRole role = StageRole::kSerial;
  double seconds_per_sample = 0;  // busy seconds per training sample (one worker)
  double items_per_sample = 1;    // items on the stage's input channel per training sample
  std::string producer;           // the stage feeding its input ("" for a source)
};

struct PipelineModel {
  int cores = 1;
  int64_t batch_size = 1;
  std::vector<StageModel> stages;  // the data stages in graph order (no compute stages)
  // Compute's samples/s on its own (samples / the compute stages' busy seconds) at each
  // oneDNN thread count measured.
  std::map<int, double> compute_rate;
  std::string compute_stage = "forward";  // the first compute stage (its input channel's key)

  // R(t): measured, linear between measured counts, flat past the largest, proportional below
  // the smallest. 0 when nothing was measured.
  double ComputeRateAt(int threads) const;
};

// What a configuration is predicted to do, and which bound limits it.
struct Prediction {
  double samples_per_s = 0;
  std::string limit;  // a stage's name, "compute", or "cores" (the machine's cores all busy)
};

struct TunedConfig {
  int compute_threads = 1;
  std::map<std::string, int> concurrency;  // the parallel stages'
  std::map<std::string, int> capacity;     // per channel, named by its consumer
  Prediction predicted;
  std::string bound;        // "compute-bound", "CPU-bound", "I/O-bound"
  std::string explanation;  // what limits throughput and what would help, in words
};

// The throughput of running `model` with `compute_threads` and `concurrency` (parallel stages
// absent from it run 1 worker).
Prediction Predict(const PipelineModel& model, int compute_threads,
                   const std::map<std::string, int>& concurrency);

// The configuration of highest predicted throughput (exact search), its capacities and its
// explanation.
TunedConfig Optimize(const PipelineModel& model);

// One measured run: its statistics, the oneDNN threads it ran with (0: they changed during the
// run, as the adaptive plan changes them; such a run gives service times of the data stages
// only) and the samples it trained.
struct Trial {
  GraphStats stats;
  int compute_threads = 1;
  double samples = 0;
};

// The model of a graph from its trials. Stages placed "compute" or "gpu:N" are compute (their
// busy seconds add up); stages named in `parallel` are kParallel, other cpu stages kSerial, io
// stages kIo; stages named in `ignore` (evaluation) are left out. A stage's service time is the
// smallest over the trials (contention with other threads only inflates busy time); compute's
// rate at a thread count the largest measured at it.
PipelineModel FitModel(const std::vector<Trial>& trials, int cores, int64_t batch_size,
                       const std::set<std::string>& parallel,
                       const std::set<std::string>& ignore = {});

}  // namespace millrace::pipelines
