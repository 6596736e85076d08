// Accuracy, pruning and distillation on Fashion-MNIST through the training graph (the
// accuracy targets; results in docs/BENCHMARKS.md). Not a Google Benchmark program: each experiment
// trains for minutes and prints Markdown table rows as it goes.
//
//   pipelines_accuracy models  [--epochs 5] [--out DIR]   mlp, cnn, dwsep: test accuracy, wall
//   pipelines_accuracy pruning [--epochs 5]               dense vs gradual 90% (the default
//                                                          schedule), one-shot 90% +
//                                                          1 fine-tune epoch, half the hidden
//                                                          units removed + 1 fine-tune epoch
//   pipelines_accuracy distill [--epochs 5] [--teacher F]  T x alpha sweep vs labels-only
//   pipelines_accuracy prune-sweep [--epochs 5] [--schedules LIST]
//                                                          dense, then one gradual 90% global run
//                                                          per schedule (LIST below)
// Common: --limit N (training samples), --data DIR, --seed S, --validation N (accuracies on the
// last N training samples, held out, instead of the test set); --help lists every option.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ops/cpu/dnnl_context.h"
#include "ops/compute_thread.h"
#include "ops/models.h"
#include "ops/optim/sgd.h"
#include "ops/prune/magnitude.h"
#include "ops/prune/report.h"
#include "ops/prune/shrink.h"
#include "pipelines/data.h"
#include "pipelines/distillation.h"
#include "pipelines/pruning.h"
#include "pipelines/reference_loop.h"
#include "pipelines/snapshot.h"
#include "pipelines/training.h"

using namespace millrace;
using namespace millrace::pipelines;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string experiment;
  int epochs = 5;
  int64_t limit = 0;
  std::string data = kDefaultDataDir;
  std::string out = "/tmp/millrace-accuracy";
  std::string teacher;
  uint64_t seed = 1;
  std::string schedules;   // prune-sweep: empty = kSweepSchedules
  int64_t validation = 0;  // > 0: accuracies on the last N training samples, held out
  double finetune_lr = 0;  // 0: the run's peak lr
  // The recipe (TrainConfig's defaults; --no-nesterov --label-smoothing 0 is the first one).
  bool nesterov = OptimizerConfig{}.nesterov;
  float label_smoothing = TrainConfig{}.label_smoothing;
};

TrainConfig Base(const Args& a, const std::string& model, int epochs) {
  TrainConfig c;
  c.model = model;
  c.epochs = epochs;
  c.limit = a.limit;
  c.data_dir = a.data;
  c.seed = a.seed;
  c.validation = a.validation;
  c.optimizer.nesterov = a.nesterov;
  c.label_smoothing = a.label_smoothing;
  c.eval_each_epoch = a.validation == 0;  // with a validation split the test set stays unseen
  return c;
}

// The run's accuracy and loss on the test set, or on the validation split when there is one.
const ClassificationMetrics& Evaluated(const TrainResult& r) {
  return r.final_validation ? *r.final_validation : *r.final_test;
}
double Accuracy(const TrainResult& r) { return 100.0 * Evaluated(r).Accuracy(); }

void Row(const std::vector<std::string>& cells) {
  std::cout << "|";
  for (const std::string& c : cells) std::cout << " " << c << " |";
  std::cout << std::endl;
}

std::string Fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

// The split accuracies are reported on: the test set, or the validation split when the config
// holds one out. Opened once per experiment and evaluated on as often as needed.
DataSource EvalSet(const TrainConfig& config) {
  return DataSource::Open(config, config.validation > 0 ? Split::kValidation : Split::kTest);
}
double AccuracyOn(ops::Sequential& model, const DataSource& split) {
  return 100.0 * EvaluatePlain(model, split).Accuracy();
}

void Models(const Args& a) {
  Row({"model", "params", "epochs", "test accuracy %", "wall s", "train samples/s"});
  for (const char* model : {"mlp", "cnn", "dwsep"}) {
    TrainConfig c = Base(a, model, a.epochs);
    c.checkpoint_dir = a.out + "/" + model;  // the cnn is the distillation's teacher
    TrainingPipeline p(c);
    const auto t0 = Clock::now();
    TrainResult r = p.Run();
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    Row({model, std::to_string(p.model().ParameterCount()), std::to_string(a.epochs),
         Fixed(Accuracy(r), 2), Fixed(wall, 0), Fixed(r.samples_per_s, 0)});
  }
}

// Fine-tunes `model` (already pruned or shrunk) for one epoch of `train` with a plain loop: SGD
// at peak lr `lr`, cosine to 0, with the run's momentum and label smoothing (the optimizer keeps
// masked weights at 0).
void FineTune(ops::Sequential& model, const DataSource& train, const TrainConfig& c, double lr) {
  if (lr == 0) lr = c.optimizer.lr;
  ops::Sgd sgd(model.Parameters(),
               {.lr = lr, .momentum = c.optimizer.momentum, .nesterov = c.optimizer.nesterov});
  TrainState s{&model, &sgd, ops::CosineLr(train.batches_per_epoch()), lr, 0};
  s.label_smoothing = c.label_smoothing;
  ReferenceTrain(train, s, 1);
}

// Compute-only ms per training step of batch 128 (median of 3 runs of 100 steps).
double StepMs(ops::Sequential& model, const DataSource& train) {
  std::vector<Batch> batches;
  const auto epoch = train.EpochBatches(1);
  for (size_t i = 0; i < 8; ++i) batches.push_back(train.MakeBatch(1, epoch[i]));
  ops::Sgd sgd(model.Parameters(), {.lr = 0.0, .momentum = 0.0});
  TrainState s{&model, &sgd, ops::ConstantLr(), 0.0, 0};
  std::vector<double> ms;
  TrainOnBatches(batches, s, 10);  // warm-up: oneDNN primitives
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    TrainOnBatches(batches, s, 100);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / 100);
  }
  std::sort(ms.begin(), ms.end());
  return ms[1];
}

void Pruning(const Args& a) {
  Row({"run", "test accuracy %", "sparsity %", "wall s"});
  // Dense, and gradual 90% global over the same 5 epochs with PruneConfig's default schedule
  // (dense for the first two fifths, ramp to three fifths, masks every 50 steps, lr restarted for
  // the fine-tuning; chosen by prune-sweep below).
  TrainConfig dense_config = Base(a, "mlp", a.epochs);
  TrainingPipeline dense(dense_config);
  auto t0 = Clock::now();
  TrainResult d = dense.Run();
  Row({"mlp dense", Fixed(Accuracy(d), 2), "0.0",
       Fixed(std::chrono::duration<double>(Clock::now() - t0).count(), 0)});

  TrainConfig g_config = dense_config;
  g_config.prune = {.method = "gradual", .sparsity = 0.9f, .global = true};
  TrainingPipeline gradual(g_config);
  AttachPruning(gradual, g_config.prune);
  t0 = Clock::now();
  TrainResult g = gradual.Run();
  Row(
      {"mlp gradual 90% global (default schedule: ramp from 2/5 to 3/5 of the run, every 50, 3x "
       "lr restart)",
       Fixed(Accuracy(g), 2), Fixed(100 * g.sparsity, 1),
       Fixed(std::chrono::duration<double>(Clock::now() - t0).count(), 0)});

  // The plain loops below read the data once: the split reported on, and the training split.
  const DataSource eval_set = EvalSet(dense_config);
  const DataSource train = DataSource::Open(dense_config, Split::kTrain);

  // One-shot 90% global of the dense model, then one fine-tuning epoch.
  const WeightSnapshot trained = TakeSnapshot(dense.model());
  ops::Sequential oneshot = ops::MakeModel("mlp", a.seed);
  LoadSnapshot(trained, oneshot);
  ops::GlobalL1Unstructured(PrunableWeights(oneshot), ops::PruneAmount::Fraction(0.9));
  Row({"mlp one-shot 90% global, no fine-tuning", Fixed(AccuracyOn(oneshot, eval_set), 2),
       Fixed(100 * ops::SparsityReport(PrunableWeights(oneshot)).total().sparsity(), 1), "-"});
  t0 = Clock::now();
  FineTune(oneshot, train, dense_config, a.finetune_lr);
  Row({"mlp one-shot 90% global + 1 fine-tune epoch", Fixed(AccuracyOn(oneshot, eval_set), 2),
       Fixed(100 * ops::SparsityReport(PrunableWeights(oneshot)).total().sparsity(), 1),
       Fixed(std::chrono::duration<double>(Clock::now() - t0).count(), 0)});

  // Structured: half of fc1's 500 hidden units removed (smallest L2 norm), fine-tuned.
  ops::Sequential shrunk = ops::MakeModel("mlp", a.seed);
  LoadSnapshot(trained, shrunk);
  ops::Sequential dense_copy = ops::MakeModel("mlp", a.seed);
  LoadSnapshot(trained, dense_copy);
  ops::ShrinkByL2(shrunk, "fc1", ops::PruneAmount::Fraction(0.5));
  const double before_ft = AccuracyOn(shrunk, eval_set);
  FineTune(shrunk, train, dense_config, a.finetune_lr);
  Row({"mlp 250 of 500 hidden units removed, no fine-tuning", Fixed(before_ft, 2), "-", "-"});
  Row({"mlp 250 of 500 hidden units removed + 1 fine-tune epoch",
       Fixed(AccuracyOn(shrunk, eval_set), 2), "-", "-"});
  std::cout << "\ncompute-only ms per training step of 128 (median of 3 x 100 steps): dense "
            << Fixed(StepMs(dense_copy, train), 3) << ", 250 hidden units "
            << Fixed(StepMs(shrunk, train), 3) << std::endl;
}

// prune-sweep: gradual 90% global pruning of the mlp under several schedules, each item
// "start:end:every[:lag][:rF]" in steps (end 0: the PruneConfig default; "r": the learning rate
// restarts at the ramp's end, a cosine from the peak over the fine-tuning steps; "rF": from F x
// the peak, e.g. "r3" as the default does; no "r": no restart). Every run has the dense run's
// seed, lr and batches; only the pruning schedule differs.
constexpr const char* kSweepSchedules =
    "0:1560:100,234:1560:100,468:1560:100,468:1404:100,468:1170:100,468:1560:50,468:1560:25,"
    "468:1170:50,468:1170:25,468:1560:50:0:r,468:1170:50:0:r,468:1170:100:0:r,468:1404:50:0:r,"
    "234:1170:50:0:r,468:936:50:0:r,468:1404:50:10:r";

struct SweepSchedule {
  PruneConfig prune;
  std::string text;
};

std::vector<SweepSchedule> ParseSchedules(const std::string& list) {
  std::vector<SweepSchedule> out;
  std::stringstream items(list);
  std::string item;
  while (std::getline(items, item, ',')) {
    std::vector<std::string> f;
    std::stringstream fields(item);
    std::string field;
    while (std::getline(fields, field, ':')) f.push_back(field);
    if (f.size() < 3) throw std::invalid_argument("schedule '" + item + "': start:end:every");
    SweepSchedule s;
    s.text = item;
    s.prune = {.method = "gradual",
               .sparsity = 0.9f,
               .global = true,
               .start_step = std::stoll(f[0]),
               .end_step = std::stoll(f[1]),
               .every = std::stoll(f[2])};
    if (f.size() > 3 && !f[3].empty()) s.prune.lag = std::stoll(f[3]);
    s.prune.restart_lr = f.size() > 4 && !f[4].empty() && f[4][0] == 'r';
    if (s.prune.restart_lr)
      s.prune.restart_lr_factor = f[4].size() > 1 ? std::stof(f[4].substr(1)) : 1;
    out.push_back(s);
  }
  return out;
}

void PruneSweep(const Args& a) {
  const std::vector<SweepSchedule> schedules =
      ParseSchedules(a.schedules.empty() ? kSweepSchedules : a.schedules);
  Row({"schedule (start:end:every[:lag][:r])", "test accuracy %", "vs dense", "test loss",
       "sparsity %", "wall s"});
  TrainConfig dense_config = Base(a, "mlp", a.epochs);
  TrainingPipeline dense(dense_config);
  auto t0 = Clock::now();
  const TrainResult d = dense.Run();
  const double dense_acc = Accuracy(d);
  Row({"dense", Fixed(dense_acc, 2), "-", Fixed(Evaluated(d).MeanLoss(), 4), "0.0",
       Fixed(std::chrono::duration<double>(Clock::now() - t0).count(), 0)});
  for (const SweepSchedule& s : schedules) {
    TrainConfig c = dense_config;
    c.prune = s.prune;
    TrainingPipeline p(c);
    AttachPruning(p, c.prune);
    t0 = Clock::now();
    TrainResult r = p.Run();
    Row({s.text, Fixed(Accuracy(r), 2), Fixed(Accuracy(r) - dense_acc, 2),
         Fixed(Evaluated(r).MeanLoss(), 4), Fixed(100 * r.sparsity, 1),
         Fixed(std::chrono::duration<double>(Clock::now() - t0).count(), 0)});
  }
}

void Distill(const Args& a) {
  TrainConfig teacher_config = Base(a, "mlp-small", a.epochs);
  teacher_config.teacher_model = "cnn";
  teacher_config.teacher_checkpoint = a.teacher;
  auto t0 = Clock::now();
  auto teacher = MakeTeacher(teacher_config, 5, /*cache_logits=*/true);
  std::cout << "teacher cnn: " << Fixed(AccuracyOn(teacher->model(), EvalSet(teacher_config)), 2)
            << "% test accuracy ("
            << (a.teacher.empty() ? "trained 5 epochs here" : "from " + a.teacher) << ", "
            << Fixed(std::chrono::duration<double>(Clock::now() - t0).count(), 0) << " s)\n\n";
  Row({"student mlp-small", "T", "alpha", "epochs", "test accuracy %", "vs labels-only", "wall s"});
  double labels_only = 0;
  for (int run = 0; run < 9; ++run) {
    const double temps[] = {1, 2, 4, 8};
    const double alphas[] = {0.5, 0.9};
    TrainConfig c = Base(a, "mlp-small", a.epochs);  // same seed: same init and data order
    TrainingPipeline student(c);
    if (run > 0) {
      DistillConfig d;
      d.loss = {.alpha = alphas[(run - 1) % 2], .temperature = temps[(run - 1) / 2]};
      d.cache_logits = true;
      AttachDistillation(student, teacher, d);
    }
    t0 = Clock::now();
    TrainResult r = student.Run();
    const double acc = Accuracy(r);
    if (run == 0) labels_only = acc;
    Row({run == 0 ? "labels only" : "distilled", run == 0 ? "-" : Fixed(temps[(run - 1) / 2], 0),
         run == 0 ? "-" : Fixed(alphas[(run - 1) % 2], 1), std::to_string(a.epochs), Fixed(acc, 2),
         run == 0 ? "-" : Fixed(acc - labels_only, 2),
         Fixed(std::chrono::duration<double>(Clock::now() - t0).count(), 0)});
  }
  std::cout << "teacher forwards " << teacher->forwards() << ", batches from its cache "
            << teacher->cache_hits() << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{
      "Accuracy, pruning and distillation on Fashion-MNIST through the training graph; "
      "prints Markdown table rows (docs/BENCHMARKS.md)."};
  app.add_option("experiment", a.experiment, "models, pruning, prune-sweep or distill")
      ->required()
      ->check(CLI::IsMember({"models", "pruning", "prune-sweep", "distill"}));
  app.add_option("--epochs", a.epochs, "epochs of every run")->capture_default_str();
  app.add_option("--limit", a.limit, "use only the first N training samples (0 = all)");
  app.add_option("--validation", a.validation,
                 "hold out the last N training samples and report accuracy on them instead of "
                 "the test set (for choosing settings)");
  app.add_option("--data", a.data, "Fashion-MNIST directory (IDX files)")->capture_default_str();
  app.add_option("--out", a.out, "models: checkpoint directory")->capture_default_str();
  app.add_option("--teacher", a.teacher, "distill: the teacher checkpoint (cnn)");
  app.add_option("--seed", a.seed, "seed of every run")->capture_default_str();
  app.add_option("--schedules", a.schedules,
                 "prune-sweep: start:end:every[:lag][:rF],... (rF: lr restart at F x the peak)");
  app.add_flag("--nesterov,!--no-nesterov", a.nesterov,
               "Nesterov momentum in every run (the default; --no-nesterov: classical)");
  app.add_option("--label-smoothing", a.label_smoothing, "label smoothing of every run's loss")
      ->capture_default_str();
  app.add_option("--finetune-lr", a.finetune_lr,
                 "pruning: peak lr of the one fine-tuning epoch after one-shot or structured "
                 "pruning (cosine, the run's momentum and label smoothing; 0 = the run's lr, the "
                 "best of 0.01 / 0.02 / 0.05 on a validation split)");
  CLI11_PARSE(app, argc, argv);
  // The plain loops here (fine-tuning, step times) run on this thread: one oneDNN (OpenMP)
  // thread, as the training graph's compute thread has on 2 cores. (Two OpenMP threads on a
  // loaded 2-core machine stall at every barrier.)
  millrace::ops::InitComputeThread(Device::Cpu(), 1);
  try {
    if (a.experiment == "models") Models(a);
    if (a.experiment == "pruning") Pruning(a);
    if (a.experiment == "distill") Distill(a);
    if (a.experiment == "prune-sweep") PruneSweep(a);
  } catch (const std::exception& e) {
    std::cerr << "pipelines_accuracy: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
