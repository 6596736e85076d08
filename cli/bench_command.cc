// `millrace bench`: end-to-end training speed beside compute-only speed and the sgemm
// ceiling, in the same run, on the same compute thread budget.
//
//   ceiling       GFLOP/s of a 1024^3 sgemm (oneDNN matmul) on the compute thread's team;
//                 as samples/s: GFLOP/s / (3 x the model's forward FLOPs per sample)
//   compute-only  the plain step loop (pipelines/reference_loop.h) over batches already in
//                 memory: forward, loss, backward, optimizer step
//   end-to-end    the training graph: read -> augment -> collate -> train, the same model,
//                 batch size and thread budget
// Each is measured after a warm-up, `--repeat` times, alternating; medians are reported.
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
#include "ops/cpu/dnnl_context.h"
#include "ops/init.h"
#include "ops/models.h"
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

// GFLOP/s of C = A B with M = N = K = n through a oneDNN matmul on this thread's team.
Rate SgemmGflops(int64_t n) {
  Tensor a = Tensor::Empty({n, n}), b = Tensor::Empty({n, n}), c = Tensor::Empty({n, n});
  ops::Rng rng(1);
  ops::UniformFill(a, -1, 1, rng);
  ops::UniformFill(b, -1, 1, rng);
  const dnnl::memory::desc md = ops::cpu::PlainDesc(a.shape());
  dnnl::matmul matmul(dnnl::matmul::primitive_desc({md, md, md}, ops::cpu::Engine()));
  std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, ops::cpu::Wrap(md, a)},
                                                {DNNL_ARG_WEIGHTS, ops::cpu::Wrap(md, b)},
                                                {DNNL_ARG_DST, ops::cpu::Wrap(md, c)}};
  for (int i = 0; i < 3; ++i) ops::cpu::Execute("sgemm", matmul, args);
  const int reps = 10;
  const auto t0 = Clock::now();
  const double c0 = ThreadCpuSeconds();
  for (int i = 0; i < reps; ++i) ops::cpu::Execute("sgemm", matmul, args);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = ThreadCpuSeconds() - c0;
  return {2.0 * n * n * n * reps / s * 1e-9, 2.0 * n * n * n * reps / cpu * 1e-9};
}

// samples/s of the plain loop over `batches` in memory, after `warmup` steps.
Rate ComputeOnly(const pipelines::TrainConfig& c, const std::vector<pipelines::Batch>& batches,
                 int64_t warmup, int64_t steps) {
  pipelines::TrainConfig quiet = c;
  quiet.eval_each_epoch = false;
  pipelines::TrainingPipeline p(quiet);  // the same model, optimizer and schedule set-up
  pipelines::TrainOnBatches(batches, p.state(), warmup);
  const auto t0 = Clock::now();
  const double c0 = ThreadCpuSeconds();
  pipelines::TrainOnBatches(batches, p.state(), steps);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = ThreadCpuSeconds() - c0;
  return {steps * c.batch_size / s, steps * c.batch_size / cpu};
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

int RunBench(BenchArgs& a) {
  pipelines::TrainConfig& c = a.config;
  std::vector<std::string> notes;
  Resolve(a.raw, c, notes);
  for (const std::string& n : notes) std::cout << n << "\n";
  c.epochs = std::max<int>(c.epochs, 1);
  const int threads = c.compute_threads > 0 ? c.compute_threads : DefaultThreadBudget().compute;
  c.compute_threads = threads;
  // This thread runs the ceiling and compute-only loops.
  ops::InitComputeThread(Device::Cpu(), threads);

  pipelines::DataSource train = pipelines::DataSource::Open(c, pipelines::Split::kTrain);
  std::vector<pipelines::Batch> batches;
  const auto epoch = train.EpochBatches(1);
  for (size_t i = 0; i < std::min<size_t>(16, epoch.size()); ++i) {
    batches.push_back(train.MakeBatch(1, epoch[i]));
  }
  ops::Sequential probe = ops::MakeModel(c.model, c.seed);
  const double flops_per_sample = probe.TrainingFlops({1, 1, 28, 28});

  std::cout << "millrace bench: model " << c.model << ", batch " << c.batch_size << ", " << a.steps
            << " timed steps after " << a.warmup << " warm-up, " << a.repeat << " repetitions; "
            << AvailableCores() << " cores, oneDNN threads " << threads << ", augment workers "
            << c.ConcurrencyOf("augment", DefaultThreadBudget().cpu_stages)
            << (c.augment ? " (crop+flip on)" : " (no augmentation)") << "\n";
  std::vector<double> ceiling, compute, e2e, ceiling_cpu, compute_cpu, e2e_cpu, ratio, ratio_cpu;
  std::string report;
  for (int r = 0; r < a.repeat; ++r) {
    const Rate g = SgemmGflops(1024);
    const Rate co = ComputeOnly(c, batches, a.warmup, a.steps);
    const Rate ee = EndToEnd(c, a.warmup, a.steps, &report);
    ceiling.push_back(g.wall);
    compute.push_back(co.wall);
    e2e.push_back(ee.wall);
    ceiling_cpu.push_back(g.cpu);
    compute_cpu.push_back(co.cpu);
    e2e_cpu.push_back(ee.cpu);
    ratio.push_back(ee.wall / co.wall);
    ratio_cpu.push_back(ee.cpu / co.cpu);
    std::cout << "  run " << r + 1 << std::fixed << std::setprecision(1) << ": sgemm " << g.wall
              << " GFLOP/s, compute-only " << std::setprecision(0) << co.wall
              << " samples/s, end-to-end " << ee.wall << " samples/s";
    if (threads == 1) {
      std::cout << std::setprecision(1) << "   | per compute-thread CPU second: sgemm " << g.cpu
                << " GFLOP, compute-only " << std::setprecision(0) << co.cpu << ", end-to-end "
                << ee.cpu;
    }
    std::cout << "\n";
  }
  auto print = [&](const char* what, double g, double co, double ee, double r) {
    const double ceiling_sps = g * 1e9 / flops_per_sample;
    std::cout << what << "\n"
              << std::fixed << std::setprecision(1) << "  sgemm ceiling  " << std::setw(8) << g
              << " GFLOP/s = " << std::setprecision(0) << ceiling_sps << " samples/s at "
              << std::setprecision(2) << flops_per_sample * 1e-6
              << " MFLOP per sample (forward, backward-weights, backward-data but the first layer's)\n"
              << std::setprecision(0) << "  compute-only   " << std::setw(8) << co << " samples/s ("
              << std::setprecision(2) << co / ceiling_sps << " of the ceiling)\n"
              << std::setprecision(0) << "  end-to-end     " << std::setw(8) << ee << " samples/s ("
              << std::setprecision(2) << ee / ceiling_sps << " of the ceiling)\n"
              << "  end-to-end / compute-only: " << r << " (median of the per-run ratios)\n";
  };
  std::cout << "\n" << report << "\nmedians of " << a.repeat << " runs\n";
  print("by wall clock:", Median(ceiling), Median(compute), Median(e2e), Median(ratio));
  if (threads == 1) {
    print("by the compute thread's CPU time (immune to descheduling on a loaded machine):",
          Median(ceiling_cpu), Median(compute_cpu), Median(e2e_cpu), Median(ratio_cpu));
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
      "oneDNN sgemm ceiling, in the same run.");
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
