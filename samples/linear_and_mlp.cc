// Sample 1: a linear model and an MLP trained on Fashion-MNIST, on the device available.
//
//   read (io) --> augment (cpu) --> collate (cpu) --> train (compute: forward -> loss ->
//   IDX files     u8 samples        batch of 128      backward -> prune-mask -> step)
//                                                          |
//                                                          +--> evaluate (cpu, a weight
//                                                               snapshot, each epoch's end)
//
// The linear model (784 -> 10, softmax regression) is not a preset, so it trains in the plain
// loop (pipelines/reference_loop.h) over the same batches; the MLP (784-500-10) trains through
// the graph above. Run: build/samples/sample_linear_and_mlp  (--smoke: a slice, one epoch)
#include <cstring>
#include <iostream>
#include <memory>

#include "core/device.h"
#include "ops/flatten/flatten.h"
#include "ops/linear/linear.h"
#include "ops/optim/sgd.h"
#include "pipelines/reference_loop.h"
#include "pipelines/training.h"

using namespace millrace;
using namespace millrace::pipelines;

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  TrainConfig config;  // Fashion-MNIST, batch 128, SGD momentum 0.9, cosine schedule
  config.epochs = smoke ? 1 : 5;
  if (smoke) config.limit = 1024, config.test_limit = 512;

  // The device: a GPU where one answers and the pipeline can use it, else the CPU.
  if (CudaDeviceCount() > 0) {
    std::cout << "a CUDA device answers, but the training pipeline has no CUDA backend yet: CPU\n";
  }
  config.device = Device::Cpu();

  // 1. Linear: flatten, then one Linear layer; the plain loop.
  ops::Sequential linear;
  linear.Add("flatten", std::make_unique<ops::Flatten>());
  linear.Add("fc", std::make_unique<ops::Linear>(784, 10, true, /*seed=*/1));
  const DataSource train = DataSource::Open(config, Split::kTrain);
  const DataSource test = DataSource::Open(config, Split::kTest);
  ops::Sgd sgd(linear.Parameters(), {.lr = 0.05, .momentum = 0.9});
  const int64_t steps = train.batches_per_epoch() * config.epochs;
  TrainState state{&linear, &sgd, ops::CosineLr(steps), 0.05, 0};
  ReferenceTrain(train, state, config.epochs);
  std::cout << "linear (" << linear.ParameterCount() << " params): test accuracy "
            << 100.0 * EvaluatePlain(linear, test).Accuracy() << "%\n";

  // 2. MLP 784-500-10 through the training graph, accuracy printed at each epoch's end.
  config.model = "mlp";
  TrainHooks hooks;
  hooks.on_epoch = [](const EpochSummary& e) {
    std::cout << "mlp epoch " << e.epoch << ": test accuracy " << 100.0 * e.test.accuracy << "%\n";
  };
  TrainResult r = Train(config, hooks);
  std::cout << r.stage_report << "mlp: " << r.samples_per_s << " samples/s\n";
  return 0;
}
