#include "pipelines/thread_plan.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

namespace millrace::pipelines {

int PlanComputeThreads(int cores, double data_cores, double slack) {
  cores = std::max(1, cores);
  const int data = static_cast<int>(std::ceil(std::max(0.0, data_cores - slack)));
  return std::clamp(cores - data, 1, cores);
}

double DataCores(const GraphStats& before, const GraphStats& now) {
  const double wall = now.elapsed_s - before.elapsed_s;
  if (wall <= 0) return 0;
  std::map<std::string, double> busy_before;
  for (const StageStats& s : before.stages) busy_before[s.name] = s.busy_s;
  double busy = 0;
  for (const StageStats& s : now.stages) {
    if (s.placement.rfind("cpu(", 0) != 0) continue;
    auto it = busy_before.find(s.name);
    busy += s.busy_s - (it == busy_before.end() ? 0.0 : it->second);
  }
  return std::max(0.0, busy / wall);
}

ComputeThreadPlan::ComputeThreadPlan(int cores, int threads, bool adaptive,
                                     ThreadPlanOptions options)
    : cores_(std::max(1, cores)),
      threads_(std::max(1, threads)),
      adaptive_(adaptive),
      options_(options),
      next_s_(options.first_after_s) {}

bool ComputeThreadPlan::Due(double elapsed_s) const { return adaptive_ && elapsed_s >= next_s_; }

std::optional<int> ComputeThreadPlan::Update(const GraphStats& now) {
  if (!adaptive_) return std::nullopt;
  last_data_cores_ = DataCores(window_start_, now);
  last_window_s_ = now.elapsed_s - window_start_.elapsed_s;
  window_start_ = now;
  next_s_ = now.elapsed_s + options_.every_s;
  const int planned = PlanComputeThreads(cores_, last_data_cores_, options_.slack);
  if (planned == threads_) return std::nullopt;
  threads_ = planned;
  return planned;
}

std::string ComputeThreadPlan::Explain() const {
  std::ostringstream s;
  s << "compute " << threads_ << " thread" << (threads_ == 1 ? "" : "s") << " of " << cores_
    << " core" << (cores_ == 1 ? "" : "s");
  if (!adaptive_) {
    s << " (fixed)";
  } else if (last_data_cores_ >= 0) {
    s << std::fixed << std::setprecision(2) << " (data stages busy " << last_data_cores_
      << " cores over " << std::setprecision(1) << last_window_s_ << " s)";
  } else {
    s << " (planned again after " << std::setprecision(1) << options_.first_after_s
      << " s from the data stages' measured load)";
  }
  return s.str();
}

}  // namespace millrace::pipelines
