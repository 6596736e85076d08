// TrainingPipeline: classification training as a dataflow graph.
//
//   read (io) -> augment (cpu, N) -> collate (cpu) -> forward -> loss -> backward
//     -> prune-mask -> step -> progress (compute: graph stages on Compute()) -> evaluate (cpu)
//
//   TrainConfig config;                       // mlp on Fashion-MNIST, 5 epochs
//   TrainingPipeline pipeline(config);
//   TrainResult result = pipeline.Run({.on_epoch = [](const EpochSummary& e) { ... }});
//   std::cout << result.stage_report;         // per-stage busy/starved/blocked, bottleneck
//
// Exact synchronous SGD: the compute stages are placed on one ordered device, so the runtime
// runs batch k through every one of them before batch k+1 enters forward (and forward checks
// it); the weights after N steps are bit for bit those of ReferenceTrain
// (pipelines/reference_loop.h) over the same batches, on the CPU in deterministic mode. What
// overlaps: reading, augmenting and collating ahead of compute; a teacher's forward (on a cpu
// worker) beside the student's step; the evaluation of a weight snapshot at each epoch's end
// while the next epoch trains; a mask ranking at lag > 0. Compute runs on the CPU (oneDNN);
// the CUDA backend does not exist yet.
//
// Open for extension: the compute stages are a list (InsertBefore / Replace), each one a graph
// stage, and a teacher (SetTeacher) adds a fan-out and join whose logits reach the compute
// stages with the same batch. A pipeline runs once; Run() is called from one thread; Cancel()
// from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/graph/stats.h"
#include "core/threads.h"
#include "ops/sequential.h"
#include "pipelines/metrics.h"
#include "pipelines/progress.h"
#include "pipelines/step.h"
#include "pipelines/train_config.h"

namespace millrace::pipelines {

struct TrainHooks {
  std::function<void(const StepProgress&)> on_step;   // compute thread; return quickly
  std::function<void(const EpochSummary&)> on_epoch;  // the caller's thread or compute thread
  std::function<void(const std::string&)> on_note;    // one-line notices (budget, resume, ...)
  const std::atomic<bool>* interrupt = nullptr;       // when it turns true, the run is cancelled
};

// One stage's figures over the run.
struct StageFigures {
  std::string name;
  std::string placement;  // "io", "cpu", "compute"
  int concurrency = 1;
  int64_t items = 0;
  double busy_s = 0.0;     // summed over the stage's workers
  double starved_s = 0.0;  // waiting on an empty input
  double blocked_s = 0.0;  // waiting on a full output
  int64_t skipped = 0;     // records passed over (augment: failed to decode, under skip)
};

struct TrainResult {
  std::vector<EpochSummary> epochs;
  int64_t steps = 0;
  int64_t samples = 0;
  double seconds = 0.0;  // the training graph's wall time
  double samples_per_s = 0.0;
  std::optional<ClassificationMetrics> final_test;        // the last evaluation
  std::optional<ClassificationMetrics> final_validation;  // ... on the validation split
  std::vector<StageFigures> stages;
  std::string stage_report;         // the table, the bottleneck, and the compute stages' split
  GraphStats graph;                 // the training graph's statistics at its end
  std::string first_compute_stage;  // "forward": the stage that waits when data is late
  ThreadBudget budget;              // compute: the team size at the end (pipelines/thread_plan.h)
  std::string thread_plan;          // how that team size was chosen, in words
  double sparsity = 0.0;
  // On a GPU: steps run as replays of the captured CUDA Graph (0 when the step was not
  // captured: cuda_graph_note says why).
  int64_t cuda_graph_replays = 0;
  double device_busy_s = 0.0;  // on a GPU: device time of the steps' work (events around each)
  std::string cuda_graph_note;
  // best.safetensors in the checkpoint dir (written when an evaluation scored better than the
  // best so far: validation accuracy, or test accuracy without a validation split): the epoch
  // of the last one this run wrote (0: none) and its accuracy.
  int best_epoch = 0;
  double best_accuracy = 0.0;
};

class TrainingPipeline {
 public:
  // Builds the model (ops::MakeModel(config.model, config.seed)), the optimizer and the data
  // sources; loads the checkpoint when config.resume. Throws Error naming the bad option or
  // file.
  explicit TrainingPipeline(TrainConfig config);
  ~TrainingPipeline();
  TrainingPipeline(const TrainingPipeline&) = delete;
  TrainingPipeline& operator=(const TrainingPipeline&) = delete;

  const TrainConfig& config() const;
  ops::Sequential& model();
  TrainState& state();
  int64_t steps_per_epoch() const;
  int64_t train_samples() const;  // samples of the training split (after limit and validation)

  // The compute stages in order ("forward", "loss", "backward", "prune-mask", "step").
  std::vector<std::string> ComputeStageNames() const;
  // Inserts `stage` before the stage named `before` (throws when there is none).
  void InsertBefore(const std::string& before, ComputeStagePtr stage);
  // Replaces the stage named `name` (e.g. "loss" with a distillation loss).
  void Replace(const std::string& name, ComputeStagePtr stage);

  // A teacher: computes item.teacher_logits from a collated batch (its images, indices and
  // seq), in a stage named "teacher" on a branch beside the student's that a fan-out after
  // collate feeds and a join by sequence number ends before forward (placement "compute", or
  // "cpu" to run it beside the student).
  using TeacherFn = std::function<Tensor(const Batch&)>;
  void SetTeacher(TeacherFn teacher, const std::string& placement = "compute");

  // Trains config.epochs epochs (or config.max_steps steps). Throws the first stage error.
  TrainResult Run(const TrainHooks& hooks = {});
  // Asks a running Run() to stop; it throws Error(kCancelled). Thread-safe.
  void Cancel();

 private:
  struct Impl;
  friend class TrainingRun;  // builds and runs the graph (training_graph.cc)
  std::unique_ptr<Impl> impl_;
};

// Trains with a fresh pipeline.
TrainResult Train(const TrainConfig& config, const TrainHooks& hooks = {});

}  // namespace millrace::pipelines
