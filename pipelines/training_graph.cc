// The training graph:
//
//   read (io) -> augment (cpu, N) -> collate (cpu, N -> 1) -> [teacher] -> train
//     (compute: forward -> loss -> backward -> prune-mask -> step) -> evaluate (cpu)
//
// Why the compute stages share one graph stage: they all run on the one compute thread, and
// step(k) must finish before forward(k+1) reads the weights. The runtime's compute thread runs
// tasks in the order they are posted and a task takes whatever input is waiting, so separate
// forward/backward/step graph stages would let forward(k+1) slip in before step(k) (pipelined
// SGD, a different algorithm). "train" therefore runs the compute-stage list in order for each
// batch, times each compute stage, and the report lists them as rows of their own. Exactness
// holds by construction, and ForwardStage checks it (steps_done == batch.seq).
#include <algorithm>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "ops/cpu/dnnl_context.h"
#include "pipelines/compute_trace.h"
#include "pipelines/reference_loop.h"
#include "pipelines/snapshot.h"
#include "pipelines/training_impl.h"

namespace millrace::pipelines {

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// One sample on its way to a batch.
struct SampleItem {
  int epoch = 0;
  int64_t pos = 0;  // position in the epoch's order
  io::Sample sample;
};

// A snapshot of the weights at an epoch's end, with the epoch's training figures.
struct EvalItem {
  WeightSnapshot weights;
  EpochSummary summary;
};

// The text below the graph's table: the compute stages' split and the stall in words.
std::string ComputeBreakdown(const ComputeStageTimes& times, double elapsed_s,
                             const GraphStats& stats) {
  std::ostringstream out;
  int64_t total = 0;
  for (int64_t ns : times.busy_ns) total += ns;
  out << "compute stages (inside 'train', on the compute thread, in this order per batch):\n";
  for (size_t i = 0; i < times.names.size(); ++i) {
    const double s = times.busy_ns[i] * 1e-9;
    out << "  " << std::left << std::setw(12) << times.names[i] << std::right << std::fixed
        << std::setprecision(2) << std::setw(8) << s << " s  " << std::setprecision(1)
        << std::setw(5) << (elapsed_s > 0 ? 100.0 * s / elapsed_s : 0.0) << "% of wall  "
        << std::setw(5) << (total > 0 ? 100.0 * times.busy_ns[i] / total : 0.0) << "% of compute\n";
  }
  const StageStats* train = nullptr;
  for (const StageStats& s : stats.stages) {
    if (s.name == "train") train = &s;
  }
  if (train != nullptr) {
    out << std::setprecision(0);
    if (train->starved_fraction > 0.05) {
      std::string from = train->inputs_from.empty() ? "its input" : train->inputs_from[0];
      // The data stage with the highest busy share is the one to give workers or less work.
      const StageStats* busiest = nullptr;
      for (const StageStats& s : stats.stages) {
        if (s.name == "train" || s.name == "evaluate") continue;
        if (busiest == nullptr || s.busy_fraction > busiest->busy_fraction) busiest = &s;
      }
      out << "train (compute) waited " << 100.0 * train->starved_fraction
          << "% of the time on an empty queue from " << from << ": the data stages did not keep up";
      if (busiest != nullptr) {
        out << "; the busiest is " << busiest->name << ", busy " << 100.0 * busiest->busy_fraction
            << "% at " << busiest->placement
            << (busiest->name == "augment" ? " (raise --concurrency augment=N)"
                                           : " (a serial stage: lower its work per item)");
      }
      out << "\n";
    } else {
      out << "train (compute) was busy " << 100.0 * train->busy_fraction
          << "% of the time and waited on its input " << 100.0 * train->starved_fraction
          << "%: the data stages kept ahead, compute is the limit\n";
    }
  }
  return out.str();
}

}  // namespace

TrainResult TrainingPipeline::Impl::Run(const TrainHooks& hooks) {
  const TrainConfig& c = config;
  const int64_t spe = train->batches_per_epoch();
  const int64_t batch_size = c.batch_size;
  const int64_t first_step = state.steps_done;
  MILLRACE_CHECK_ARG(first_step < total_steps, "nothing to train: the checkpoint is at step "
                                                   << first_step << " of " << total_steps);
  const int augment_workers = c.ConcurrencyOf("augment", budget.cpu_stages);
  for (const auto& [name, n] : c.concurrency) {
    MILLRACE_CHECK_ARG(name == "augment" || name == "evaluate",
                       "--concurrency " << name << "=" << n
                                        << ": only cpu stages with workers can be set: augment, "
                                           "evaluate (read, batch, collate and the compute "
                                           "stages are serial)");
  }

  TrainResult result;
  result.budget = budget;
  result.budget.cpu_stages = augment_workers;
  std::mutex hooks_mu;  // hooks are called from the compute and the evaluate threads
  auto note = [&](const std::string& text) {
    if (!hooks.on_note) return;
    std::lock_guard<std::mutex> lock(hooks_mu);
    hooks.on_note(text);
  };
  note(
      "thread budget (" + std::to_string(AvailableCores()) + " cores): " + budget.ToString() +
      "; augment workers " + std::to_string(augment_workers) + ", oneDNN threads " +
      std::to_string(budget.compute) + ", OpenMP wait policy " +
      (std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : "spin (libgomp default)"));
  if (first_step > 0) {
    note("resumed from " + c.checkpoint_dir + "/last.safetensors at step " +
         std::to_string(first_step) + " (epoch " + std::to_string(first_epoch) + ")");
  }

  GraphOptions options;
  options.io_threads = std::max(1, budget.io);
  const int compute_threads = budget.compute;
  options.device_thread_init = [compute_threads](Device) {
    ops::cpu::SetComputeThreads(compute_threads);
  };
  options.trace = !c.trace_path.empty();
  Graph g(options);

  // read: the epoch's order, sample by sample, from first_epoch until total_steps batches.
  struct ReadState {
    int epoch;
    int64_t pos = 0;
    std::vector<int64_t> order;
    int64_t remaining;
    int64_t resume_at = 0;  // where the first epoch's order starts
  };
  auto rs = std::make_shared<ReadState>(ReadState{first_epoch, 0, {}, 0});
  rs->remaining = (total_steps - first_step) * batch_size;
  rs->resume_at = (first_step % spe) * batch_size;  // a checkpoint inside an epoch
  auto read = g.Source<SampleItem>("read", Io(1), [this, rs]() -> std::optional<SampleItem> {
    if (rs->remaining == 0) return std::nullopt;
    if (rs->pos == static_cast<int64_t>(rs->order.size())) {
      if (!rs->order.empty()) ++rs->epoch;
      rs->order.clear();
      for (const auto& b : train->EpochBatches(rs->epoch)) {
        rs->order.insert(rs->order.end(), b.begin(), b.end());
      }
      rs->pos = rs->resume_at;
      rs->resume_at = 0;
      MILLRACE_CHECK(!rs->order.empty(), ErrorKind::kInternal,
                     "epoch " << rs->epoch << " has no samples");
    }
    SampleItem item{rs->epoch, rs->pos, train->Read(rs->order[rs->pos])};
    ++rs->pos;
    --rs->remaining;
    return item;
  });
  auto augment = g.Map<SampleItem>("augment", Cpu(augment_workers), [this](SampleItem&& s) {
    s.sample = train->Prepare(std::move(s.sample), s.epoch);
    return std::move(s);
  });
  // collate: groups batch_size samples (in sequence order: one worker) and stacks them.
  auto pending = std::make_shared<std::vector<io::Sample>>();
  auto collate = g.FlatMap<SampleItem, StepItem>(
      "collate", Cpu(1), [this, spe, batch_size, pending](SampleItem&& s, Emit<StepItem>& emit) {
        pending->push_back(std::move(s.sample));
        if (static_cast<int64_t>(pending->size()) < batch_size) return;
        StepItem item;
        item.batch = train->Collate(*pending);
        pending->clear();
        item.batch.epoch = s.epoch;
        item.batch.index_in_epoch = s.pos / batch_size;
        item.batch.seq = (item.batch.epoch - 1) * spe + item.batch.index_in_epoch;
        item.batch.last_in_epoch = item.batch.index_in_epoch == spe - 1;
        emit(std::move(item));
      });
  g.Connect(read, augment, c.CapacityOf("augment", 4 * batch_size))
      .Connect(augment, collate, c.CapacityOf("collate", 2 * batch_size));

  // train: the compute stages, in order, per batch.
  ComputeStageTimes times;
  for (const auto& s : stages) times.names.push_back(s->name());
  times.busy_ns.assign(stages.size(), 0);
  const Clock::time_point start = Clock::now();
  Clock::time_point epoch_start = start, last_progress = start;
  int64_t samples_at_last = 0, steps_this_run = 0;
  double epoch_loss_sum = 0.0;
  int64_t epoch_steps = 0;
  GraphStats cached_stats;
  const bool evaluate = test != nullptr || validation != nullptr;
  const bool tracing = !c.trace_path.empty();
  ComputeTrace compute_trace;

  auto run_step = [&](StepItem&& item, Emit<EvalItem>* emit) {
    if (hooks.interrupt != nullptr && hooks.interrupt->load()) {
      g.Cancel();
      return;
    }
    for (size_t i = 0; i < stages.size(); ++i) {
      const Clock::time_point t0 = Clock::now();
      stages[i]->Run(item, state);
      const Clock::time_point t1 = Clock::now();
      times.busy_ns[i] += std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
      if (tracing) compute_trace.Add(static_cast<int>(i), t0, t1, item.batch.seq);
    }
    ++steps_this_run;
    epoch_loss_sum += item.loss;
    ++epoch_steps;
    const Clock::time_point now = Clock::now();
    const bool epoch_end = item.batch.last_in_epoch || state.steps_done == total_steps;
    if (hooks.on_step && (Seconds(last_progress, now) >= 0.1 || epoch_end)) {
      StepProgress p;
      p.epoch = item.batch.epoch;
      p.epochs = c.epochs;
      p.step = state.steps_done;
      p.step_in_epoch = item.batch.index_in_epoch + 1;
      p.steps_per_epoch = spe;
      p.samples = steps_this_run * batch_size;
      p.samples_per_s = (p.samples - samples_at_last) / std::max(1e-9, Seconds(last_progress, now));
      p.loss = epoch_loss_sum / epoch_steps;
      p.lr = item.lr;
      p.elapsed_s = Seconds(start, now);
      if (Seconds(start, now) > 0.5) cached_stats = g.Stats();
      for (const StageStats& s : cached_stats.stages) {
        if (s.name != "train") {
          if (s.busy_fraction >= 0.005) p.busy.emplace_back(s.name, s.busy_fraction);
          continue;
        }
        for (size_t i = 0; i < times.names.size(); ++i) {
          const double share = times.busy_ns[i] * 1e-9 / std::max(1e-9, p.elapsed_s);
          if (share >= 0.005) p.busy.emplace_back(times.names[i], share);
        }
      }
      samples_at_last = p.samples;
      last_progress = now;
      std::lock_guard<std::mutex> lock(hooks_mu);
      hooks.on_step(p);
    }
    if (!epoch_end) return;
    EpochSummary e;
    e.epoch = item.batch.epoch;
    e.epochs = c.epochs;
    e.steps = state.steps_done;
    e.train_loss = epoch_loss_sum / std::max<int64_t>(1, epoch_steps);
    e.seconds = Seconds(epoch_start, now);
    e.train_samples_per_s = epoch_steps * batch_size / std::max(1e-9, e.seconds);
    e.sparsity = Sparsity(*model);
    epoch_loss_sum = 0.0;
    epoch_steps = 0;
    epoch_start = now;
    if (!c.checkpoint_dir.empty()) SaveCheckpoint(e.epoch);
    if (emit != nullptr) {
      EvalItem eval{TakeSnapshot(*model), e};
      eval.weights.epoch = e.epoch;
      eval.weights.step = state.steps_done;
      (*emit)(std::move(eval));
      return;
    }
    std::lock_guard<std::mutex> lock(hooks_mu);
    result.epochs.push_back(e);
    if (hooks.on_epoch) hooks.on_epoch(e);
  };

  // train (and evaluate) after `upstream`: collate, or the teacher when there is one.
  auto build_tail = [&](auto upstream) {
    if (evaluate) {
      auto train_stage = g.FlatMap<StepItem, EvalItem>(
          "train", Compute(),
          [&](StepItem&& item, Emit<EvalItem>& emit) { run_step(std::move(item), &emit); });
      auto eval_stage = g.Sink<EvalItem>("evaluate", Cpu(1), [&, this](EvalItem&& item) {
        ops::cpu::SetComputeThreads(1);  // this TBB worker's own OpenMP team: one thread
        LoadSnapshot(item.weights, *eval_model);
        auto evaluate_on = [&](const DataSource* split, EvalFigures& figures) {
          std::optional<ClassificationMetrics> m;
          if (split == nullptr) return m;
          m = EvaluatePlain(*eval_model, *split);
          figures = {.done = true,
                     .accuracy = m->Accuracy(),
                     .loss = m->MeanLoss(),
                     .samples = m->samples()};
          return m;
        };
        std::optional<ClassificationMetrics> on_test = evaluate_on(test.get(), item.summary.test);
        std::optional<ClassificationMetrics> on_validation =
            evaluate_on(validation.get(), item.summary.validation);
        std::lock_guard<std::mutex> lock(hooks_mu);
        if (on_test) result.final_test = std::move(on_test);
        if (on_validation) result.final_validation = std::move(on_validation);
        result.epochs.push_back(item.summary);
        if (hooks.on_epoch) hooks.on_epoch(item.summary);
      });
      g.Connect(upstream, train_stage, c.CapacityOf("train", 4))
          .Connect(train_stage, eval_stage, 1);
    } else {
      auto train_stage = g.Sink<StepItem>(
          "train", Compute(), [&](StepItem&& item) { run_step(std::move(item), nullptr); });
      g.Connect(upstream, train_stage, c.CapacityOf("train", 4));
    }
  };
  if (teacher) {
    // The teacher's forward of batch k+1 may run (on a cpu worker) while the student trains
    // on batch k: its weights are frozen, so this overlap changes nothing.
    auto t = g.Map<StepItem>("teacher", teacher_placement == "cpu" ? Cpu(1) : Compute(),
                             [this](StepItem&& item) {
                               if (teacher_placement == "cpu") ops::cpu::SetComputeThreads(1);
                               item.teacher_logits = teacher(item.batch);
                               return std::move(item);
                             });
    g.Connect(collate, t, c.CapacityOf("teacher", 4));
    build_tail(t);
  } else {
    build_tail(collate);
  }

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
    }
  } unpublish{this};
  g.Run();

  result.seconds = Seconds(start, Clock::now());
  result.steps = steps_this_run;
  result.samples = steps_this_run * batch_size;
  result.samples_per_s = result.samples / std::max(1e-9, result.seconds);
  result.sparsity = Sparsity(*model);
  const GraphStats stats = g.Stats();
  for (const StageStats& s : stats.stages) {
    result.stages.push_back({s.name, s.placement, s.concurrency, static_cast<int64_t>(s.items_in),
                             s.busy_s, s.starved_s, s.blocked_s});
  }
  for (size_t i = 0; i < times.names.size(); ++i) {
    result.stages.push_back(
        {times.names[i], "compute", 1, result.steps, times.busy_ns[i] * 1e-9, 0.0, 0.0});
  }
  result.stage_report = stats.ToTable() + ComputeBreakdown(times, stats.elapsed_s, stats);
  if (tracing) {
    g.WriteTrace(c.trace_path);
    compute_trace.MergeInto(c.trace_path, times.names);
  }
  return result;
}

}  // namespace millrace::pipelines
