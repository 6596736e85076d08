// `millrace tune`: short measured trials of the training graph, the tuner's model fitted to
// them (pipelines/tuner.h), the chosen configuration verified by one more trial, a table of the
// trials, what limits throughput in words, and the configuration as JSON for
// `millrace train --config`. --exhaustive runs the whole grid instead, for comparison.
#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/options.h"
#include "core/threads.h"
#include "pipelines/config_file.h"
#include "pipelines/pruning.h"
#include "pipelines/training.h"
#include "pipelines/tuner.h"

namespace millrace::cli {

namespace {

struct TuneArgs {
  pipelines::TrainConfig config;
  RawFlags raw;
  std::string config_file;
  CLI::App* cmd = nullptr;
  int64_t steps = 100;
  int64_t warmup = 10;
  int cores = 0;
  int max_trials = 20;
  std::string out = "tune.json";
  bool exhaustive = false;
};

// One configuration the tune command runs: compute threads (0: the default adaptive plan),
// augment workers (0: the default) and capacities (empty: the graph's defaults).
struct TrialSetting {
  std::string kind;  // "default", "probe", "verify", "grid"
  int compute_threads = 0;
  int augment = 0;
  std::map<std::string, int> capacity;
  double predicted = 0;  // samples/s, where the model predicted it
};

struct TrialOutcome {
  TrialSetting setting;
  double samples_per_s = 0;  // between the warm-up and the last step
  double seconds = 0;        // the whole trial, loading included
  pipelines::Trial fit;      // what the model is fitted to
  int threads_used = 0;      // the team size at the end (the default plan's choice)
};

// 1..cores up to 8 cores; past that, powers of two and the core count itself.
std::vector<int> CountsUpTo(int cores) {
  std::vector<int> out;
  for (int n = 1; n <= cores; n = cores <= 8 ? n + 1 : n * 2) out.push_back(n);
  if (out.back() != cores) out.push_back(cores);
  return out;
}

std::string CapacityText(const std::map<std::string, int>& capacity) {
  if (capacity.empty()) return "default";
  std::string out;
  for (const auto& [stage, n] : capacity) {
    out += (out.empty() ? "" : ",") + stage + "=" + std::to_string(n);
  }
  return out;
}

pipelines::TrainConfig ConfigOf(const pipelines::TrainConfig& base, const TrialSetting& s) {
  pipelines::TrainConfig c = base;
  c.compute_threads = s.compute_threads;
  if (s.augment > 0) c.concurrency["augment"] = s.augment;
  for (const auto& [stage, n] : s.capacity) c.capacity[stage] = n;
  return c;
}

TrialOutcome RunTrial(const pipelines::TrainConfig& base, const TrialSetting& setting,
                      int64_t warmup, int64_t steps) {
  const auto start = std::chrono::steady_clock::now();
  pipelines::TrainConfig c = ConfigOf(base, setting);
  c.max_steps = warmup + steps;
  pipelines::TrainingPipeline pipeline(c);
  MILLRACE_CHECK_ARG(pipeline.steps_per_epoch() * c.epochs >= c.max_steps,
                     "tune: a trial of " << c.max_steps << " steps needs more than " << c.epochs
                                         << " epochs of " << pipeline.steps_per_epoch()
                                         << " steps");
  if (c.prune.method != "none") pipelines::AttachPruning(pipeline, c.prune);
  int64_t step0 = -1, step1 = 0;
  double t0 = 0, t1 = 0;
  pipelines::TrainHooks hooks;
  hooks.on_step = [&](const pipelines::StepProgress& p) {
    if (step0 < 0 && p.step >= warmup) {
      step0 = p.step;
      t0 = p.elapsed_s;
    }
    step1 = p.step;
    t1 = p.elapsed_s;
  };
  hooks.interrupt = &InterruptFlag();
  pipelines::TrainResult r = pipeline.Run(hooks);
  TrialOutcome out;
  out.setting = setting;
  out.samples_per_s = step1 > step0 && t1 > t0
                          ? static_cast<double>((step1 - step0) * c.batch_size) / (t1 - t0)
                          : r.samples_per_s;
  out.fit.stats = r.graph;
  out.fit.compute_threads = setting.compute_threads;  // 0: the adaptive plan's, not fitted
  out.fit.samples = static_cast<double>(r.samples);
  out.threads_used = r.budget.compute;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

void PrintHeader() {
  std::cout << std::left << std::setw(4) << "#" << std::setw(9) << "trial" << std::setw(9)
            << "threads" << std::setw(9) << "augment" << std::setw(34) << "capacities" << std::right
            << std::setw(11) << "samples/s" << std::setw(11) << "predicted" << std::setw(8) << "s"
            << "\n";
}

void PrintRow(size_t i, const TrialOutcome& t) {
  const TrialSetting& s = t.setting;
  const std::string threads = s.compute_threads > 0 ? std::to_string(s.compute_threads)
                                                    : "plan:" + std::to_string(t.threads_used);
  std::cout << std::left << std::setw(4) << i + 1 << std::setw(9) << s.kind << std::setw(9)
            << threads << std::setw(9) << (s.augment > 0 ? std::to_string(s.augment) : "default")
            << std::setw(34) << CapacityText(s.capacity) << std::right << std::fixed
            << std::setprecision(0) << std::setw(11) << t.samples_per_s << std::setw(11);
  if (s.predicted > 0) {
    std::cout << s.predicted;
  } else {
    std::cout << "-";
  }
  std::cout << std::setprecision(1) << std::setw(8) << t.seconds << "\n" << std::flush;
}

std::string SettingText(const TrialSetting& s) {
  std::ostringstream out;
  out << "compute threads "
      << (s.compute_threads > 0 ? std::to_string(s.compute_threads) : "of the default plan")
      << ", augment workers " << (s.augment > 0 ? std::to_string(s.augment) : "default")
      << ", capacities " << CapacityText(s.capacity);
  return out.str();
}

int RunTune(TuneArgs& args) {
  pipelines::TrainConfig& base = args.config;
  std::vector<std::string> notes;
  Resolve(args.raw, base, notes);
  ApplyConfigFile(*args.cmd, args.config_file, base, notes);
  for (const std::string& n : notes) std::cout << n << "\n";
  MILLRACE_CHECK_ARG(base.teacher_checkpoint.empty(),
                     "tune: distillation (--teacher) is not tuned yet; tune the student alone");
  base.eval_each_epoch = false;
  base.checkpoint_dir.clear();
  base.trace_path.clear();
  base.resume = false;
  base.epochs = 100000;  // trials stop at their step count; the data repeats as needed
  const int cores = args.cores > 0 ? args.cores : AvailableCores();
  const std::vector<int> counts = CountsUpTo(cores);
  // On a GPU compute does not use the oneDNN team: one thread, and the cores to the cpu stages.
  const std::vector<int> thread_counts = base.device.is_cpu() ? counts : std::vector<int>{1};

  std::cout << "millrace tune: model " << base.model << ", " << base.data_dir << " ("
            << base.data_format << (base.augment ? ", augmented" : "") << "), batch "
            << base.batch_size << ", " << cores << " cores; trials of " << args.warmup << " + "
            << args.steps << " steps (samples/s over the last " << args.steps << ")\n\n";
  PrintHeader();
  std::vector<TrialOutcome> trials;
  auto run = [&](const TrialSetting& s) -> const TrialOutcome& {
    trials.push_back(RunTrial(base, s, args.warmup, args.steps));
    PrintRow(trials.size() - 1, trials.back());
    return trials.back();
  };

  const TrialOutcome* chosen = nullptr;
  std::string explanation;
  std::string bound;
  if (args.exhaustive) {
    for (int t : thread_counts) {
      for (int a : counts) run({"grid", t, a, {}, 0});
    }
    chosen = &*std::max_element(trials.begin(), trials.end(), [](const auto& a, const auto& b) {
      return a.samples_per_s < b.samples_per_s;
    });
    // The model fitted to the whole grid says what limits the best.
    std::vector<pipelines::Trial> fits;
    for (const TrialOutcome& t : trials) fits.push_back(t.fit);
    const pipelines::PipelineModel model =
        pipelines::FitModel(fits, cores, base.batch_size, {"augment"}, {"evaluate"});
    const pipelines::TunedConfig tuned = pipelines::Optimize(model);
    explanation = tuned.explanation;
    bound = tuned.bound;
  } else {
    // Today's default (the budget and the adaptive plan), then compute at each thread count
    // with one augment worker: enough to fit every stage's service time and compute's scaling.
    TrialSetting baseline{"default", base.compute_threads, 0, {}, 0};
    run(baseline);
    for (int t : thread_counts) {
      if (static_cast<int>(trials.size()) + 1 >= args.max_trials) break;
      run({"probe", t, 1, {}, 0});
    }
    std::vector<pipelines::Trial> fits;
    for (const TrialOutcome& t : trials) fits.push_back(t.fit);
    const pipelines::PipelineModel model =
        pipelines::FitModel(fits, cores, base.batch_size, {"augment"}, {"evaluate"});
    const pipelines::TunedConfig tuned = pipelines::Optimize(model);
    auto augment = tuned.concurrency.find("augment");
    TrialSetting verify{"verify", tuned.compute_threads,
                        augment == tuned.concurrency.end() ? 1 : augment->second, tuned.capacity,
                        tuned.predicted.samples_per_s};
    run(verify);
    explanation = tuned.explanation;
    bound = tuned.bound;
    // The model's choice, unless another trial measured clearly faster (the model missed
    // something, or the machine was busier during the verification): then that trial.
    chosen = &trials.back();
    for (const TrialOutcome& t : trials) {
      if (t.samples_per_s > 1.03 * chosen->samples_per_s) chosen = &t;
    }
  }

  double total_s = 0;
  for (const TrialOutcome& t : trials) total_s += t.seconds;
  const TrialSetting& best = chosen->setting;
  std::cout << std::fixed << std::setprecision(1) << "\n"
            << trials.size() << " trials in " << total_s << " s\n";
  std::cout << std::setprecision(0) << "chosen: " << SettingText(best) << ": "
            << chosen->samples_per_s << " samples/s measured";
  if (!args.exhaustive) {
    std::cout << " (today's default: " << trials.front().samples_per_s << " samples/s)";
  }
  std::cout << "\n";
  if (!explanation.empty()) {
    std::cout << "what limits throughput"
              << (args.exhaustive ? " (the model fitted to the grid)" : "") << ": " << explanation
              << "\n";
    if (chosen->setting.kind != "verify" && !args.exhaustive) {
      std::cout << "note: the model's choice measured slower than trial "
                << (chosen - &trials[0]) + 1 << "; that trial's configuration is kept\n";
    }
  }
  pipelines::TrainConfig written = ConfigOf(base, best);
  std::ostringstream note;
  note << "millrace tune" << (args.exhaustive ? " --exhaustive" : "") << ": "
       << std::setprecision(0) << std::fixed << chosen->samples_per_s << " samples/s measured on "
       << cores << " cores" << (bound.empty() ? "" : "; " + bound);
  pipelines::WriteConfigFile(args.out, written, note.str());
  std::cout << "wrote " << args.out << " (millrace train --config " << args.out << ")\n";
  return kExitOk;
}

}  // namespace

Command AddTuneCommand(CLI::App& app) {
  auto args = std::make_shared<TuneArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tune",
      "Tune the training graph for this machine: compute's oneDNN threads, the augment stage's\n"
      "workers and the channel capacities.\n"
      "It runs short trials of the real pipeline (today's default, then compute at each thread\n"
      "count), fits a model of each stage's rate from the graph's statistics (service time per\n"
      "sample, compute's samples/s per thread count, the machine's cores shared between them),\n"
      "picks the configuration of highest predicted throughput, verifies it with one more trial,\n"
      "and prints a table of the trials, the choice and what limits throughput (which stage;\n"
      "CPU-, I/O- or compute-bound; what would help). The configuration is written as JSON\n"
      "(--out) for `millrace train --config FILE`. --exhaustive runs every combination of\n"
      "threads and workers instead, for comparison. Takes the train flags (model, data,\n"
      "augmentation, batch size, ...); see docs/TUNING.md.");
  AddCommonOptions(*cmd, args->config, args->raw);
  AddTrainOptions(*cmd, args->config, args->raw);
  AddConfigOption(*cmd, args->config_file);
  cmd->add_option("--steps", args->steps, "measured steps per trial")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--trial-warmup", args->warmup, "steps per trial before the measurement starts")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cmd->add_option("--cores", args->cores, "cores to plan for (0 = those available to the process)")
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--max-trials", args->max_trials, "the most trials the model-guided search runs")
      ->check(CLI::Range(3, 1000))
      ->capture_default_str();
  cmd->add_option("--out", args->out, "where the chosen configuration is written (JSON)")
      ->capture_default_str();
  cmd->add_flag("--exhaustive", args->exhaustive,
                "run the whole grid of compute threads x augment workers (1..cores, or powers "
                "of two past 8) and keep the fastest, for comparison with the model");
  args->cmd = cmd;
  return {cmd, [args] { return RunTune(*args); }};
}

}  // namespace millrace::cli
