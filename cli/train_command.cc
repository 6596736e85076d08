// `millrace train`: trains a model preset through the training graph, draws the progress
// line, reports test accuracy at each epoch's end and where the time went.
#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <sstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/options.h"
#include "cli/progress_line.h"
#include "io/record.h"
#include "ops/precision.h"
#include "pipelines/distillation.h"
#include "pipelines/pruning.h"
#include "pipelines/training.h"

namespace millrace::cli {

namespace {

// Where the training graph stalled, in words, with the flag that helps: the compute device idle
// (its stages' busy shares add up to less than the wall time) means the data stages did not
// keep up.
std::string StallAdvice(const pipelines::TrainResult& result) {
  const GraphStats& stats = result.graph;
  const StageStats* first = nullptr;
  for (const StageStats& s : stats.stages) {
    if (s.name == result.first_compute_stage) first = &s;
  }
  if (first == nullptr) return "";
  double busy = 0.0;
  for (const StageStats& s : stats.stages) {
    if (s.placement == first->placement) busy += s.busy_fraction;
  }
  const double idle = std::max(0.0, 1.0 - busy);
  std::ostringstream out;
  out << std::fixed << std::setprecision(0);
  if (idle <= 0.05) {
    out << "compute was busy " << 100.0 * std::min(1.0, busy)
        << "% of the time: the data stages kept ahead, compute is the limit\n";
    return out.str();
  }
  // The data stage with the highest busy share is the one to give workers or less work.
  const StageStats* busiest = nullptr;
  for (const StageStats& s : stats.stages) {
    if (s.placement == first->placement || s.name == "evaluate") continue;
    if (busiest == nullptr || s.busy_fraction > busiest->busy_fraction) busiest = &s;
  }
  out << "compute was idle " << 100.0 * idle << "% of the time, waiting for batches from "
      << (first->inputs_from.empty() ? "its input" : first->inputs_from[0])
      << ": the data stages did not keep up";
  if (busiest != nullptr) {
    out << "; the busiest is " << busiest->name << ", busy " << 100.0 * busiest->busy_fraction
        << "% at " << busiest->placement
        << (busiest->name == "augment" ? " (raise --concurrency augment=N)"
                                       : " (a serial stage: lower its work per item)");
  }
  out << "\n";
  return out.str();
}

struct TrainArgs {
  pipelines::TrainConfig config;
  RawFlags raw;
  bool confusion = false;
  std::string config_file;  // --config
  CLI::App* cmd = nullptr;
};

// The teacher of --teacher, attached to `pipeline`, with its logits cached as --teacher-cache
// says: per sample where the input is the same every epoch (no augmentation).
std::shared_ptr<pipelines::Teacher> MakeTeacher(const pipelines::TrainConfig& config,
                                                pipelines::TrainingPipeline& pipeline) {
  const std::string& mode = config.teacher_cache;
  const bool cache = mode == "auto" ? !config.augment : mode != "off";
  MILLRACE_CHECK_ARG(!(cache && config.augment),
                     "--teacher-cache " << mode << " needs unaugmented inputs (--augment is on: "
                                        << "a sample's logits differ every epoch); use "
                                           "--teacher-cache off");
  auto teacher = pipelines::MakeTeacher(config, 0, cache);
  std::string where = cache ? "cached in memory" : "not cached";
  if (cache && mode != "auto" && mode != "memory") {
    std::string stale;
    const int64_t loaded = teacher->UseCacheFile(
        mode, pipelines::Teacher::CacheKey(teacher->model(), config),
        pipeline.train_samples(), &stale);
    if (!stale.empty()) std::cout << "note: " << stale << "\n";
    where = "cached in " + mode + " (" + std::to_string(loaded) + " of " +
            std::to_string(pipeline.train_samples()) + " samples there)";
  }
  pipelines::AttachDistillation(pipeline, teacher, pipelines::DistillConfigOf(config));
  std::cout << "distillation: teacher " << config.teacher_model << " from "
            << config.teacher_checkpoint << ", T " << config.distill_temperature << ", alpha "
            << config.distill_alpha << ", logits " << where << "\n";
  return teacher;
}

int RunTrain(TrainArgs& args) {
  pipelines::TrainConfig& config = args.config;
  std::vector<std::string> notes;
  Resolve(args.raw, config, notes);
  ApplyConfigFile(*args.cmd, args.config_file, config, notes);
  for (const std::string& n : notes) std::cout << n << "\n";

  pipelines::TrainingPipeline pipeline(config);
  std::shared_ptr<pipelines::PruneStats> prune_stats;
  std::shared_ptr<pipelines::Teacher> teacher;
  if (config.prune.method != "none") prune_stats = pipelines::AttachPruning(pipeline, config.prune);
  if (!config.teacher_checkpoint.empty()) {
    teacher = MakeTeacher(config, pipeline);
  }
  std::cout << "millrace train: model " << config.model << " (" << pipeline.model().ParameterCount()
            << " parameters), " << config.data_dir << " (" << config.data_format << "), "
            << config.epochs << " epochs x " << pipeline.steps_per_epoch() << " steps of "
            << config.batch_size << ", " << config.optimizer.name
            << (config.optimizer.name == "sgd" && config.optimizer.nesterov ? " (Nesterov)" : "")
            << " lr " << config.optimizer.lr << " (" << config.optimizer.schedule << ")";
  if (config.label_smoothing > 0) std::cout << ", label smoothing " << config.label_smoothing;
  if (config.validation > 0) std::cout << ", " << config.validation << " samples held out";
  std::cout << ", device " << config.device.ToString();
  if (config.device.is_cuda()) {
    std::cout << " (precision " << ops::PrecisionName(config.precision) << ")";
  }
  std::cout << "\n";

  ProgressLine line(std::cout, isatty(STDOUT_FILENO) != 0);
  pipelines::TrainHooks hooks;
  hooks.on_step = [&](const pipelines::StepProgress& p) { line.Step(p); };
  hooks.on_epoch = [&](const pipelines::EpochSummary& s) { line.Epoch(s); };
  hooks.on_note = [&](const std::string& n) {
    line.Finish();
    std::cout << n << "\n";
  };
  hooks.interrupt = &InterruptFlag();
  pipelines::TrainResult result = pipeline.Run(hooks);
  if (teacher) teacher->SaveCacheFile();
  line.Finish();

  std::cout << "\n" << result.stage_report << StallAdvice(result);
  std::cout << std::fixed << std::setprecision(1) << "trained " << result.steps << " steps ("
            << result.samples << " samples) in " << result.seconds << " s: " << std::setprecision(0)
            << result.samples_per_s << " samples/s\n";
  if (result.final_validation) {
    const pipelines::ClassificationMetrics& m = *result.final_validation;
    std::cout << std::setprecision(2) << "validation accuracy " << 100.0 * m.Accuracy() << "% ("
              << m.correct() << " of " << m.samples() << " held-out training samples), loss "
              << std::setprecision(4) << m.MeanLoss() << "\n";
  }
  if (result.final_test) {
    const pipelines::ClassificationMetrics& m = *result.final_test;
    if (args.confusion) {
      std::cout << "\nconfusion matrix (rows: true class, columns: predicted)\n"
                << m.ConfusionTable(pipelines::FashionMnistClassNames());
    }
    std::cout << std::setprecision(2) << "test accuracy " << 100.0 * m.Accuracy() << "% ("
              << m.correct() << " of " << m.samples() << "), test loss " << std::setprecision(4)
              << m.MeanLoss() << "\n";
  }
  if (result.sparsity > 0.0) {
    std::cout << std::setprecision(1) << "sparsity " << 100.0 * result.sparsity
              << "% of the prunable weights\n";
  }
  ReportSkippedRecords(std::cout, config);
  if (pipeline.state().nonfinite_skipped > 0) {
    std::cout << "skipped " << pipeline.state().nonfinite_skipped
              << " batches whose loss or gradients were NaN or Inf (--on-nonfinite skip)\n";
  }
  if (!config.checkpoint_dir.empty()) {
    std::cout << "checkpoint: " << config.checkpoint_dir << "/last.safetensors (and the last "
              << config.keep_checkpoints << " step-numbered ones)\n";
    if (result.best_epoch > 0) {
      std::cout << std::setprecision(2) << "best: " << config.checkpoint_dir
                << "/best.safetensors (epoch " << result.best_epoch << ", "
                << (config.validation > 0 ? "validation" : "test") << " accuracy "
                << 100.0 * result.best_accuracy << "%)\n";
    }
  }
  if (!config.trace_path.empty()) {
    std::cout << "trace: " << config.trace_path << " (open in https://ui.perfetto.dev)\n";
  }
  return kExitOk;
}

}  // namespace

Command AddTrainCommand(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Train a model on Fashion-MNIST (or another dataset) through the training graph.\n"
      "With no arguments: mlp (784-500-10) on /usr/share/datasets/fashion-mnist, 5 epochs of\n"
      "batch 128, SGD with Nesterov momentum, a cosine schedule and label smoothing 0.1; about\n"
      "10 s on 2 cores, about 89% test accuracy.");
  AddCommonOptions(*cmd, args->config, args->raw);
  AddTrainOptions(*cmd, args->config, args->raw);
  cmd->add_flag("--confusion", args->confusion, "print the test set's confusion matrix at the end");
  AddConfigOption(*cmd, args->config_file);
  args->cmd = cmd;
  return {cmd, [args] { return RunTrain(*args); }};
}

}  // namespace millrace::cli
