// `millrace bench`: end-to-end training speed beside compute-only speed and the device's GEMM
// ceiling, in the same run, on the same device and compute thread budget.
//
//   ceiling       GFLOP/s of C = A B with M = N = K = n through ops::Gemm on the compute device:
//                 on the CPU n = 1024, a oneDNN sgemm on the compute thread's team; on cuda:N
//                 n = 4096, cuBLAS sgemm in FP32 and again in TF32 (tensor cores), both
//                 reported, the FP32 one the reference of the ratios; as samples/s: GFLOP/s /
//                 the model's training FLOPs per sample
//   compute-only  the plain step loop (pipelines/reference_loop.h) over batches already in
//                 memory (on the device): forward, loss, backward, optimizer step
//   end-to-end    the training graph: read -> augment -> collate -> train, the same model,
//                 batch size, device and thread budget
// Each is measured after a warm-up, `--repeat` times, alternating; medians are reported. On a
// GPU every timed interval ends with ops::Synchronize, so queued work is counted.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/options.h"
#include "core/threads.h"
#include "ops/compute_thread.h"
#include "ops/init.h"
#include "ops/linear/gemm.h"
#include "ops/models.h"
#include "ops/precision.h"
#include "pipelines/reference_loop.h"
#include "pipelines/training.h"

namespace millrace::cli {

namespace {

using Clock = std::chrono::steady_clock;

// CPU seconds of the calling thread: with one oneDNN thread all the compute runs on it, so
// samples per CPU-second of the compute thread are immune to the thread being descheduled on a
// loaded machine (wall-clock rates are not).
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// A rate by wall clock and by the compute thread's CPU time.
struct Rate {
  double wall = 0.0;
  double cpu = 0.0;
};

struct BenchArgs {
  pipelines::TrainConfig config;
  RawFlags raw;
  int64_t steps = 300;
  int64_t warmup = 30;
  int repeat = 3;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The side of the ceiling's square matrices: 1024 on the CPU, 4096 on a GPU (large enough for
// its peak; ~0.14 TFLOP a product).
int64_t CeilingSize(Device device) { return device.is_cpu() ? 1024 : 4096; }

// GFLOP/s of C = A B with M = N = K = n through ops::Gemm on `device`, from this thread (its
// oneDNN team on the CPU, its stream on a GPU), after a warm-up.
Rate GemmGflops(Device device, int64_t n, ops::GemmMath math) {
  Tensor a = Tensor::Empty({n, n}), b = Tensor::Empty({n, n});
  ops::Rng rng(1);
  ops::UniformFill(a, -1, 1, rng);
  ops::UniformFill(b, -1, 1, rng);
  if (!device.is_cpu()) {
    a = a.To(device);
    b = b.To(device);
  }
  Tensor c = Tensor::Empty({n, n}, DType::kF32, device);
  for (int i = 0; i < 3; ++i) ops::Gemm(a, b, c, math);
  ops::Synchronize(device);
  const int reps = device.is_cpu() ? 10 : 50;
  const auto t0 = Clock::now();
  const double c0 = ThreadCpuSeconds();
  for (int i = 0; i < reps; ++i) ops::Gemm(a, b, c, math);
  ops::Synchronize(device);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = ThreadCpuSeconds() - c0;
  return {2.0 * n * n * n * reps / s * 1e-9, 2.0 * n * n * n * reps / cpu * 1e-9};
}

// samples/s of the plain loop over `batches` in memory (on c.device), after `warmup` steps.
Rate ComputeOnly(const pipelines::TrainConfig& c, const std::vector<pipelines::Batch>& batches,
                 int64_t warmup, int64_t steps) {
  pipelines::TrainConfig quiet = c;
  quiet.eval_each_epoch = false;
  pipelines::TrainingPipeline p(quiet);  // the same model (on c.device), optimizer and schedule
  pipelines::TrainOnBatches(batches, p.state(), warmup);
  ops::Synchronize(c.device);
  const auto t0 = Clock::now();
  const double c0 = ThreadCpuSeconds();
  pipelines::TrainOnBatches(batches, p.state(), steps);
  ops::Synchronize(c.device);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = ThreadCpuSeconds() - c0;
  return {steps * c.batch_size / s, steps * c.batch_size / cpu};
}

// Copies of `batches` with their images and labels on `device`.
std::vector<pipelines::Batch> OnDevice(const std::vector<pipelines::Batch>& batches,
                                       Device device) {
  std::vector<pipelines::Batch> out;
  for (const pipelines::Batch& b : batches) {
    pipelines::Batch d;
    d.seq = b.seq;
    d.epoch = b.epoch;
    d.index_in_epoch = b.index_in_epoch;
    d.last_in_epoch = b.last_in_epoch;
    d.images = b.images.To(device);
    d.labels = b.labels.To(device);
    d.indices = b.indices;
    out.push_back(std::move(d));
  }
  return out;
}

// samples/s of the training graph between step `warmup` and its last step.
Rate EndToEnd(const pipelines::TrainConfig& c, int64_t warmup, int64_t steps, std::string* report) {
  pipelines::TrainConfig run = c;
  run.eval_each_epoch = false;
  run.max_steps = warmup + steps;
  run.epochs = static_cast<int>(std::max<int64_t>(1, run.epochs));
  pipelines::TrainingPipeline p(run);
  MILLRACE_CHECK_ARG(p.steps_per_epoch() * run.epochs >= run.max_steps,
                     "bench: " << run.max_steps << " steps need more than " << run.epochs
                               << " epochs of " << p.steps_per_epoch() << " steps; raise --epochs");
  int64_t step0 = -1, step1 = 0;
  double t0 = 0, t1 = 0, c0 = 0, c1 = 0;
  pipelines::TrainHooks hooks;
  hooks.on_step = [&](const pipelines::StepProgress& s) {
    if (step0 < 0 && s.step >= warmup) {
      step0 = s.step;
      t0 = s.elapsed_s;
      c0 = ThreadCpuSeconds();  // hooks run on the compute thread
    }
    step1 = s.step;
    t1 = s.elapsed_s;
    c1 = ThreadCpuSeconds();
  };
  hooks.interrupt = &InterruptFlag();
  pipelines::TrainResult r = p.Run(hooks);
  *report = r.stage_report;
  MILLRACE_CHECK(step1 > step0 && t1 > t0, ErrorKind::kInternal, "bench: no steady interval");
  const double samples = static_cast<double>((step1 - step0) * c.batch_size);
  return {samples / (t1 - t0), samples / std::max(1e-9, c1 - c0)};
}

// The ceilings and rates of one run of the three measurements.
struct BenchRun {
  Rate ceiling;       // sgemm: oneDNN on the CPU, cuBLAS FP32 on a GPU
  Rate ceiling_tf32;  // GPU only
  Rate compute;
  Rate e2e;
};

// The medians of the runs, as printed.
struct BenchSummary {
  double ceiling = 0, ceiling_tf32 = 0, compute = 0, e2e = 0, ratio = 0;
};

void PrintSummary(const char* what, const BenchSummary& m, double flops_per_sample, bool gpu) {
  const double ceiling_sps = m.ceiling * 1e9 / flops_per_sample;
  std::cout
      << what << "\n"
      << std::fixed << std::setprecision(1) << "  sgemm ceiling  " << std::setw(8) << m.ceiling
      << " GFLOP/s = " << std::setprecision(0) << ceiling_sps << " samples/s at "
      << std::setprecision(2) << flops_per_sample * 1e-6
      << " MFLOP per sample (forward, backward-weights, backward-data but the first layer's)\n";
  if (gpu) {
    std::cout << std::setprecision(1) << "  tf32 ceiling   " << std::setw(8) << m.ceiling_tf32
              << " GFLOP/s = " << std::setprecision(0) << m.ceiling_tf32 * 1e9 / flops_per_sample
              << " samples/s (cuBLAS on TF32 tensor cores)\n";
  }
  std::cout << std::setprecision(0) << "  compute-only   " << std::setw(8) << m.compute
            << " samples/s (" << std::setprecision(2) << m.compute / ceiling_sps
            << " of the ceiling)\n"
            << std::setprecision(0) << "  end-to-end     " << std::setw(8) << m.e2e
            << " samples/s (" << std::setprecision(2) << m.e2e / ceiling_sps
            << " of the ceiling)\n";
  if (gpu) {
    const double tf32_sps = m.ceiling_tf32 * 1e9 / flops_per_sample;
    std::cout << std::setprecision(2) << "  of the tf32 ceiling: compute-only "
              << m.compute / tf32_sps << ", end-to-end " << m.e2e / tf32_sps << "\n";
  }
  std::cout << "  end-to-end / compute-only: " << m.ratio << " (median of the per-run ratios)\n";
}

int RunBench(BenchArgs& a) {
  pipelines::TrainConfig& c = a.config;
  std::vector<std::string> notes;
  Resolve(a.raw, c, notes);  // a device that can't run ops exits 4 here, before any data loads
  for (const std::string& n : notes) std::cout << n << "\n";
  c.epochs = std::max<int>(c.epochs, 1);
  const bool gpu = !c.device.is_cpu();
  const int threads = c.compute_threads > 0 ? c.compute_threads : DefaultThreadBudget().compute;
  c.compute_threads = threads;
  // This thread runs the ceiling and compute-only loops (on a GPU: submits them to its stream).
  ops::InitComputeThread(c.device, gpu ? 1 : threads);
  ops::SetComputePrecision(c.precision);  // Linear's and Conv2d's matmuls on a GPU

  pipelines::DataSource train = pipelines::DataSource::Open(c, pipelines::Split::kTrain);
  std::vector<pipelines::Batch> batches;
  const auto epoch = train.EpochBatches(1);
  for (size_t i = 0; i < std::min<size_t>(16, epoch.size()); ++i) {
    batches.push_back(train.MakeBatch(1, epoch[i]));
  }
  if (gpu) batches = OnDevice(batches, c.device);
  ops::Sequential probe = ops::MakeModel(c.model, c.seed);
  const double flops_per_sample = probe.TrainingFlops({1, 1, 28, 28});

  std::cout << "millrace bench: model " << c.model << ", batch " << c.batch_size << ", " << a.steps
            << " timed steps after " << a.warmup << " warm-up, " << a.repeat << " repetitions; "
            << AvailableCores() << " cores, ";
  if (gpu) {
    std::cout << "device " << c.device.ToString() << " (precision "
              << ops::PrecisionName(c.precision) << ")";
  } else {
    std::cout << "oneDNN threads " << threads;
  }
  std::cout << ", augment workers " << c.ConcurrencyOf("augment", DefaultThreadBudget().cpu_stages)
            << (c.augment ? " (crop+flip on)" : " (no augmentation)") << "\n";
  const int64_t n = CeilingSize(c.device);
  // On the CPU a compute-thread CPU second is all the compute when the team has one thread.
  const bool per_cpu_second = !gpu && threads == 1;
  std::vector<BenchRun> runs;
  std::string report;
  for (int r = 0; r < a.repeat; ++r) {
    BenchRun run;
    run.ceiling = GemmGflops(c.device, n, ops::GemmMath::kFp32);
    if (gpu) run.ceiling_tf32 = GemmGflops(c.device, n, ops::GemmMath::kTf32);
    run.compute = ComputeOnly(c, batches, a.warmup, a.steps);
    run.e2e = EndToEnd(c, a.warmup, a.steps, &report);
    runs.push_back(run);
    std::cout << "  run " << r + 1 << std::fixed << std::setprecision(1) << ": sgemm "
              << run.ceiling.wall << " GFLOP/s";
    if (gpu) std::cout << ", tf32 " << run.ceiling_tf32.wall << " GFLOP/s";
    std::cout << ", compute-only " << std::setprecision(0) << run.compute.wall
              << " samples/s, end-to-end " << run.e2e.wall << " samples/s";
    if (per_cpu_second) {
      std::cout << std::setprecision(1) << "   | per compute-thread CPU second: sgemm "
                << run.ceiling.cpu << " GFLOP, compute-only " << std::setprecision(0)
                << run.compute.cpu << ", end-to-end " << run.e2e.cpu;
    }
    std::cout << "\n";
  }
  // The medians by wall clock, or by the compute thread's CPU time.
  auto medians = [&](double Rate::*clock) {
    std::vector<double> ceiling, tf32, compute, e2e, ratio;
    for (const BenchRun& run : runs) {
      ceiling.push_back(run.ceiling.*clock);
      tf32.push_back(run.ceiling_tf32.*clock);
      compute.push_back(run.compute.*clock);
      e2e.push_back(run.e2e.*clock);
      ratio.push_back(run.e2e.*clock / (run.compute.*clock));
    }
    return BenchSummary{Median(ceiling), Median(tf32), Median(compute), Median(e2e), Median(ratio)};
  };
  std::cout << "\n" << report << "\nmedians of " << a.repeat << " runs\n";
  PrintSummary("by wall clock:", medians(&Rate::wall), flops_per_sample, gpu);
  if (per_cpu_second) {
    PrintSummary("by the compute thread's CPU time (immune to descheduling on a loaded machine):",
                 medians(&Rate::cpu), flops_per_sample, gpu);
  }
  return kExitOk;
}

}  // namespace

Command AddBenchCommand(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  args->config.epochs = 2;
  CLI::App* cmd = app.add_subcommand(
      "bench",
      "Training speed: end-to-end (the graph) beside compute-only (batches in memory) and the "
      "device's GEMM ceiling, in the same run. The ceiling: on the CPU a 1024^3 oneDNN sgemm on "
      "the compute threads; on cuda:N a 4096^3 cuBLAS sgemm in FP32 and in TF32 (tensor cores), "
      "the ratios against the FP32 one, the TF32 ones on a line of their own.");
  AddCommonOptions(*cmd, args->config, args->raw);
  AddTrainOptions(*cmd, args->config, args->raw);
  cmd->add_option("--steps", args->steps, "timed steps per measurement")->capture_default_str();
  cmd->add_option("--untimed-steps", args->warmup, "steps run before the timed ones")
      ->capture_default_str();
  cmd->add_option("--repeat", args->repeat, "repetitions (medians are reported)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  return {cmd, [args] { return RunBench(*args); }};
}

}  // namespace millrace::cli
