// The evaluation graph: accuracy, mean loss and confusion matrix of a model over a test set.
//
//   read (io: samples of a batch) -> collate (cpu) -> forward (compute, eval mode)
//     -> metrics (cpu)
//
//   DataSource test = DataSource::Open(config, Split::kTest);
//   EvalResult r = EvaluateGraph(model, test, {.compute_threads = 2});
//   r.metrics.Accuracy(); std::cout << r.stage_report;
//
// The metrics are accumulated in batch order, so they equal EvaluatePlain's (reference_loop.h)
// exactly, also when records are skipped: under --on-bad-record skip (the DataSource's
// TrainConfig::bad_records) a record that fails to decode is left out of its batch
// (DataSource::ReadOrSkip, as MakeBatch does), described in the SkipLog, and more than
// --max-bad-share of the split ends the evaluation with Error(kData). Run() from one thread; the
// model is used only by the compute thread meanwhile.
#pragma once

#include <string>

#include "ops/precision.h"
#include "ops/sequential.h"
#include "pipelines/data.h"
#include "pipelines/metrics.h"

namespace millrace::pipelines {

struct EvalOptions {
  int compute_threads = 1;  // oneDNN (OpenMP) threads of the compute thread
  int64_t capacity = 4;     // batches in flight between stages
  std::string trace_path;   // Chrome trace-event JSON, when not empty
  // Where forward runs: the CPU's compute thread, or cuda:N (the model is moved there; each
  // batch is copied in and its logits read back once).
  Device device = Device::Cpu();
  // How Linear's and Conv2d's matmuls compute on a CUDA device (ops/precision.h); set on the
  // compute thread. Ignored on the CPU.
  ops::Precision precision = ops::kDefaultPrecision;
};

struct EvalResult {
  ClassificationMetrics metrics;
  double seconds = 0.0;
  std::string stage_report;  // the graph's per-stage table and bottleneck
};

EvalResult EvaluateGraph(ops::Sequential& model, const DataSource& test,
                         const EvalOptions& options = {});

}  // namespace millrace::pipelines
