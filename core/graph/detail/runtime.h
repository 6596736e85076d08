// Internal: what a Graph owns and does while it runs — the stages and channels, the executors
// (oneTBB arenas, the Asio io_context and its threads, one thread per compute device), the
// first error, cancellation, and the count of tasks in flight that Run() waits on.
#pragma once

#include <tbb/global_control.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/graph/detail/stage_base.h"
#include "core/graph/graph_options.h"
#include "core/graph/stats.h"

namespace millrace::internal {

// Who runs a stage's tasks.
class Executor {
 public:
  virtual ~Executor() = default;
  // Runs stage->Work() later on this executor's threads (through RunTask), never inline.
  virtual void Post(StageBase* stage) = 0;
};

// What an executor's task does: runs stage->Work(), then the tasks that Work() handed over by
// TryRunNext() on this thread (a consumer woken by this task, on the same executor: it runs next
// here without a round trip through the scheduler, as oneTBB's task bypass does).
void RunTask(Executor* executor, StageBase* stage);
// Called when a task for `stage` is due: true when the calling thread will run it next itself.
bool TryRunNext(StageBase* stage);

class Runtime {
 public:
  explicit Runtime(GraphOptions options);
  ~Runtime();

  const GraphOptions& options() const { return options_; }
  boost::asio::io_context& io() { return io_; }

  StageBase* AddStage(std::unique_ptr<StageBase> stage);
  void AddChannel(std::unique_ptr<ChannelBase> channel);
  StageBase* Find(std::string_view name) const;  // nullptr when unknown
  void Validate() const;
  void Run();

  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }
  void Cancel();
  // The first error wins; cancels the graph.
  void Fail(const std::string& stage, std::exception_ptr error);
  void SetConcurrency(std::string_view stage, int n);

  // Called by stages.
  void Launch(StageBase* stage);  // a task for `stage` (counted in flight)
  void TaskDone();                // the last thing a task does
  void StageFinished();

  GraphStats Stats() const;
  void WriteTrace(const std::string& path) const;

 private:
  void StartExecutors();
  void StopExecutors();
  int CpuSlots() const;      // the sum of the cpu stages' concurrencies
  int CpuThreads() const;    // the cpu arena's threads: CpuSlots() within options_.cpu_threads
  void EnsureCpuArena();     // one arena for every cpu stage, wide enough; holds mu_
  void EnsureParallelism();  // holds mu_

  GraphOptions options_;
  boost::asio::io_context io_;
  std::vector<std::unique_ptr<StageBase>> stages_;
  std::vector<std::unique_ptr<ChannelBase>> channels_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool ran_ = false;
  bool running_ = false;
  bool returned_ = false;
  // Each on its own cache line: in_flight_ changes with every task, cancelled_ is read by every
  // stage for every item.
  alignas(64) std::atomic<int64_t> in_flight_{0};  // tasks posted, not yet done; 0 under mu_
  alignas(64) std::atomic<bool> cancelled_{false};
  size_t unfinished_ = 0;
  std::optional<Error> error_;
  std::atomic<int64_t> start_ns_{0};
  std::atomic<int64_t> end_ns_{0};

  std::vector<std::unique_ptr<Executor>> executors_;
  std::vector<std::unique_ptr<OrderedDevice>> devices_;  // one per Compute()/Gpu(d) thread
  Executor* io_executor_ = nullptr;
  Executor* cpu_executor_ = nullptr;
  int cpu_arena_slots_ = 0;
  std::vector<std::thread> io_threads_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> io_guard_;
  std::optional<tbb::global_control> parallelism_;
  int parallelism_value_ = 0;
};

}  // namespace millrace::internal
