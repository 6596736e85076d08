#include "core/threads.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <thread>

namespace millrace {

namespace {
// cgroup v2: "max 100000" or "200000 100000"; cgroup v1: cfs_quota_us / cfs_period_us.
int CgroupCores() {
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long period = 0;
  if (v2 >> quota >> period && quota != "max" && period > 0) {
    return std::max(1, static_cast<int>(std::ceil(std::stod(quota) / period)));
  }
  std::ifstream q("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  long quota_us = -1, period_us = 0;
  if (q >> quota_us && p >> period_us && quota_us > 0 && period_us > 0) {
    return std::max(1, static_cast<int>(std::ceil(static_cast<double>(quota_us) / period_us)));
  }
  return 0;
}
}  // namespace

int AvailableCores() {
  int cores = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int affinity = CPU_COUNT(&set);
    if (affinity > 0) cores = cores > 0 ? std::min(cores, affinity) : affinity;
  }
  if (const int cgroup = CgroupCores(); cgroup > 0) cores = std::min(cores, cgroup);
  return std::max(1, cores);
}

std::string ThreadBudget::ToString() const {
  return "cpu stages " + std::to_string(cpu_stages) + ", compute " + std::to_string(compute) +
         ", io " + std::to_string(io) + " (light)";
}

ThreadBudget DefaultThreadBudget(int cores) {
  ThreadBudget b;
  cores = std::max(1, cores);
  b.cpu_stages = std::max(1, cores / 2);
  b.compute = cores;  // shrunk by what the cpu stages are measured to use (pipelines/thread_plan.h)
  b.io = 1;
  return b;
}

}  // namespace millrace
