#include "pipelines/evaluation.h"

#include <chrono>
#include <memory>

#include "core/graph/graph.h"
#include "ops/compute_thread.h"
#include "ops/precision.h"

namespace millrace::pipelines {

namespace {
struct Logits {
  Tensor logits;
  Tensor labels;
};
}  // namespace

EvalResult EvaluateGraph(ops::Sequential& model, const DataSource& test,
                         const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  GraphOptions graph_options;
  graph_options.io_threads = 1;
  const int threads = options.compute_threads;
  graph_options.device_thread_init = [threads, precision = options.precision](Device device) {
    ops::InitComputeThread(device, threads);
    ops::SetComputePrecision(precision);
  };
  graph_options.trace = !options.trace_path.empty();
  Graph g(graph_options);

  auto batches = std::make_shared<std::vector<std::vector<int64_t>>>(test.EpochBatches(1));
  auto next = std::make_shared<size_t>(0);
  auto read = g.Source<std::vector<io::Sample>>(
      "read", Io(1), [&test, batches, next]() -> std::optional<std::vector<io::Sample>> {
        if (*next == batches->size()) return std::nullopt;
        const std::vector<int64_t>& batch = (*batches)[(*next)++];
        std::vector<io::Sample> samples;
        samples.reserve(batch.size());
        for (int64_t index : batch) {
          // Under --on-bad-record skip a record that fails to decode is left out of its batch.
          if (std::optional<io::Sample> s = test.ReadOrSkip(index)) {
            samples.push_back(std::move(*s));
          }
        }
        MILLRACE_CHECK(!samples.empty(), ErrorKind::kData,
                       "every one of the " << batch.size() << " records of a test batch failed "
                                           << "to decode and was skipped");
        return samples;
      });
  auto collate = g.Map<std::vector<io::Sample>>(
      "collate", Cpu(1), [&test](std::vector<io::Sample>&& s) { return test.Collate(s); });
  const Device device = options.device;
  ops::CheckComputeDevice(device);
  model.To(device);
  auto forward = g.Map<Batch>(
      "forward", device.is_cpu() ? Compute() : Gpu(device.index), [&model, device](Batch&& b) {
        if (device.is_cpu()) {
          return Logits{model.Forward(b.images, ops::Mode::kEval), std::move(b.labels)};
        }
        // One copy in, one read back: the metrics are counted on the host.
        Tensor logits = model.Forward(b.images.To(device), ops::Mode::kEval);
        return Logits{logits.To(Device::Cpu()), std::move(b.labels)};
      });
  EvalResult result{ClassificationMetrics(static_cast<int>(test.num_classes()))};
  auto metrics = g.Sink<Logits>("metrics", Cpu(1),
                                [&result](Logits&& l) { result.metrics.Add(l.logits, l.labels); });
  g.Connect(read, collate, options.capacity)
      .Connect(collate, forward, options.capacity)
      .Connect(forward, metrics, options.capacity);
  g.Run();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.stage_report = g.Report();
  if (!options.trace_path.empty()) g.WriteTrace(options.trace_path);
  return result;
}

}  // namespace millrace::pipelines
