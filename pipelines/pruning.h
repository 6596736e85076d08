// Magnitude pruning inside the training graph: a "prune-mask" compute stage that follows a
// schedule (one-shot at a step, or Zhu & Gupta's gradual cubic ramp), ranking |w| per tensor
// or globally over the model's weight tensors (rank >= 2: Linear and Conv2d weights; biases
// and BatchNorm stay dense). Steps after the last mask update are the fine-tuning.
//
//   step k:  forward -> loss -> backward -> prune-mask -> step
//                                              |   ^
//                      at a schedule step t:   |   | at t + lag: the new masks are applied
//                      copy weights + masks ---+   | (lag 0: ranked and applied at once)
//                                              v   |
//                                       prune-rank (std::async: a thread of its own, off the
//                                       compute thread; not a stage of the graph)
//
//   TrainingPipeline pipeline(config);
//   AttachPruning(pipeline, {.method = "gradual", .sparsity = 0.9f});  // the default schedule,
//   // or one spelled out:
//   // AttachPruning(pipeline, {.method = "gradual", .sparsity = 0.9f, .start_step = 200,
//   //                          .end_step = 1500, .every = 100, .lag = 2, .restart_lr = false});
//   TrainResult r = pipeline.Run();           // r.sparsity, and each epoch's sparsity
//
// Exactness: the masks depend only on the weights at the schedule's step t and are applied at
// t + lag whatever the timing, so a run is reproducible; with lag 0 the stage does exactly what
// the sequential loop of ops/prune/schedule.h does (PruneStep below) and the weights equal that
// loop's bit for bit. With lag > 0, between t and t + lag the weights keep training under the
// old masks, then the new masks zero the entries ranked lowest at t.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/layer.h"
#include "ops/sequential.h"
#include "pipelines/step.h"
#include "pipelines/train_config.h"

namespace millrace::pipelines {

class TrainingPipeline;

// The pruning schedule of a PruneConfig over a run of `total_steps` steps (steps count from 0;
// step t is the t-th optimizer step). For "gradual", start_step -1 means two fifths of the run and
// end_step 0 three fifths; for "oneshot", start_step -1 means 0.
class PruneSchedule {
 public:
  PruneSchedule(const PruneConfig& config, int64_t total_steps);

  // Whether masks are recomputed (ranked) at step t. Gradual: start_step + k * every up to
  // end_step, and end_step itself (off that grid too), where the final sparsity is reached.
  bool IsUpdateStep(int64_t t) const;
  // The sparsity the masks ranked at step t reach (an update step), or the schedule's target
  // at t in general: one-shot: 0 before start_step, then the sparsity; gradual: Zhu & Gupta's
  // s_t.
  double SparsityAt(int64_t t) const;
  // The last update step (after it: fine-tuning).
  int64_t LastUpdateStep() const;

  const PruneConfig& config() const { return config_; }

 private:
  PruneConfig config_;
};

// The first fine-tuning step: the one after the last masks are applied (last update + lag + 1).
// With restart_lr, the lr restarts there from restart_lr_factor x its peak (a cosine to 0 at the
// run's end).
int64_t FineTuneStart(const PruneSchedule& schedule);

// The parameters pruning ranks: every weight of rank >= 2 (in model order).
std::vector<ops::Parameter*> PrunableWeights(ops::Sequential& model);

// Ranks (L1) `weights` so that round(sparsity * numel) entries are masked, per tensor or over
// all of them (`global`), composing with the masks there; masks only grow. Applies the masks
// to the values and gradients. What the schedule does at an update step.
void PruneTo(const std::vector<ops::Parameter*>& weights, double sparsity, bool global);

// The sequential loop's pruning at step t: PruneTo(weights, schedule.SparsityAt(t)) on an update
// step, then (every step) the masks applied to the gradients. The reference for the graph stage.
void PruneStep(const PruneSchedule& schedule, int64_t t, const std::vector<ops::Parameter*>& w);

// Figures of the pruning stage after a run.
struct PruneStats {
  int64_t updates = 0;        // masks ranked
  double rank_seconds = 0.0;  // time spent ranking (on the compute thread at lag 0, else off it)
  double wait_seconds = 0.0;  // time the compute thread waited for a ranking (lag > 0)
  std::vector<std::pair<int64_t, double>> sparsity_at;  // (step applied, sparsity reached)
};

// The "prune-mask" compute stage that follows `schedule`. `stats` (optional) is filled as it
// runs; read it after the run.
ComputeStagePtr MakePruneStage(PruneSchedule schedule, std::shared_ptr<PruneStats> stats = {});

// Replaces the pipeline's "prune-mask" stage with MakePruneStage(config) over the pipeline's
// total steps, and, for "gradual" with restart_lr, restarts the pipeline's lr schedule at
// FineTuneStart (call it before Run, once). Does nothing for method "none". Returns the stats the
// stage fills (null for "none"). Throws Error(kInvalidArgument) on a bad configuration, naming the
// field.
std::shared_ptr<PruneStats> AttachPruning(TrainingPipeline& pipeline, const PruneConfig& config);

}  // namespace millrace::pipelines
