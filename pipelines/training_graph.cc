// The training graph:
//
//   read (io) -> augment (cpu, N) -> collate (cpu) -> forward -> loss -> backward -> prune-mask
//     -> step -> progress -> [prune-rank (cpu)] -> evaluate (cpu)
//                  (forward .. progress: the compute stages, placed on Compute())
//
// With a teacher (distillation), collate feeds a fan-out: the teacher's forward (on Compute() or
// a cpu worker) and the student's batch meet again in a join by sequence number before forward:
//
//   collate -> teacher-fan -> teacher -> teacher-join -> forward -> distill-loss -> ...
//                         \-------------------^
//
// The compute stages are graph stages on one ordered device: the runtime runs item k through
// forward .. progress before item k+1 enters forward (core/graph/placement.h), so the weights
// after N steps are those of a plain loop (ForwardStage also checks steps_done == batch.seq).
// `progress` keeps the epoch's figures, writes the checkpoint at each epoch's end and hands a
// snapshot of the weights on to `evaluate`, which runs on a cpu worker while the next epoch
// trains. A prune-mask stage ranking at lag > 0 hands its ranking to `prune-rank`, a cpu stage
// beside compute (ComputeStage::side_stage()).
#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "core/memory.h"
#include "ops/compute_thread.h"
#include "pipelines/epoch_progress.h"
#include "pipelines/finite_check.h"
#include "pipelines/reference_loop.h"
#include "pipelines/snapshot.h"
#include "pipelines/step_graph.h"
#include "pipelines/thread_plan.h"
#include "pipelines/to_device.h"
#include "pipelines/training_impl.h"

namespace millrace::pipelines {

namespace {

// One sample on its way to a batch.
struct SampleItem {
  int epoch = 0;
  int64_t pos = 0;  // position in the epoch's order
  io::Sample sample;
  io::EncodedRecord record;  // read -> augment: the bytes read, decoded on the cpu stage
};

// A snapshot of the weights at an epoch's end, with the epoch's training figures.
struct EvalItem {
  WeightSnapshot weights;
  EpochSummary summary;
};

// What leaves the compute device: an epoch's snapshot to evaluate, or work for the side stage.
struct AfterCompute {
  std::optional<EvalItem> eval;
  SideWork side;
};

// The text below the graph's table: where the compute device's time went.
std::string ComputeSplit(const GraphStats& stats, const std::string& placement) {
  std::ostringstream out;
  double total = 0.0;
  for (const StageStats& s : stats.stages) {
    if (s.placement == placement) total += s.busy_s;
  }
  out << "compute stages (graph stages on " << placement << ", in this order per batch):\n";
  for (const StageStats& s : stats.stages) {
    if (s.placement != placement) continue;
    out << "  " << std::left << std::setw(13) << s.name << std::right << std::fixed
        << std::setprecision(2) << std::setw(8) << s.busy_s << " s  " << std::setprecision(1)
        << std::setw(5) << (stats.elapsed_s > 0 ? 100.0 * s.busy_s / stats.elapsed_s : 0.0)
        << "% of wall  " << std::setw(5) << (total > 0 ? 100.0 * s.busy_s / total : 0.0)
        << "% of compute\n";
  }
  return out.str();
}

}  // namespace

// One run of the training graph: builds it from the pipeline's state, runs it, and gathers
// the result.
class TrainingRun {
 public:
  TrainingRun(TrainingPipeline::Impl& m, const TrainHooks& hooks, Graph& g)
      : m_(m),
        c_(m.config),
        hooks_(hooks),
        g_(g),
        progress_(c_.epochs, m.train->batches_per_epoch(), c_.batch_size, m.total_steps),
        plan_(AvailableCores(), m.budget.compute,
              /*adaptive=*/c_.device.is_cpu() && c_.compute_threads == 0 && !c_.deterministic) {}

  void Build() {
    auto collate = AddDataStages();
    if (m_.teacher) {
      AddComputeStages(AddTeacherBranch(collate));
    } else {
      AddComputeStages(collate);
    }
  }

  TrainResult Result() {
    const GraphStats stats = g_.Stats();
    result_.seconds = stats.elapsed_s;
    result_.steps = progress_.steps_this_run();
    result_.samples = result_.steps * c_.batch_size;
    result_.samples_per_s = result_.samples / std::max(1e-9, result_.seconds);
    result_.sparsity = Sparsity(*m_.model);
    if (step_graph_) result_.cuda_graph_replays = step_graph_->replays();
    for (const StageStats& s : stats.stages) {
      result_.stages.push_back({s.name, s.placement, s.concurrency,
                                static_cast<int64_t>(s.items_in), s.busy_s, s.starved_s,
                                s.blocked_s, static_cast<int64_t>(s.items_skipped)});
    }
    result_.graph = stats;
    result_.budget.compute = plan_.threads();
    result_.thread_plan = plan_.Explain();
    result_.first_compute_stage = m_.stages.front()->name();
    result_.stage_report =
        stats.ToTable() +
        ComputeSplit(stats, c_.device.is_cpu() ? "compute" : Gpu(c_.device.index).ToString());
    if (c_.device.is_cuda()) {
      result_.device_busy_s = device_busy_s_;
      std::ostringstream gpu;
      gpu << std::fixed << std::setprecision(1) << c_.device.ToString() << " busy "
          << (stats.elapsed_s > 0 ? 100.0 * device_busy_s_ / stats.elapsed_s : 0.0)
          << "% of the run's wall time (device time of the steps' work, between events around "
             "each step); CUDA Graph replays: "
          << (step_graph_ ? step_graph_->replays() : 0)
          << (result_.cuda_graph_note.empty() ? "" : " (" + result_.cuda_graph_note + ")") << "\n";
      const DeviceMemoryStats m = CudaMemoryStats(c_.device.index);
      gpu << std::setprecision(1) << c_.device.ToString() << " memory: peak "
          << m.peak_in_use / double(1 << 20) << " MiB in use, " << m.cached / double(1 << 20)
          << " MiB cached, " << m.device_allocations << " cudaMalloc calls\n";
      result_.stage_report += gpu.str();
    }
    return std::move(result_);
  }

 private:
  // read -> augment -> collate: the epoch's order from first_epoch until total_steps batches,
  // read ahead with at most read_ahead reads in flight (image trees, tar shards); augment
  // decodes and augments.
  Stage<SampleItem, StepItem> AddDataStages() {
    const int64_t spe = m_.train->batches_per_epoch();
    const int64_t batch_size = c_.batch_size;
    DataSource* train = m_.train.get();
    std::shared_ptr<SampleReader> reader =
        train->OpenReader(m_.first_epoch, (m_.total_steps - m_.state.steps_done) * batch_size,
                          {.prefetch_depth = c_.read_ahead,
                           // a checkpoint inside an epoch: its order resumes where it stopped
                           .first_pos = (m_.state.steps_done % spe) * batch_size});
    auto read = g_.Source<SampleItem>("read", Io(1), [reader]() -> std::optional<SampleItem> {
      std::optional<RawSample> raw = reader->Next();
      if (!raw) return std::nullopt;
      return SampleItem{raw->epoch, raw->pos, {}, std::move(raw->record)};
    });
    // augment: a record that fails to decode is passed over under --on-bad-record skip
    // (counted as the stage's skipped items); its batch is then one sample short.
    auto augment = g_.MapOrSkip<SampleItem>(
        "augment", Cpu(augment_workers()), [train](SampleItem&& s) -> std::optional<SampleItem> {
          std::optional<io::Sample> sample = train->DecodeOrSkip(std::exchange(s.record, {}));
          if (!sample) return std::nullopt;
          s.sample = train->Prepare(std::move(*sample), s.epoch);
          return std::move(s);
        });
    // collate: stacks the samples of each batch of the order (in sequence order: one worker).
    // A batch holds the positions [k * batch_size, (k + 1) * batch_size) of its epoch's order,
    // less any skipped record, so a skipped record changes no other batch: training stays a
    // function of the data and the seed, and resumes bit-exactly. It is handed on at its last
    // position, or (that record skipped) when the next batch's first sample or the end comes.
    struct Pending {
      std::vector<io::Sample> samples;
      int64_t seq = -1;
      int epoch = 0;
      int64_t index_in_epoch = 0;
      int64_t next_seq = 0;  // the batch the compute stages expect next
    };
    auto pending = std::make_shared<Pending>();
    pending->next_seq = m_.state.steps_done;
    // A batch none of whose records decoded can't be trained on, even under skip.
    auto expect = [spe, batch_size](int64_t seq, int64_t next_seq) {
      MILLRACE_CHECK(seq == next_seq, ErrorKind::kData,
                     "every one of the " << batch_size << " records of batch " << next_seq % spe + 1
                                         << " of epoch " << next_seq / spe + 1
                                         << " failed to decode and was skipped");
    };
    auto hand_on = [train, spe, pending, expect](Emit<StepItem>& emit) {
      Pending& p = *pending;
      if (p.seq < 0) return;
      expect(p.seq, p.next_seq);
      StepItem item;
      item.batch = train->Collate(p.samples);
      p.samples.clear();
      item.batch.epoch = p.epoch;
      item.batch.index_in_epoch = p.index_in_epoch;
      item.batch.seq = p.seq;
      item.batch.last_in_epoch = p.index_in_epoch == spe - 1;
      p.seq = -1;
      ++p.next_seq;
      emit(std::move(item));
    };
    const int64_t total_steps = m_.total_steps;
    auto collate = g_.FlatMap<SampleItem, StepItem>(
        "collate", Cpu(1),
        [spe, batch_size, pending, hand_on](SampleItem&& s, Emit<StepItem>& emit) {
          Pending& p = *pending;
          const int64_t index = s.pos / batch_size;
          const int64_t seq = (s.epoch - 1) * spe + index;
          if (p.seq != seq) hand_on(emit);  // the previous batch's last record was skipped
          p.seq = seq;
          p.epoch = s.epoch;
          p.index_in_epoch = index;
          p.samples.push_back(std::move(s.sample));
          if (s.pos % batch_size == batch_size - 1) hand_on(emit);
        },
        [pending, hand_on, expect, total_steps](Emit<StepItem>& emit) {
          hand_on(emit);
          expect(total_steps, pending->next_seq);  // no batch missing at the end
        });
    g_.Connect(read, augment, c_.CapacityOf("augment", 4 * static_cast<int>(batch_size)))
        .Connect(augment, collate, c_.CapacityOf("collate", 2 * static_cast<int>(batch_size)));
    return collate;
  }

  // collate -> teacher-fan -> teacher -> teacher-join (left: the batch; right: the teacher's).
  // The teacher reads a view of the batch (its images and indices), not a copy.
  JoinHandle<StepItem, StepItem, StepItem> AddTeacherBranch(Stage<SampleItem, StepItem> collate) {
    auto fan = g_.FanOut<StepItem>("teacher-fan", [](const StepItem& s) {
      StepItem view;
      view.batch.seq = s.batch.seq;
      view.batch.epoch = s.batch.epoch;
      view.batch.index_in_epoch = s.batch.index_in_epoch;
      view.batch.images = s.batch.images.View();
      view.batch.indices = s.batch.indices;
      return view;
    });
    // The teacher runs on a cpu worker ("cpu"), on the student's device thread ("compute"), or
    // on a GPU of its own choosing ("cuda:N"): mixed placement, through this fan-out and join.
    const std::string& where = m_.teacher_placement;
    const bool on_cpu = where == "cpu";
    const Placement teacher_at = on_cpu               ? Cpu(1)
                                 : where != "compute" ? Gpu(Device::Parse(where).index)
                                 : c_.device.is_cpu() ? Compute()
                                                      : Gpu(c_.device.index);
    TrainingPipeline::TeacherFn& teacher = m_.teacher;
    auto teach = g_.Map<StepItem>("teacher", teacher_at, [&teacher, on_cpu](StepItem&& view) {
      // A cpu worker's own OpenMP team: one thread.
      if (on_cpu) ops::InitComputeThread(Device::Cpu(), 1);
      view.teacher_logits = teacher(view.batch);
      return std::move(view);
    });
    // The join sits where the teacher runs: on the compute device, teacher(k), the join and
    // forward(k) follow each other on its thread with no hand-off to another thread between
    // them (a cpu join cost two thread wake-ups per batch, with compute idle in between).
    auto join = g_.Join<StepItem, StepItem>(
        "teacher-join", teacher_at, [](StepItem&& student, StepItem&& view) {
          student.teacher_logits = std::move(view.teacher_logits);
          return std::move(student);
        });
    g_.Connect(collate, fan, c_.CapacityOf("teacher-fan", 4))
        .Connect(fan, teach, c_.CapacityOf("teacher", 4))
        .Connect(teach, join.right(), 4)
        .Connect(fan, join.left(), 8);
    return join;
  }

  // The compute stages, one graph stage each on Compute(), then progress, the side stage and
  // evaluate.
  template <class Upstream>
  void AddComputeStages(Upstream upstream) {
    TrainState& state = m_.state;
    std::string side_name;
    for (const ComputeStagePtr& s : m_.stages) {
      if (!s->side_stage().empty()) side_name = s->side_stage();
    }
    const int capacity = c_.CapacityOf(m_.stages.front()->name(), 4);
    // The compute device: the CPU's compute thread, or a GPU's submitting thread.
    const Placement device = c_.device.is_cpu() ? Compute() : Gpu(c_.device.index);
    std::vector<Stage<StepItem, StepItem>> chain;
    if (!c_.device.is_cpu()) {
      chain.push_back(g_.Map<StepItem>(
          "to-device", device,
          [copier = std::make_shared<BatchCopier>()](StepItem&& item, DeviceContext& ctx) {
            copier->ToDevice(item.batch, ctx);
            return std::move(item);
          }));
    }
    // On a GPU the step is captured once as a CUDA Graph and replayed where it can be.
    std::shared_ptr<StepGraph> step_graph;
    if (c_.device.is_cuda()) {
      std::vector<std::string> names;
      for (const ComputeStagePtr& s : m_.stages) names.push_back(s->name());
      result_.cuda_graph_note = StepGraph::WhyNot(c_, names, *m_.model);
      if (result_.cuda_graph_note.empty()) {
        step_graph = step_graph_ = std::make_shared<StepGraph>();
      } else if (hooks_.on_note) {
        hooks_.on_note("CUDA Graphs off: " + result_.cuda_graph_note);
      }
    }
    for (size_t i = 0; i < m_.stages.size(); ++i) {
      ComputeStage* stage = m_.stages[i].get();
      const bool first = i == 0, last = i + 1 == m_.stages.size();
      chain.push_back(g_.Map<StepItem>(
          stage->name(), device,
          [this, stage, &state, first, last, step_graph](StepItem&& item, DeviceContext& ctx) {
            if (first && hooks_.interrupt != nullptr && hooks_.interrupt->load()) g_.Cancel();
            const bool timed = ctx.stream() != nullptr;  // a GPU: its busy time is measured
            if (first && timed) item.device_start = RecordCudaTimingEvent(ctx.stream());
            if (first && step_graph && step_graph->Begin(item, state, ctx)) {
              item.device_end = RecordCudaTimingEvent(ctx.stream());
              return std::move(item);
            }
            if (item.replayed) return std::move(item);  // the graph did this stage's work
            stage->Run(item, state);
            if (last && step_graph) step_graph->End(item, state, ctx);
            if (last && timed) item.device_end = RecordCudaTimingEvent(ctx.stream());
            return std::move(item);
          }));
    }
    g_.Connect(upstream, chain.front(), capacity);
    for (size_t i = 1; i < chain.size(); ++i) g_.Connect(chain[i - 1], chain[i], 1);

    auto done = g_.FlatMap<StepItem, AfterCompute>(
        "progress", device,
        [this](StepItem&& item, Emit<AfterCompute>& emit) { Progress(std::move(item), emit); });
    g_.Connect(chain.back(), done, 1);
    auto evaluate = g_.Sink<AfterCompute>("evaluate", Cpu(1), [this](AfterCompute&& after) {
      if (after.eval) Evaluate(std::move(*after.eval));
    });
    if (side_name.empty()) {
      g_.Connect(done, evaluate, 1);
      return;
    }
    // Side work (a mask ranking) runs here while compute goes on; evaluation after it.
    auto side = g_.Map<AfterCompute>(side_name, Cpu(1), [](AfterCompute&& after) {
      if (after.side) std::exchange(after.side, nullptr)();
      return std::move(after);
    });
    g_.Connect(done, side, 4).Connect(side, evaluate, 4);
  }

  // After step. On a GPU a step's loss is read when the next step has been queued (the host
  // does not wait for the GPU between steps): item k is held until item k+1 arrives. The last
  // step of an epoch or of the run is read at once: its epoch's figures, checkpoint and
  // snapshot need it, and the weights then are those after it.
  void Progress(StepItem&& item, Emit<AfterCompute>& emit) {
    if (held_) {
      StepItem previous = std::move(*held_);
      held_.reset();
      ResolveLoss(previous);
      const int64_t steps_done = previous.batch.seq + 1;
      ProgressOf(std::move(previous), steps_done, emit);
    }
    const bool last = item.batch.last_in_epoch || m_.state.steps_done == m_.total_steps;
    if (item.pending_loss.defined() && !last) {
      held_ = std::move(item);
      return;
    }
    ResolveLoss(item);
    ProgressOf(std::move(item), m_.state.steps_done, emit);
  }

  // The epoch's figures, the progress line, and at an epoch's end the checkpoint and the
  // snapshot for evaluate.
  void ProgressOf(StepItem&& item, int64_t steps_done, Emit<AfterCompute>& emit) {
    if (item.device_start && item.device_end) {
      device_busy_s_ += 1e-3 * item.device_end->MillisecondsSince(*item.device_start);
    }
    progress_.Add(item, steps_done);
    PlanComputeThreads();
    if (hooks_.on_step && progress_.ProgressDue()) {
      if (progress_.elapsed_s() > 0.5) cached_stats_ = g_.Stats();
      StepProgress p = progress_.Progress(cached_stats_);
      std::lock_guard<std::mutex> lock(hooks_mu_);
      hooks_.on_step(p);
    }
    AfterCompute after;
    after.side = std::move(item.side);
    if (std::optional<EpochSummary> e = progress_.EndOfEpoch()) {
      e->sparsity = Sparsity(*m_.model);
      if (!c_.checkpoint_dir.empty()) m_.SaveCheckpoint(e->epoch);
      if (m_.test != nullptr || m_.validation != nullptr) {
        after.eval = EvalItem{TakeSnapshot(*m_.model), *e};
        after.eval->weights.epoch = e->epoch;
        after.eval->weights.step = m_.state.steps_done;
      } else {
        std::lock_guard<std::mutex> lock(hooks_mu_);
        result_.epochs.push_back(*e);
        if (hooks_.on_epoch) hooks_.on_epoch(*e);
      }
    }
    if (after.eval || after.side) emit(std::move(after));
  }

  // On the compute thread, between two steps: the team size from the data stages' measured
  // load (pipelines/thread_plan.h). Said once when first planned, then at each change.
  void PlanComputeThreads() {
    if (!plan_.Due(progress_.elapsed_s())) return;
    const bool first = !planned_;
    planned_ = true;
    const std::optional<int> changed = plan_.Update(g_.Stats());
    if (changed) ops::InitComputeThread(c_.device, *changed);
    if ((changed || first) && hooks_.on_note) {
      std::lock_guard<std::mutex> lock(hooks_mu_);
      hooks_.on_note("thread plan: " + plan_.Explain());
    }
  }

  // On a cpu worker: the snapshot's accuracy and loss on the test and validation splits.
  void Evaluate(EvalItem&& item) {
    ops::InitComputeThread(Device::Cpu(), 1);  // this TBB worker's own OpenMP team: one thread
    LoadSnapshot(item.weights, *m_.eval_model);
    auto evaluate_on = [&](const DataSource* split, EvalFigures& figures) {
      std::optional<ClassificationMetrics> metrics;
      if (split == nullptr) return metrics;
      metrics = EvaluatePlain(*m_.eval_model, *split);
      figures = {.done = true,
                 .accuracy = metrics->Accuracy(),
                 .loss = metrics->MeanLoss(),
                 .samples = metrics->samples()};
      return metrics;
    };
    std::optional<ClassificationMetrics> on_test = evaluate_on(m_.test.get(), item.summary.test);
    std::optional<ClassificationMetrics> on_validation =
        evaluate_on(m_.validation.get(), item.summary.validation);
    const bool best = m_.SaveBestCheckpoint(*m_.eval_model, item.summary);
    std::lock_guard<std::mutex> lock(hooks_mu_);
    if (best) {
      result_.best_epoch = item.summary.epoch;
      result_.best_accuracy = m_.best_accuracy;
    }
    if (on_test) result_.final_test = std::move(on_test);
    if (on_validation) result_.final_validation = std::move(on_validation);
    result_.epochs.push_back(item.summary);
    if (hooks_.on_epoch) hooks_.on_epoch(item.summary);
  }

  int augment_workers() const { return c_.ConcurrencyOf("augment", m_.budget.cpu_stages); }

  TrainingPipeline::Impl& m_;
  const TrainConfig& c_;
  const TrainHooks& hooks_;
  Graph& g_;
  EpochProgress progress_;
  std::shared_ptr<StepGraph> step_graph_;  // on a GPU, when the step can be captured
  std::optional<StepItem> held_;
  double device_busy_s_ = 0.0;  // on a GPU: the device time of the steps' work           // on a
                                // GPU: the step whose loss progress reads next
  ComputeThreadPlan plan_;
  bool planned_ = false;
  GraphStats cached_stats_;
  std::mutex hooks_mu_;  // hooks are called from the compute and the evaluate threads
  TrainResult result_;
};

TrainResult TrainingPipeline::Impl::Run(const TrainHooks& hooks) {
  const TrainConfig& c = config;
  MILLRACE_CHECK_ARG(state.steps_done < total_steps, "nothing to train: the checkpoint is at step "
                                                         << state.steps_done << " of "
                                                         << total_steps);
  const int augment_workers = c.ConcurrencyOf("augment", budget.cpu_stages);
  for (const auto& [name, n] : c.concurrency) {
    MILLRACE_CHECK_ARG(name == "augment" || name == "evaluate",
                       "--concurrency " << name << "=" << n
                                        << ": only cpu stages with workers can be set: augment, "
                                           "evaluate (read, batch, collate and the compute "
                                           "stages are serial)");
  }
  if (hooks.on_note) {
    const char* wait = std::getenv("OMP_WAIT_POLICY");
    const char* spin = std::getenv("GOMP_SPINCOUNT");
    hooks.on_note("thread budget (" + std::to_string(AvailableCores()) + " cores): " +
                  budget.ToString() + "; augment workers " + std::to_string(augment_workers) +
                  ", oneDNN threads " + std::to_string(budget.compute) + ", OpenMP waiting " +
                  (wait != nullptr   ? std::string("OMP_WAIT_POLICY=") + wait
                   : spin != nullptr ? std::string("GOMP_SPINCOUNT=") + spin
                                     : std::string("libgomp's default")));
    if (state.steps_done > 0) {
      hooks.on_note("resumed from " + c.checkpoint_dir + "/last.safetensors at step " +
                    std::to_string(state.steps_done) + " (epoch " + std::to_string(first_epoch) +
                    ")");
    }
  }

  GraphOptions options;
  options.io_threads = std::max(1, budget.io);
  const int compute_threads = budget.compute;
  options.device_thread_init = [compute_threads, precision = c.precision](Device device) {
    ops::InitComputeThread(device, compute_threads);
    ops::SetComputePrecision(precision);  // Linear's and Conv2d's matmuls on a GPU
  };
  options.trace = !c.trace_path.empty();
  Graph g(options);
  state.cancelled = [&g] { return g.cancelled(); };
  TrainingRun run(*this, hooks, g);
  run.Build();
  {
    std::lock_guard<std::mutex> lock(graph_mu);
    graph = &g;
    if (cancel_requested) g.Cancel();
  }
  struct Unpublish {
    Impl* impl;
    ~Unpublish() {
      std::lock_guard<std::mutex> lock(impl->graph_mu);
      impl->graph = nullptr;
      impl->state.cancelled = nullptr;
    }
  } unpublish{this};
  try {
    g.Run();
  } catch (const Error& e) {
    // The device ran out of memory: say which batch size this was and what to try.
    if (e.kind() != ErrorKind::kCuda || e.message().find("out of memory") == std::string::npos ||
        c.batch_size < 2) {
      throw;
    }
    Error more(e.kind(), e.message() + "; this run's batch size is " +
                             std::to_string(c.batch_size) + ": try --batch-size " +
                             std::to_string(c.batch_size / 2));
    throw e.stage().empty() ? more : more.WithStage(e.stage());
  }

  TrainResult result = run.Result();
  const int planned_compute = result.budget.compute;
  result.budget = budget;
  result.budget.compute = planned_compute;
  result.budget.cpu_stages = augment_workers;
  if (!c.trace_path.empty()) g.WriteTrace(c.trace_path);
  return result;
}

}  // namespace millrace::pipelines
