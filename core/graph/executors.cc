// The three kinds of executor a stage can have: a oneTBB arena (Cpu), the Asio io_context
// (Io), and one dedicated thread per compute device (Compute, Gpu).
#include "core/graph/detail/executors.h"

#include <tbb/task_arena.h>

#include <optional>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include "core/device_stream.h"
#include "core/graph/device_context.h"

namespace millrace::internal {

namespace {
thread_local Executor* tls_executor = nullptr;  // the executor whose task runs on this thread
thread_local StageBase* tls_next = nullptr;     // handed over by TryRunNext()
}  // namespace

void RunTask(Executor* executor, StageBase* stage) {
  Executor* const outer = tls_executor;
  StageBase* const outer_next = tls_next;
  tls_executor = executor;
  tls_next = nullptr;
  stage->Work();
  while (StageBase* next = tls_next) {
    tls_next = nullptr;
    next->Work();
  }
  tls_executor = outer;
  tls_next = outer_next;
}

bool TryRunNext(StageBase* stage) {
  if (tls_executor == nullptr || tls_next != nullptr || stage->executor() != tls_executor) {
    return false;
  }
  tls_next = stage;
  return true;
}

void PostHeldTask() {
  if (StageBase* held = tls_next) {
    tls_next = nullptr;
    held->executor()->Post(held);
  }
}

namespace {

class ArenaExecutor final : public Executor {
 public:
  // No slot is reserved for a master thread: only TBB workers run a stage's tasks.
  explicit ArenaExecutor(int concurrency) : arena_(concurrency, /*reserved_for_masters=*/0) {}
  void Post(StageBase* stage) override {
    arena_.enqueue([this, stage] { RunTask(this, stage); });
  }

 private:
  tbb::task_arena arena_;
};

class AsioExecutor final : public Executor {
 public:
  explicit AsioExecutor(boost::asio::io_context& io) : io_(io) {}
  void Post(StageBase* stage) override {
    boost::asio::post(io_, [this, stage] { RunTask(this, stage); });
  }

 private:
  boost::asio::io_context& io_;
};

// One host thread with its own io_context: every stage placed on the device shares it, and its
// bodies see the device's context (on a GPU: the stream made here, current on this thread).
class DeviceThreadExecutor final : public Executor {
 public:
  DeviceThreadExecutor(Device device, const std::function<void(Device)>& init,
                       std::function<void(std::exception_ptr)> on_error)
      : guard_(boost::asio::make_work_guard(io_)) {
    thread_ = std::thread([this, device, init, on_error] {
      try {
        if (device.is_cuda()) stream_ = MakeCudaStream(device.index);
        context_.emplace(device, stream_.get());
        SetCurrentDeviceContext(&*context_);
        if (init) init(device);
      } catch (...) {
        on_error(std::current_exception());
      }
      io_.run();
      SetCurrentDeviceContext(nullptr);
    });
  }
  ~DeviceThreadExecutor() override {
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void Post(StageBase* stage) override {
    boost::asio::post(io_, [this, stage] { RunTask(this, stage); });
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::shared_ptr<void> stream_;  // Gpu(d) only
  std::optional<DeviceContext> context_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Executor> MakeArenaExecutor(int concurrency) {
  return std::make_unique<ArenaExecutor>(concurrency);
}

std::unique_ptr<Executor> MakeAsioExecutor(boost::asio::io_context& io) {
  return std::make_unique<AsioExecutor>(io);
}

std::unique_ptr<Executor> MakeDeviceThreadExecutor(
    Device device, const std::function<void(Device)>& init,
    std::function<void(std::exception_ptr)> on_error) {
  return std::make_unique<DeviceThreadExecutor>(device, init, std::move(on_error));
}

}  // namespace millrace::internal

#if defined(__SANITIZE_THREAD__)
// libtbb is not built with ThreadSanitizer: its task objects (constructed by enqueue on one
// thread, run and destroyed on another, their memory reused by its allocators) look like races.
// These patterns match only the frames of that constructor and destructor, and accesses made
// inside libtbb itself; the bodies of tasks run under frames named "execute" and stay checked.
extern "C" const char* __tsan_default_suppressions() {
  return "race:^enqueue_task$\n"
         "race:^finalize$\n"
         "called_from_lib:libtbb.so\n";
}
// A longer history, so that the constructor's stack is found and its suppression applies.
extern "C" const char* __tsan_default_options() { return "history_size=7"; }
#endif
