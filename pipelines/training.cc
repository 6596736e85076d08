// TrainingPipeline's set-up: model, optimizer, schedule, data, the list of compute stages and
// checkpoints. The graph itself is built in training_graph.cc.
#include <algorithm>
#include <filesystem>

#include "ops/compute_thread.h"
#include "ops/models.h"
#include "ops/optim/adamw.h"
#include "ops/optim/sgd.h"
#include "ops/prune/mask.h"
#include "pipelines/training_impl.h"

namespace millrace::pipelines {

namespace {

std::unique_ptr<ops::Optimizer> MakeOptimizer(const OptimizerConfig& o, ops::Sequential& model) {
  if (o.name == "sgd") {
    ops::SgdOptions s;
    s.lr = o.lr;
    s.momentum = o.momentum;
    s.nesterov = o.nesterov;
    s.weight_decay = o.weight_decay;
    return std::make_unique<ops::Sgd>(model.Parameters(), s);
  }
  if (o.name == "adamw") {
    ops::AdamWOptions a;
    a.lr = o.lr;
    a.weight_decay = o.weight_decay;
    return std::make_unique<ops::AdamW>(model.Parameters(), a);
  }
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "optimizer '" << o.name << "' is not one of: sgd, adamw");
}

ops::LrSchedulePtr MakeSchedule(const OptimizerConfig& o, int64_t total_steps,
                                int64_t steps_per_epoch) {
  const int64_t warmup = std::min(o.warmup_steps, total_steps);
  const int64_t rest = std::max<int64_t>(1, total_steps - warmup);
  ops::LrSchedulePtr main;
  if (o.schedule == "constant") {
    main = ops::ConstantLr();
  } else if (o.schedule == "cosine") {
    main = ops::CosineLr(rest);
  } else if (o.schedule == "step") {
    main = ops::StepLr(o.step_every > 0 ? o.step_every : steps_per_epoch, o.step_gamma);
  } else {
    MILLRACE_THROW(ErrorKind::kInvalidArgument,
                   "schedule '" << o.schedule << "' is not one of: constant, step, cosine");
  }
  if (warmup == 0) return main;
  return ops::SequentialLr({ops::LinearWarmupLr(warmup, 0.0), main}, {warmup});
}

size_t FindStage(const std::vector<ComputeStagePtr>& stages, const std::string& name) {
  for (size_t i = 0; i < stages.size(); ++i) {
    if (stages[i]->name() == name) return i;
  }
  std::string names;
  for (const auto& s : stages) names += (names.empty() ? "" : ", ") + s->name();
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "no compute stage named '" << name << "' (there are: " << names << ")");
}

}  // namespace

std::unique_ptr<ops::Sequential> BuildModel(const std::string& name, uint64_t seed) {
  return std::make_unique<ops::Sequential>(ops::MakeModel(name, seed));
}

double Sparsity(ops::Sequential& model) {
  int64_t pruned = 0, total = 0;
  for (ops::Parameter* p : model.Parameters()) {
    if (!p->mask.defined()) continue;
    pruned += ops::CountZeros(p->mask);
    total += p->mask.numel();
  }
  return total == 0 ? 0.0 : static_cast<double>(pruned) / total;
}

TrainingPipeline::TrainingPipeline(TrainConfig config) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  ops::CheckComputeDevice(config.device);  // a missing backend or GPU says so before any work
  MILLRACE_CHECK_ARG(config.epochs >= 1, "epochs must be >= 1, got " << config.epochs);
  m.config = std::move(config);
  const TrainConfig& c = m.config;
  m.CheckOutputPaths();  // before the data loads: an unusable path fails in a second
  m.budget = DefaultThreadBudget();
  if (c.compute_threads > 0) m.budget.compute = c.compute_threads;
  if (c.deterministic && c.compute_threads == 0) m.budget.compute = 1;

  m.model = BuildModel(c.model, c.seed);
  // The model trains where its tensors are; the optimizer, made below, keeps its state there.
  // Evaluation runs on a CPU copy (eval_model) beside training.
  m.model->To(c.device);
  m.train = std::make_unique<DataSource>(DataSource::Open(c, Split::kTrain));
  if (c.eval_each_epoch) m.test = std::make_unique<DataSource>(DataSource::Open(c, Split::kTest));
  if (c.validation > 0) {
    // The same files as the training split: its dataset, not a second load.
    m.validation = std::make_unique<DataSource>(m.train->shared(), Split::kValidation, c);
  }
  if (m.test || m.validation) m.eval_model = BuildModel(c.model, c.seed);
  m.optimizer = MakeOptimizer(c.optimizer, *m.model);
  const int64_t spe = m.train->batches_per_epoch();
  m.total_steps = spe * c.epochs;
  if (c.max_steps > 0) m.total_steps = std::min(m.total_steps, c.max_steps);
  m.state.model = m.model.get();
  m.state.optimizer = m.optimizer.get();
  m.state.base_lr = c.optimizer.lr;
  m.state.label_smoothing = c.label_smoothing;
  m.state.on_nonfinite = c.on_nonfinite;
  // The schedule spans every epoch; max_steps only stops early (smoke runs, benchmarks).
  m.state.schedule = MakeSchedule(c.optimizer, spe * c.epochs, spe);
  m.stages = DefaultComputeStages();
  if (c.resume) m.LoadCheckpoint();
}

TrainingPipeline::~TrainingPipeline() = default;

const TrainConfig& TrainingPipeline::config() const { return impl_->config; }
ops::Sequential& TrainingPipeline::model() { return *impl_->model; }
TrainState& TrainingPipeline::state() { return impl_->state; }
int64_t TrainingPipeline::steps_per_epoch() const { return impl_->train->batches_per_epoch(); }
int64_t TrainingPipeline::train_samples() const { return impl_->train->size(); }

std::vector<std::string> TrainingPipeline::ComputeStageNames() const {
  std::vector<std::string> names;
  for (const auto& s : impl_->stages) names.push_back(s->name());
  return names;
}

void TrainingPipeline::InsertBefore(const std::string& before, ComputeStagePtr stage) {
  MILLRACE_CHECK_ARG(stage != nullptr, "InsertBefore('" << before << "'): a null stage");
  const size_t i = FindStage(impl_->stages, before);
  for (const ComputeStagePtr& s : impl_->stages) {
    MILLRACE_CHECK_ARG(s->name() != stage->name(),
                       "InsertBefore('" << before << "'): a compute stage named '" << stage->name()
                                        << "' is already there; each is a graph stage and "
                                           "names must be unique");
  }
  impl_->stages.insert(impl_->stages.begin() + static_cast<std::ptrdiff_t>(i), std::move(stage));
}

void TrainingPipeline::Replace(const std::string& name, ComputeStagePtr stage) {
  MILLRACE_CHECK_ARG(stage != nullptr, "Replace('" << name << "'): a null stage");
  impl_->stages[FindStage(impl_->stages, name)] = std::move(stage);
}

void TrainingPipeline::SetTeacher(TeacherFn teacher, const std::string& placement) {
  if (placement != "compute" && placement != "cpu") {
    Device device;
    try {
      device = Device::Parse(placement);
    } catch (const Error&) {
      MILLRACE_THROW(ErrorKind::kInvalidArgument,
                     "teacher placement must be compute, cpu or cuda:N, got " << placement);
    }
    MILLRACE_CHECK_ARG(device.is_cuda(),
                       "teacher placement must be compute, cpu or cuda:N, got " << placement);
    ops::CheckComputeDevice(device);
  }
  impl_->teacher = std::move(teacher);
  impl_->teacher_placement = placement;
}

TrainResult TrainingPipeline::Run(const TrainHooks& hooks) {
  MILLRACE_CHECK_ARG(!impl_->ran, "a TrainingPipeline runs once");
  impl_->ran = true;
  if (hooks.on_note) {  // what the data scan passed over
    for (const DataSource* d : {impl_->train.get(), impl_->test.get()}) {
      if (d == nullptr) continue;
      for (const std::string& note : d->notes()) hooks.on_note("warning: " + note);
    }
  }
  const int64_t first_step = impl_->state.steps_done;
  try {
    return impl_->Run(hooks);
  } catch (const Error& e) {
    // Interrupted (SIGINT, SIGTERM, Cancel): the graph has stopped between two steps, so a
    // checkpoint of the current step resumes bit-exactly.
    Impl& m = *impl_;
    if (e.kind() != ErrorKind::kCancelled || m.config.checkpoint_dir.empty() ||
        m.state.steps_done == first_step) {
      throw;
    }
    const int epoch = static_cast<int>(m.state.steps_done / m.train->batches_per_epoch()) + 1;
    const std::filesystem::path saved = m.SaveCheckpoint(epoch);
    throw Error(ErrorKind::kCancelled, e.message() + "; checkpoint of step " +
                                           std::to_string(m.state.steps_done) + " written to " +
                                           saved.string() + " (resume with --resume)");
  }
}

void TrainingPipeline::Cancel() {
  impl_->cancel_requested = true;
  std::lock_guard<std::mutex> lock(impl_->graph_mu);
  if (impl_->graph != nullptr) impl_->graph->Cancel();
}

TrainResult Train(const TrainConfig& config, const TrainHooks& hooks) {
  TrainingPipeline pipeline(config);
  return pipeline.Run(hooks);
}

}  // namespace millrace::pipelines
