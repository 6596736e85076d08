// Internal: the state of a TrainingPipeline, shared by training.cc (set-up, the stage list),
// training_checkpoint.cc (checkpoints) and training_graph.cc (the graph and its run).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/threads.h"
#include "ops/checkpoint/checkpoint.h"
#include "ops/optim/optimizer.h"
#include "ops/sequential.h"
#include "pipelines/data.h"
#include "pipelines/training.h"

namespace millrace::pipelines {

struct TrainingPipeline::Impl {
  TrainConfig config;
  ThreadBudget budget;
  std::unique_ptr<DataSource> train;
  std::unique_ptr<DataSource> test;        // null when config.eval_each_epoch is false
  std::unique_ptr<DataSource> validation;  // null when config.validation is 0
  std::unique_ptr<ops::Sequential> model;
  std::unique_ptr<ops::Sequential> eval_model;  // the snapshot is loaded here
  std::unique_ptr<ops::Optimizer> optimizer;
  TrainState state;
  std::vector<ComputeStagePtr> stages;
  TeacherFn teacher;
  std::string teacher_placement = "compute";

  int64_t total_steps = 0;  // steps this run ends at (counted from 0, resume included)
  int first_epoch = 1;      // > 1 after --resume
  bool ran = false;

  std::mutex graph_mu;
  Graph* graph = nullptr;  // while Run() runs
  std::atomic<bool> cancel_requested{false};

  TrainResult Run(const TrainHooks& hooks);
  // training_checkpoint.cc: fails now for a checkpoint dir or trace path that can't be written.
  void CheckOutputPaths();
  // The step and the run's metadata (model, epoch, seed, batch size) every checkpoint carries.
  ops::TrainingState StateToSave(int64_t step, int epoch) const;
  std::filesystem::path SaveCheckpoint(int epoch);  // returns the step file written
  void LoadCheckpoint();
  // best.safetensors: the weights of the epoch whose evaluation scored best (validation
  // accuracy, or test accuracy without a validation split). Called on the evaluate stage with
  // `evaluated` holding that epoch's snapshot; writes (atomically) when `accuracy` beats
  // best_accuracy and returns whether it did. Never pruned by keep_checkpoints.
  bool SaveBestCheckpoint(ops::Sequential& evaluated, const EpochSummary& epoch);
  double best_accuracy = -1.0;  // of best.safetensors (read back by --resume)
};

// Builds a model preset (ops::MakeModel).
std::unique_ptr<ops::Sequential> BuildModel(const std::string& name, uint64_t seed);

// The fraction of weight entries pruned (masked 0) over the parameters that have masks; 0
// when none has.
double Sparsity(ops::Sequential& model);

}  // namespace millrace::pipelines
