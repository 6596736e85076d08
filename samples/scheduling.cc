// Sample 5: resource scheduling. The same training pipeline (mlp, augmented Fashion-MNIST) at
// several batch sizes and augment concurrencies; samples/s of each, the stage table of the
// fastest, and a trace file of it (open in https://ui.perfetto.dev).
//
//   read (io) --64--> augment (cpu x N) --256--> collate (cpu) --4--> train (compute)
//                     ^ N = 1, 2                 batch B = 64, 128, 256
//
// On 2 cores, augment at N = 2 competes with the compute thread's oneDNN; the table shows
// whether the data side or compute is the limit. Run: build/samples/sample_scheduling
// (--smoke: 20 steps per setting)
#include <cstring>
#include <iomanip>
#include <iostream>
#include <string>

#include "pipelines/training.h"

using namespace millrace::pipelines;

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  std::cout << "batch  augment workers  samples/s\n";
  double best = 0;
  TrainConfig best_config;
  for (int64_t batch : {64, 128, 256}) {
    for (int workers : {1, 2}) {
      TrainConfig config;
      config.augment = true;  // crop and flip: real work for the cpu stage
      config.batch_size = batch;
      config.epochs = 1;
      config.max_steps = smoke ? 20 : 60000 / batch / 2;  // half an epoch
      config.eval_each_epoch = false;
      config.concurrency["augment"] = workers;
      TrainResult r = Train(config);
      std::cout << std::setw(5) << batch << std::setw(17) << workers << std::setw(11) << std::fixed
                << std::setprecision(0) << r.samples_per_s << "\n";
      if (r.samples_per_s > best) best = r.samples_per_s, best_config = config;
    }
  }
  // The fastest setting again, traced.
  best_config.trace_path = "scheduling_trace.json";
  TrainResult r = Train(best_config);
  std::cout << "\nfastest: batch " << best_config.batch_size << ", augment x"
            << best_config.concurrency["augment"] << "\n"
            << r.stage_report << "trace: " << best_config.trace_path << "\n";
  return 0;
}
