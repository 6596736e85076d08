#include "pipelines/tuner.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "core/error.h"

namespace millrace::pipelines {
namespace {

constexpr double kTunerInf = std::numeric_limits<double>::infinity();

// Every combination of concurrencies in [1, cores] for `count` stages, in lexicographic order;
// calls fn(const std::vector<int>&) for each.
template <class F>
void ForEachConcurrency(size_t count, int cores, F fn) {
  std::vector<int> c(count, 1);
  while (true) {
    fn(c);
    size_t i = 0;
    while (i < count && c[i] == cores) c[i++] = 1;
    if (i == count) return;
    ++c[i];
  }
}

bool IsComputePlacement(const std::string& placement) {
  return placement == "compute" || placement.rfind("gpu", 0) == 0 || placement.rfind("sim", 0) == 0;
}

std::string TunerRate(double samples_per_s) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(0) << samples_per_s << " samples/s";
  return s.str();
}

std::string TunerMs(double seconds) {
  std::ostringstream s;
  s << std::setprecision(3) << seconds * 1e3 << " ms";
  return s.str();
}

}  // namespace

double PipelineModel::ComputeRateAt(int threads) const {
  if (compute_rate.empty()) return 0;
  auto hi = compute_rate.lower_bound(threads);
  if (hi != compute_rate.end() && hi->first == threads) return hi->second;
  if (hi == compute_rate.end()) return std::prev(hi)->second;  // flat past the largest
  if (hi == compute_rate.begin()) return hi->second * threads / hi->first;
  auto lo = std::prev(hi);
  const double f = static_cast<double>(threads - lo->first) / (hi->first - lo->first);
  return lo->second + f * (hi->second - lo->second);
}

Prediction Predict(const PipelineModel& model, int compute_threads,
                   const std::map<std::string, int>& concurrency) {
  Prediction p;
  p.samples_per_s = kTunerInf;
  auto bound = [&p](double rate, const std::string& limit) {
    if (rate < p.samples_per_s) {
      p.samples_per_s = rate;
      p.limit = limit;
    }
  };
  const double r = model.ComputeRateAt(compute_threads);
  if (r > 0) bound(r, "compute");
  double cpu_seconds = 0;  // core-seconds per sample
  for (const StageModel& s : model.stages) {
    if (s.seconds_per_sample <= 0) continue;
    if (s.role == StageRole::kParallel) {
      auto it = concurrency.find(s.name);
      const int c = it == concurrency.end() ? 1 : it->second;
      bound(c / s.seconds_per_sample, s.name);
    } else {
      bound(1.0 / s.seconds_per_sample, s.name);
    }
    if (s.role != StageRole::kIo) cpu_seconds += s.seconds_per_sample;
  }
  if (r > 0) cpu_seconds += compute_threads / r;
  if (cpu_seconds > 0) bound(model.cores / cpu_seconds, "cores");
  if (!std::isfinite(p.samples_per_s)) p.samples_per_s = 0;
  return p;
}

namespace {

// The capacities of the channels into each data stage and into compute: two batches' worth of
// the channel's items (four into the limiting stage, so that it never waits for a burst of its
// producer), plus room for the producer's workers to finish out of order.
std::map<std::string, int> PlanCapacities(const PipelineModel& model, const TunedConfig& config) {
  std::map<std::string, int> capacity;
  auto workers = [&config](const std::string& stage) {
    auto it = config.concurrency.find(stage);
    return it == config.concurrency.end() ? 1 : it->second;
  };
  auto plan = [&](const std::string& stage, double items_per_sample, const std::string& producer) {
    const double batches = stage == config.predicted.limit ? 4.0 : 2.0;
    const double items = std::ceil(batches * model.batch_size * items_per_sample - 1e-9);
    capacity[stage] =
        static_cast<int>(std::max(2.0, items + (producer.empty() ? 0 : workers(producer))));
  };

  for (const StageModel& s : model.stages) {
    if (!s.producer.empty()) plan(s.name, s.items_per_sample, s.producer);
  }
  // Compute takes one batch per item.
  const double batches = config.predicted.limit == "compute" ? 4.0 : 2.0;
  capacity[model.compute_stage] = static_cast<int>(batches);
  return capacity;
}

std::string ExplainLimit(const PipelineModel& model, TunedConfig& config) {
  const Prediction& p = config.predicted;
  std::ostringstream out;
  const StageModel* stage = nullptr;
  for (const StageModel& s : model.stages) {
    if (s.name == p.limit) stage = &s;
  }
  const int t = config.compute_threads;
  if (p.limit == "compute") {
    config.bound = "compute-bound";
    const double r = model.ComputeRateAt(t);
    out << "compute-bound: the compute stages (" << model.compute_stage << " to the step) take "
        << TunerMs(model.batch_size / r) << " per batch of " << model.batch_size << " at " << t
        << " oneDNN thread" << (t == 1 ? "" : "s") << " (" << TunerRate(r)
        << "); the data stages keep up. ";
    if (t < model.cores) {
      const double more = Predict(model, t + 1, config.concurrency).samples_per_s;
      out << "With " << t + 1 << " threads the whole pipeline is predicted to give "
          << TunerRate(more) << " (compute " << TunerRate(model.ComputeRateAt(t + 1))
          << ", sharing the cores with the data stages). ";
    }
    out << "What would help: more cores for compute";
    if (model.compute_rate.size() >= 2) {
      const auto first = *model.compute_rate.begin();
      const auto last = *model.compute_rate.rbegin();
      if (last.first > first.first) {
        out << " (compute measured " << TunerRate(first.second) << " at " << first.first
            << " thread" << (first.first == 1 ? "" : "s") << ", " << TunerRate(last.second)
            << " at " << last.first << ")";
      }
    }
    out << ", a GPU, or a bigger batch (--batch-size: fewer, larger GEMMs per sample; it changes "
           "the optimisation, so check the accuracy).";
  } else if (p.limit == "cores") {
    double data_cores = 0;
    const StageModel* heaviest = nullptr;
    for (const StageModel& s : model.stages) {
      if (s.role == StageRole::kIo) continue;
      data_cores += p.samples_per_s * s.seconds_per_sample;
      if (heaviest == nullptr || s.seconds_per_sample > heaviest->seconds_per_sample) heaviest = &s;
    }
    const double compute_cores = t * p.samples_per_s / std::max(1e-12, model.ComputeRateAt(t));
    out << std::fixed << std::setprecision(2);
    if (compute_cores >= data_cores) {
      // The cores are spent mostly on compute: it is compute that more cores would speed up.
      config.bound = "compute-bound";
      out << "compute-bound: all " << model.cores << " cores are busy, " << compute_cores
          << " of them with compute's " << t << " oneDNN thread" << (t == 1 ? "" : "s") << " ("
          << TunerRate(model.ComputeRateAt(t)) << " while it runs) and " << data_cores
          << " with the data stages. What would help: more cores for compute, a GPU, or a "
             "bigger batch (--batch-size: fewer, larger GEMMs per sample; it changes the "
             "optimisation, so check the accuracy).";
    } else {
      config.bound = "CPU-bound";
      out << "CPU-bound: all " << model.cores << " cores are busy (the data stages " << data_cores
          << " cores, compute " << compute_cores << " cores at " << t << " thread"
          << (t == 1 ? "" : "s") << ")";
      if (heaviest != nullptr) {
        out << "; the data stage taking the most is " << heaviest->name << " ("
            << TunerMs(heaviest->seconds_per_sample) << " of a core per sample)";
      }
      out << ". What would help: more cores";
      if (heaviest != nullptr) out << ", or less work per sample in " << heaviest->name;
      out << ".";
    }
  } else if (stage != nullptr && stage->role == StageRole::kIo) {
    config.bound = "I/O-bound";
    out << "I/O-bound: " << stage->name << " delivers at most "
        << TunerRate(1.0 / stage->seconds_per_sample) << " (" << TunerMs(stage->seconds_per_sample)
        << " per sample). What would help: a faster disk or the data in the page cache, or more "
           "reads in flight (--read-ahead).";
  } else if (stage != nullptr && stage->role == StageRole::kParallel) {
    config.bound = "CPU-bound";
    const int c = config.concurrency.count(stage->name) ? config.concurrency.at(stage->name) : 1;
    out << "CPU-bound: " << stage->name << " takes " << TunerMs(stage->seconds_per_sample)
        << " of a core per sample; with " << c << " worker" << (c == 1 ? "" : "s") << " it gives "
        << TunerRate(p.samples_per_s) << ". What would help: more cores (each worker on a core "
        << "of its own adds " << TunerRate(1.0 / stage->seconds_per_sample)
        << "), or less work per sample in " << stage->name << ".";
  } else if (stage != nullptr) {
    config.bound = "CPU-bound";
    out << "CPU-bound on a serial stage: " << stage->name << " runs one item at a time and takes "
        << TunerMs(stage->seconds_per_sample) << " per sample (at most "
        << TunerRate(1.0 / stage->seconds_per_sample)
        << "). More cores do not help; less work per item in " << stage->name
        << " (or a faster core) would.";
  } else {
    config.bound = "unknown";
    out << "nothing was measured";
  }
  return out.str();
}

}  // namespace

TunedConfig Optimize(const PipelineModel& model) {
  MILLRACE_CHECK_ARG(model.cores >= 1, "tuner: cores must be >= 1, got " << model.cores);
  std::vector<std::string> parallel;
  for (const StageModel& s : model.stages) {
    if (s.role == StageRole::kParallel) parallel.push_back(s.name);
  }
  double candidates = model.cores;
  for (size_t i = 0; i < parallel.size(); ++i) candidates *= model.cores;
  MILLRACE_CHECK_ARG(candidates <= 2e7, "tuner: " << parallel.size() << " parallel stages on "
                                                  << model.cores
                                                  << " cores are too many to search exactly");
  TunedConfig best;
  int best_threads = std::numeric_limits<int>::max();
  // Within this relative margin two predictions are a tie: the one with fewer threads wins.
  constexpr double kTie = 1e-9;
  for (int t = 1; t <= model.cores; ++t) {
    ForEachConcurrency(parallel.size(), model.cores, [&](const std::vector<int>& c) {
      std::map<std::string, int> concurrency;
      int threads = t;
      for (size_t i = 0; i < parallel.size(); ++i) {
        concurrency[parallel[i]] = c[i];
        threads += c[i];
      }
      const Prediction p = Predict(model, t, concurrency);
      const double margin = kTie * std::max(1.0, best.predicted.samples_per_s);
      const bool better = p.samples_per_s > best.predicted.samples_per_s + margin;
      const bool tie = std::abs(p.samples_per_s - best.predicted.samples_per_s) <= margin;
      if (better || (tie && threads < best_threads)) {
        best.compute_threads = t;
        best.concurrency = std::move(concurrency);
        best.predicted = p;
        best_threads = threads;
      }
    });
  }
  best.capacity = PlanCapacities(model, best);
  best.explanation = ExplainLimit(model, best);
  return best;
}

PipelineModel FitModel(const std::vector<Trial>& trials, int cores, int64_t batch_size,
                       const std::set<std::string>& parallel, const std::set<std::string>& ignore) {
  PipelineModel model;
  model.cores = std::max(1, cores);
  model.batch_size = std::max<int64_t>(1, batch_size);
  std::map<std::string, size_t> index;  // stage name -> model.stages
  bool compute_named = false;
  for (const Trial& trial : trials) {
    if (trial.samples <= 0) continue;
    double compute_busy = 0;
    for (const StageStats& s : trial.stats.stages) {
      if (ignore.count(s.name) != 0) continue;
      if (IsComputePlacement(s.placement)) {
        compute_busy += s.busy_s;
        if (!compute_named) {
          model.compute_stage = s.name;
          compute_named = true;
        }
        continue;
      }
      const double seconds = s.busy_s / trial.samples;
      auto [it, added] = index.emplace(s.name, model.stages.size());
      if (added) {
        StageModel m;
        m.name = s.name;
        m.role = s.placement.rfind("io", 0) == 0 ? StageRole::kIo
                 : parallel.count(s.name) != 0   ? StageRole::kParallel
                                                 : StageRole::kSerial;
        m.seconds_per_sample = seconds;
        m.items_per_sample = static_cast<double>(s.items_in) / trial.samples;
        if (!s.inputs_from.empty()) m.producer = s.inputs_from.front();
        model.stages.push_back(m);
      } else {
        StageModel& m = model.stages[it->second];
        m.seconds_per_sample = std::min(m.seconds_per_sample, seconds);
      }
    }
    if (compute_busy > 0 && trial.compute_threads > 0) {
      double& rate = model.compute_rate[trial.compute_threads];
      rate = std::max(rate, trial.samples / compute_busy);
    }
  }
  return model;
}

}  // namespace millrace::pipelines
