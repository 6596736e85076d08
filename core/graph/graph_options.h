// How a Graph runs (threads, tracing, sampling) and how a Group stage ends.
#pragma once

#include <cstddef>
#include <functional>

#include "core/device.h"

namespace millrace {

struct GraphOptions {
  int io_threads = 2;  // threads running the io_context (Io() bodies and io/ completions)
  // Threads of the oneTBB arena that runs the Cpu() stages: the sum of their concurrencies, at
  // most this many. 0: the cores this process may use (AvailableCores()), so that CPU-bound
  // bodies don't oversubscribe the machine. Raise it on purpose for bodies that block.
  int cpu_threads = 0;
  // Runs first on each dedicated device thread (Compute(): Device::Cpu(); Gpu(d):
  // Device::Cuda(d)): e.g. set the oneDNN / OpenMP thread budget there. An exception fails Run().
  std::function<void(Device)> device_thread_init;
  bool trace = true;                       // record spans for WriteTrace()
  size_t trace_spans_per_stage = 1 << 14;  // the newest spans are kept (a ring buffer)
  int sample_period_ms = 5;                // channel occupancy sampling while running
};

struct GroupOptions {
  bool keep_partial = true;  // hand on the last, smaller group at the end of the data
};

}  // namespace millrace
