// Internal: makes the executors that run stage tasks. Each Post(stage) runs stage->Work() once,
// later, on the executor's threads; Post never runs it inline.
#pragma once

#include <exception>
#include <functional>
#include <memory>

#include "core/device.h"
#include "core/graph/detail/runtime.h"

namespace millrace::internal {

// A tbb::task_arena of `concurrency` slots.
std::unique_ptr<Executor> MakeArenaExecutor(int concurrency);
// Posts to `io` (run by the graph's io threads).
std::unique_ptr<Executor> MakeAsioExecutor(boost::asio::io_context& io);
// A dedicated thread that first calls init(device) (errors go to on_error), then runs the
// posted tasks in order. Destroying it joins the thread.
std::unique_ptr<Executor> MakeDeviceThreadExecutor(
    Device device, const std::function<void(Device)>& init,
    std::function<void(std::exception_ptr)> on_error);

}  // namespace millrace::internal
