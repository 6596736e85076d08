// How many cores this process may use, and how they are shared out between the cpu stages
// (oneTBB arenas), compute on the CPU (oneDNN, which runs on OpenMP in Debian's build) and the
// io threads. Budgets add up to the cores unless the user oversubscribes on purpose.
#pragma once

#include <string>

namespace millrace {

// Cores available to this process: the smallest of std::thread::hardware_concurrency(), the
// CPU affinity mask and the cgroup (v2 cpu.max, v1 cfs quota) limit. At least 1.
int AvailableCores();

struct ThreadBudget {
  int cpu_stages = 1;  // total concurrency of the TBB arenas that run cpu stages
  int compute = 1;     // oneDNN / OpenMP threads of the one compute thread
  int io = 1;          // io threads doing real work (Asio completions)

  int total() const { return cpu_stages + compute + io; }
  std::string ToString() const;  // "2 cores: cpu stages 1, compute 1, io 1 (light)"
};

// The starting plan for `cores`: compute gets every core, and the cpu stages' arenas half of
// them (on IDX they need a few percent of one). A training run then measures what the cpu
// stages use and shrinks compute by that (pipelines/thread_plan.h). io threads mostly wait on
// the kernel and are counted as light.
ThreadBudget DefaultThreadBudget(int cores = AvailableCores());

}  // namespace millrace
