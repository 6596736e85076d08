#include "ops/profile.h"

#include <time.h>

#include <chrono>

#include "ops/layer.h"

namespace millrace::ops {

namespace {
thread_local LayerProfile* current = nullptr;
}

LayerProfile::Scope::Scope(LayerProfile& profile) : previous_(current) { current = &profile; }
LayerProfile::Scope::~Scope() { current = previous_; }

LayerProfile* LayerProfile::Current() { return current; }

double LayerProfile::Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double LayerProfile::ThreadCpuNow() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

size_t LayerProfile::Enter(std::string_view name) {
  std::string path;
  for (const std::string& p : path_) path += p + ".";
  path += name;
  path_.emplace_back(name);
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].path == path) return i;
  }
  Entry& e = entries_.emplace_back();
  e.path = std::move(path);
  e.depth = static_cast<int>(path_.size()) - 1;
  return entries_.size() - 1;
}

void LayerProfile::Leave(size_t entry, const Layer& layer, Pass pass, double seconds,
                         double cpu_seconds) {
  path_.pop_back();
  Entry& e = entries_[entry];
  (pass == Pass::kForward ? e.forward_s : e.backward_s).push_back(seconds);
  (pass == Pass::kForward ? e.forward_cpu_s : e.backward_cpu_s).push_back(cpu_seconds);
  if (pass == Pass::kForward) e.implementation = layer.BackendInfo();
}

}  // namespace millrace::ops
