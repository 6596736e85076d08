// Sample 6: a stage written by the user, inserted into the training pipeline. Here: clipping of
// the gradient's global L2 norm (as torch.nn.utils.clip_grad_norm_), between the prune-mask
// stage and the optimizer step, counting how often it clipped.
//
//   read -> augment -> collate -> train (compute, per batch, in this order):
//                                 forward -> loss -> backward -> prune-mask -> [clip] -> step
//                                                                               ^ the user's
//
// A ComputeStage runs on the compute thread, in sequence order, with the model and optimizer
// in reach (TrainState); it shows up in the stage report with its own busy time.
// Run: build/samples/sample_custom_stage   (--smoke: a slice of the data)
#include <cmath>
#include <cstring>
#include <iostream>

#include "pipelines/training.h"

using namespace millrace::pipelines;

class ClipGradNorm : public ComputeStage {
 public:
  explicit ClipGradNorm(double max_norm) : ComputeStage("clip"), max_norm_(max_norm) {}
  void Run(StepItem&, TrainState& state) override {
    double sum = 0;
    for (millrace::ops::Parameter* p : state.model->Parameters()) {
      for (float g : p->grad.span<const float>()) sum += static_cast<double>(g) * g;
    }
    const double norm = std::sqrt(sum);
    if (norm <= max_norm_) return;
    ++clipped_;
    const float scale = static_cast<float>(max_norm_ / (norm + 1e-6));
    for (millrace::ops::Parameter* p : state.model->Parameters()) {
      for (float& g : p->grad.span<float>()) g *= scale;
    }
  }
  int64_t clipped() const { return clipped_; }

 private:
  double max_norm_;
  int64_t clipped_ = 0;
};

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  TrainConfig config;
  config.epochs = smoke ? 1 : 2;
  if (smoke) config.limit = 1024, config.test_limit = 512;

  TrainingPipeline pipeline(config);
  auto clip = std::make_unique<ClipGradNorm>(/*max_norm=*/1.0);
  ClipGradNorm* clip_stage = clip.get();  // the pipeline owns it; it lives as long
  pipeline.InsertBefore("step", std::move(clip));
  TrainResult r = pipeline.Run();

  std::cout << r.stage_report << "clipped " << clip_stage->clipped() << " of " << r.steps
            << " steps; test accuracy " << 100 * r.final_test->Accuracy() << "%\n";
  return 0;
}
