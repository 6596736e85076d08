// Sample 3: magnitude pruning. Train an MLP, prune 50%, 80% and 90% of its weights (L1,
// one global ranking over both weight matrices), fine-tune each for an epoch with the masks
// held, and report accuracy and sparsity.
//
//   dense training (graph)          for s in 50%, 80%, 90%: a fine-tuning graph
//   read -> augment -> collate      read -> augment -> collate -> train: forward -> loss ->
//        -> train -> evaluate                                 backward -> prune-mask -> step
//                                                                          |
//                                       at step 0: rank |w| over fc1.weight + fc2.weight,
//                                       mask the smallest s; later steps keep them at 0
//
// Run: build/samples/sample_pruning   (--smoke: a slice of the data, one epoch each)
#include "pipelines/pruning.h"

#include <cstring>
#include <iomanip>
#include <iostream>

#include "pipelines/snapshot.h"
#include "pipelines/training.h"

using namespace millrace::pipelines;

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  TrainConfig config;  // mlp (784-500-10) on Fashion-MNIST
  config.epochs = smoke ? 1 : 5;
  if (smoke) config.limit = 1024, config.test_limit = 512;

  TrainingPipeline dense(config);
  TrainResult d = dense.Run();
  const WeightSnapshot trained = TakeSnapshot(dense.model());
  std::cout << std::fixed << std::setprecision(2) << "dense:      accuracy "
            << 100 * d.final_test->Accuracy() << "%, sparsity 0%\n";

  for (float sparsity : {0.5f, 0.8f, 0.9f}) {
    TrainConfig fine_tune = config;
    fine_tune.epochs = 1;
    fine_tune.optimizer.lr = 0.01f;  // a gentler learning rate for fine-tuning
    TrainingPipeline pipeline(fine_tune);
    LoadSnapshot(trained, pipeline.model());  // start from the dense weights
    AttachPruning(pipeline, {.method = "oneshot", .sparsity = sparsity, .global = true});
    TrainResult r = pipeline.Run();
    std::cout << "pruned " << std::setw(2) << static_cast<int>(sparsity * 100) << "%: accuracy "
              << 100 * r.final_test->Accuracy() << "% after 1 epoch of "
              << "fine-tuning, sparsity " << 100 * r.sparsity << "% of the weights\n";
  }
  return 0;
}
