// The three kinds of executor a stage can have: a oneTBB arena (Cpu), the Asio io_context
// (Io), and one dedicated thread per compute device (Compute, Gpu).
#include "core/graph/executors.h"

#include <tbb/task_arena.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

namespace millrace::internal {

namespace {

class ArenaExecutor final : public Executor {
 public:
  // No slot is reserved for a master thread: only TBB workers run a stage's tasks.
  explicit ArenaExecutor(int concurrency) : arena_(concurrency, /*reserved_for_masters=*/0) {}
  void Post(StageBase* stage) override {
    arena_.enqueue([stage] { stage->Work(); });
  }

 private:
  tbb::task_arena arena_;
};

class AsioExecutor final : public Executor {
 public:
  explicit AsioExecutor(boost::asio::io_context& io) : io_(io) {}
  void Post(StageBase* stage) override {
    boost::asio::post(io_, [stage] { stage->Work(); });
  }

 private:
  boost::asio::io_context& io_;
};

// One host thread with its own io_context: every stage placed on the device shares it.
class DeviceThreadExecutor final : public Executor {
 public:
  DeviceThreadExecutor(Device device, const std::function<void(Device)>& init,
                       std::function<void(std::exception_ptr)> on_error)
      : guard_(boost::asio::make_work_guard(io_)) {
    thread_ = std::thread([this, device, init, on_error] {
      if (init) {
        try {
          init(device);
        } catch (...) {
          on_error(std::current_exception());
        }
      }
      io_.run();
    });
  }
  ~DeviceThreadExecutor() override {
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void Post(StageBase* stage) override {
    boost::asio::post(io_, [stage] { stage->Work(); });
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
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
