// TrainConfig: everything a training run is made of, in one struct that the `millrace`
// command fills from its flags and that samples fill in code.
//
//   TrainConfig config;                 // the defaults train mlp on Fashion-MNIST
//   config.model = "cnn";
//   config.epochs = 5;
//   config.concurrency["augment"] = 2;
//   TrainResult r = Train(config);      // pipelines/training.h
//
// A plain value: copy it freely.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/device.h"
#include "ops/precision.h"

namespace millrace::io {
class SkipLog;
}

namespace millrace::pipelines {

// Where Fashion-MNIST is installed by the dataset-fashion-mnist package.
inline constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

struct OptimizerConfig {
  std::string name = "sgd";         // "sgd" or "adamw"
  float lr = 0.05f;                 // peak learning rate
  float momentum = 0.9f;            // sgd only
  bool nesterov = true;             // sgd only (chosen on a validation split: docs/BENCHMARKS.md)
  float weight_decay = 0.0f;        // sgd: L2 added to the gradient; adamw: decoupled
  std::string schedule = "cosine";  // "constant", "step", "cosine"
  int64_t warmup_steps = 0;         // linear warm-up before the schedule
  float step_gamma = 0.1f;          // "step": lr multiplied by this every step_every steps
  int64_t step_every = 0;           // "step": 0 = every epoch
};

// Magnitude pruning during training (the ops helper's pruning under it). The gradual defaults
// (dense for the first two fifths of the run, ramp to three fifths, masks every 50 steps, the
// lr restarted at 3x its peak for the fine-tuning) come from the schedule sweeps in
// docs/BENCHMARKS.md.
struct PruneConfig {
  std::string method = "none";     // "none", "oneshot" (at start_step), "gradual" (Zhu & Gupta)
  float sparsity = 0.0f;           // final fraction of weights set to 0
  bool global = true;              // one ranking across all weight tensors, or per tensor
  int64_t start_step = -1;         // oneshot: the step (-1 = 0); gradual: ramp start (-1 = the
                                   // end of the run's second fifth)
  int64_t end_step = 0;            // gradual: ramp end (0 = the end of the run's third fifth)
  int64_t every = 50;              // gradual: recompute masks every this many steps
  int64_t lag = 0;                 // steps between ranking and applying (0 = synchronous)
  float restart_lr_factor = 3.0f;  // gradual with restart_lr: the restart's peak, x the run's lr
  bool restart_lr = true;          // gradual: once the last masks are applied, the lr jumps to
                                   // restart_lr_factor x its peak and decays (cosine) to 0 at the
                                   // run's end
};

// What a batch whose loss or gradients are NaN or Inf does (the gradients are checked after
// backward, before any update): stop the run (naming the step), or skip the
// batch (no backward, no optimizer step; counted in TrainState::nonfinite_skipped), as
// mixed-precision loss scalers do.
enum class NonFinitePolicy { kFail, kSkip };

struct TrainConfig {
  // Model and data.
  std::string model = "mlp";  // ops::MakeModel preset: mlp, mlp-small, cnn, dwsep
  std::string data_dir = kDefaultDataDir;
  std::string data_format = "idx";  // "idx", "folder" (DIR/train and DIR/test image trees) or
                                    // "tar" (DIR/train/*.tar and DIR/test/*.tar, WebDataset)
  int64_t limit = 0;                // use only the first N training samples (0 = all)
  int64_t test_limit = 0;           // evaluate on the first N test samples (0 = all)
  int64_t validation = 0;  // hold out the last N training samples: not trained on, evaluated
                           // (validation accuracy) at each epoch's end beside the test set;
                           // refused when the tail lacks classes (records sorted by class)
  bool augment = false;    // random crop (pad 2) and horizontal flip on training images
  int read_ahead = 256;    // image trees and tar shards: records read ahead of the augment
                           // stage (asynchronous reads in flight: io_uring, or the pread pool
                           // where it is refused or MILLRACE_IO_URING=0)
  // Bad records found while a dataset loads (a cut-off gzip stream, a label out of range, an
  // image or label missing from a tar sample) or while it trains (an image that fails to
  // decode: DataSource::DecodeOrSkip): with a log they are skipped (a batch then lacks that
  // sample), counted and described there, and the run fails only when more than
  // max_bad_share of a split's records are bad; without one (the default) the first bad
  // record fails the load or the run.
  std::shared_ptr<io::SkipLog> bad_records;
  double max_bad_share = 0.01;

  // Schedule.
  int epochs = 5;
  int64_t batch_size = 128;
  int64_t max_steps = 0;  // stop after this many steps (0 = every epoch); the lr schedule
                          // still spans every epoch
  OptimizerConfig optimizer;
  float label_smoothing = 0.1f;  // of the loss: target (1 - e) * onehot + e / classes
  PruneConfig prune;

  // Distillation: a teacher checkpoint (safetensors) of model teacher_model.
  std::string teacher_checkpoint;
  std::string teacher_model = "cnn";
  // The teacher's logits: "auto" (kept in memory when inputs are not augmented, so the teacher
  // runs in epoch 1 only), "off" (the teacher runs for every batch), "memory", or a file that
  // keeps them across runs (the teacher does not run at all once it is complete).
  std::string teacher_cache = "auto";
  // Where the teacher runs: "compute" (the student's device), "cpu", or "cuda:N" (DistillConfig).
  std::string teacher_placement = "compute";
  float distill_temperature = 4.0f;
  float distill_alpha = 0.9f;

  // Placement and scheduling.
  Device device = Device::Cpu();
  std::map<std::string, int> concurrency;  // per stage name, e.g. {"augment", 2}
  std::map<std::string, int> capacity;     // per edge, named by its consumer stage
  int compute_threads = 0;                 // oneDNN / OpenMP threads (0 = DefaultThreadBudget)
  // How Linear's and Conv2d's matmuls compute on a CUDA device (ops/precision.h), set on the
  // compute thread; the CPU backend computes f32 whatever this says.
  ops::Precision precision = ops::kDefaultPrecision;

  // Reproducibility.
  uint64_t seed = 1;
  bool cuda_graphs = true;     // on a GPU: the step captured once and replayed (step_graph.h)
  bool deterministic = false;  // fixed thread counts and sequence-ordered delivery everywhere

  // Evaluation, checkpoints, tracing.
  bool eval_each_epoch = true;  // test accuracy at each epoch's end (on a weight snapshot)
  std::string checkpoint_dir;   // write <dir>/last.safetensors at each epoch's end, and
                                // <dir>/best.safetensors: the weights of the epoch evaluated
                                // best (validation accuracy, else test accuracy)
  int keep_checkpoints = 3;     // step-numbered checkpoints kept beside last.safetensors (>= 1)
  NonFinitePolicy on_nonfinite = NonFinitePolicy::kFail;
  bool resume = false;     // start from <checkpoint_dir>/last.safetensors
  std::string trace_path;  // Chrome trace-event JSON of every stage's spans

  // The concurrency of a stage: its entry in `concurrency`, else `fallback`.
  int ConcurrencyOf(const std::string& stage, int fallback) const {
    auto it = concurrency.find(stage);
    return it == concurrency.end() ? fallback : it->second;
  }
  int CapacityOf(const std::string& stage, int fallback) const {
    auto it = capacity.find(stage);
    return it == capacity.end() ? fallback : it->second;
  }
};

}  // namespace millrace::pipelines
