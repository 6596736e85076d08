// `millrace eval`: the test-set accuracy, loss and confusion matrix of a checkpoint, through
// the evaluation graph.
#include <iomanip>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/options.h"
#include "core/threads.h"
#include "io/record.h"
#include "ops/checkpoint/checkpoint.h"
#include "ops/models.h"
#include "pipelines/evaluation.h"

namespace millrace::cli {

namespace {

struct EvalArgs {
  pipelines::TrainConfig config;
  RawFlags raw;
  std::string checkpoint;
  std::string trace;
  bool report = false;
};

int RunEval(EvalArgs& args) {
  pipelines::TrainConfig& c = args.config;
  std::vector<std::string> notes;
  c.device = ResolveDevice(args.raw.device, notes);
  c.precision = ResolvePrecision(args.raw.precision, c.device, notes);
  if (args.raw.on_bad_record == "skip") c.bad_records = std::make_shared<io::SkipLog>();
  for (const std::string& n : notes) std::cout << n << "\n";
  MILLRACE_CHECK(std::filesystem::exists(args.checkpoint), ErrorKind::kIo,
                 "--checkpoint " << args.checkpoint << ": no such file");
  ops::Sequential model = ops::MakeModel(c.model, c.seed);
  const ops::TrainingState state = ops::LoadCheckpoint(args.checkpoint, model, nullptr);
  pipelines::DataSource test = pipelines::DataSource::Open(c, pipelines::Split::kTest);
  pipelines::EvalOptions options;
  options.compute_threads =
      c.compute_threads > 0 ? c.compute_threads : DefaultThreadBudget().compute;
  options.trace_path = args.trace;
  options.device = c.device;
  options.precision = c.precision;
  pipelines::EvalResult r = pipelines::EvaluateGraph(model, test, options);
  const pipelines::ClassificationMetrics& m = r.metrics;
  std::cout << "checkpoint " << args.checkpoint << " (model " << c.model << ", step " << state.step
            << ") on " << m.samples() << " test samples of " << c.data_dir << "\n\n"
            << m.ConfusionTable(pipelines::FashionMnistClassNames()) << "\n";
  if (args.report) std::cout << r.stage_report << "\n";
  std::cout << std::fixed << std::setprecision(2) << "test accuracy " << 100.0 * m.Accuracy()
            << "% (" << m.correct() << " of " << m.samples() << "), test loss "
            << std::setprecision(4) << m.MeanLoss() << "\n";
  ReportSkippedRecords(std::cout, c);
  return kExitOk;
}

}  // namespace

Command AddEvalCommand(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Evaluate a checkpoint on the test set: accuracy, loss and confusion matrix.");
  cmd->add_option("checkpoint,-c,--checkpoint", args->checkpoint,
                  "a checkpoint written by `millrace train --checkpoint-dir DIR` "
                  "(DIR/last.safetensors)")
      ->required();
  AddCommonOptions(*cmd, args->config, args->raw);
  AddBadRecordOptions(*cmd, args->config, args->raw);
  cmd->add_option("--trace", args->trace, "write a Chrome trace-event JSON of the evaluation");
  cmd->add_flag("--report", args->report, "print the evaluation graph's per-stage statistics");
  return {cmd, [args] { return RunEval(*args); }};
}

}  // namespace millrace::cli
