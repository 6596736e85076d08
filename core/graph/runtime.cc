#include "core/graph/detail/runtime.h"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/graph/detail/executors.h"
#include "core/threads.h"

namespace millrace::internal {

namespace {

Error Wrap(const std::string& stage, std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& error) {
    return error.stage().empty() ? error.WithStage(stage) : error;
  } catch (const std::exception& error) {
    return Error(ErrorKind::kInternal, error.what()).WithStage(stage);
  } catch (...) {
    return Error(ErrorKind::kInternal, "an exception that is not a std::exception")
        .WithStage(stage);
  }
}

}  // namespace

Runtime::Runtime(GraphOptions options) : options_(std::move(options)) {}

Runtime::~Runtime() {
  // Run() has returned (or never ran): no task is in flight. Stop what is still started.
  StopExecutors();
}

StageBase* Runtime::AddStage(std::unique_ptr<StageBase> stage) {
  std::lock_guard<std::mutex> lock(mu_);
  MILLRACE_CHECK_ARG(!ran_, "stage '" << stage->name() << "': the graph has already run");
  stages_.push_back(std::move(stage));
  return stages_.back().get();
}

void Runtime::AddChannel(std::unique_ptr<ChannelBase> channel) {
  std::lock_guard<std::mutex> lock(mu_);
  MILLRACE_CHECK_ARG(!ran_, "Connect: the graph has already run");
  MILLRACE_CHECK_ARG(channel->producer() != nullptr && channel->consumer() != nullptr,
                     "Connect: a stage handle is empty (default-constructed)");
  channel->producer()->AttachOutput(channel.get());
  channel->consumer()->AttachInput(channel.get());
  channels_.push_back(std::move(channel));
}

StageBase* Runtime::Find(std::string_view name) const {
  for (const auto& s : stages_) {
    if (s->name() == name) return s.get();
  }
  return nullptr;
}

void Runtime::Validate() const {
  std::set<std::string_view> names;
  for (const auto& s : stages_) {
    MILLRACE_CHECK_ARG(!s->name().empty(), "a stage has an empty name");
    MILLRACE_CHECK_ARG(names.insert(s->name()).second,
                       "two stages are named '" << s->name() << "'; names must be unique");
  }
  MILLRACE_CHECK_ARG(!stages_.empty(), "the graph has no stages");
  for (const auto& c : channels_) {
    MILLRACE_CHECK_ARG(c->capacity() >= 1, "the channel from '"
                                               << c->producer()->name() << "' to '"
                                               << c->consumer()->name() << "' has capacity "
                                               << c->capacity() << "; it must be >= 1");
  }
  for (const auto& s : stages_) {
    const std::string& name = s->name();
    for (int port = 0; port < s->num_input_ports(); ++port) {
      std::vector<const ChannelBase*> at;
      for (const auto* c : s->inputs()) {
        if (c->port() == port) at.push_back(c);
      }
      const char* which = s->num_input_ports() == 2 ? (port == 0 ? " left()" : " right()") : "";
      MILLRACE_CHECK_ARG(
          !at.empty(), "stage '" << name << "' has nothing connected to its" << which << " input");
      MILLRACE_CHECK_ARG(at.size() == 1, "stage '"
                                             << name << "' has two producers on its" << which
                                             << " input ('" << at[0]->producer()->name()
                                             << "' and '" << at[1]->producer()->name()
                                             << "'); a stage takes one (pair them with Join)");
    }
    if (s->has_output()) {
      MILLRACE_CHECK_ARG(!s->outputs().empty(), "stage '" << name
                                                          << "' has its output unconnected "
                                                             "(end each branch with a Sink)");
      MILLRACE_CHECK_ARG(s->outputs().size() == 1 || s->shape() == StageShape::kFanOut,
                         "stage '" << name << "' feeds " << s->outputs().size() << " consumers ('"
                                   << s->outputs()[0]->consumer()->name() << "', '"
                                   << s->outputs()[1]->consumer()->name()
                                   << "'); only a FanOut delivers to several");
    }
    if (s->placement().kind == Placement::Kind::kGpu) {
      const int devices = CudaDeviceCount();
      MILLRACE_CHECK_ARG(
          s->placement().device < devices,
          "stage '" << name << "' is placed on " << s->placement().ToString() << ", but "
                    << (devices == 0 ? CudaUnavailableReason()
                                     : std::to_string(devices) + " CUDA device(s) answer"));
    }
  }
  // Cycles: depth-first over consumers, with the path kept to name it.
  std::map<const StageBase*, int> state;  // 0 new, 1 on the path, 2 done
  std::vector<const StageBase*> path;
  std::function<void(const StageBase*)> visit = [&](const StageBase* s) {
    state[s] = 1;
    path.push_back(s);
    for (const auto* c : s->outputs()) {
      const StageBase* next = c->consumer();
      if (state[next] == 1) {
        std::ostringstream cycle;
        auto it = std::find(path.begin(), path.end(), next);
        for (; it != path.end(); ++it) cycle << "'" << (*it)->name() << "' -> ";
        cycle << "'" << next->name() << "'";
        MILLRACE_THROW(ErrorKind::kInvalidArgument, "the graph has a cycle: " << cycle.str());
      }
      if (state[next] == 0) visit(next);
    }
    path.pop_back();
    state[s] = 2;
  };
  for (const auto& s : stages_) {
    if (state[s.get()] == 0) visit(s.get());
  }
}

void Runtime::Run() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    MILLRACE_CHECK_ARG(!ran_, "a graph runs once; build a new Graph to run again");
    ran_ = true;
  }
  Validate();
  StartExecutors();
  const int64_t start = NowNs();
  start_ns_.store(start);
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = true;
    unfinished_ = stages_.size();
  }
  for (auto& s : stages_) {
    s->set_span_capacity(options_.trace ? options_.trace_spans_per_stage : 0);
    s->Start(start);
  }
  for (auto& s : stages_) {
    if (s->shape() == StageShape::kSource) s->Schedule();
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    const auto period = std::chrono::milliseconds(std::max(1, options_.sample_period_ms));
    while (unfinished_ > 0 && !cancelled_.load()) {
      cv_.wait_for(lock, period);
      for (auto& c : channels_) c->Sample();
    }
    cv_.wait(lock, [&] { return in_flight_ == 0; });
    running_ = false;
    returned_ = true;
    end_ns_.store(NowNs());
  }
  StopExecutors();
  std::lock_guard<std::mutex> lock(mu_);
  if (error_) throw *error_;
}

void Runtime::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  if (returned_) return;
  if (!error_) error_ = Error(ErrorKind::kCancelled, "the graph was cancelled");
  cancelled_.store(true);
  cv_.notify_all();
}

void Runtime::Fail(const std::string& stage, std::exception_ptr error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_) error_ = Wrap(stage, error);
  cancelled_.store(true);
  cv_.notify_all();
}

void Runtime::SetConcurrency(std::string_view name, int n) {
  std::lock_guard<std::mutex> lock(mu_);
  StageBase* s = Find(name);
  MILLRACE_CHECK_ARG(s != nullptr, "SetConcurrency: no stage is named '" << name << "'");
  MILLRACE_CHECK_ARG(n >= 1, "SetConcurrency('" << name << "', " << n << "): must be >= 1");
  const int before = s->concurrency();
  s->SetConcurrency(n);
  if (running_ && s->placement().kind == Placement::Kind::kCpu && s->concurrency() > before) {
    EnsureCpuArena();  // a wider arena when needed; the old one drains
    EnsureParallelism();
    s->Schedule();
  }
}

void Runtime::Launch(StageBase* stage) {
  in_flight_.fetch_add(1);  // the caller is a task in flight, or holds mu_ while running_
  if (!TryRunNext(stage)) stage->executor()->Post(stage);
}

void Runtime::TaskDone() {
  // Only the step to zero takes the lock, so that Run() can't return (and the graph go) while
  // a task still touches it.
  int64_t n = in_flight_.load();
  while (n > 1) {
    if (in_flight_.compare_exchange_weak(n, n - 1)) return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (in_flight_.fetch_sub(1) == 1) cv_.notify_all();
}

void Runtime::StageFinished() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--unfinished_ == 0) cv_.notify_all();
}

int Runtime::CpuThreads() const {
  const int budget = options_.cpu_threads > 0 ? options_.cpu_threads : AvailableCores();
  return std::clamp(CpuSlots(), 1, std::max(1, budget));
}

int Runtime::CpuSlots() const {
  int slots = 0;
  for (const auto& s : stages_) {
    if (s->placement().kind == Placement::Kind::kCpu) slots += s->concurrency();
  }
  return slots;
}

#if defined(__SANITIZE_THREAD__)
// libtbb is not built with ThreadSanitizer, and its task objects (made on one thread, run and
// recycled on others) raise reports it can't attribute. A ThreadSanitizer build runs the cpu
// stages on the (instrumented) Asio io_context instead, with a thread per cpu slot added.
constexpr bool kCpuStagesOnAsio = true;
#else
constexpr bool kCpuStagesOnAsio = false;
#endif

void Runtime::EnsureCpuArena() {
  if (kCpuStagesOnAsio) {
    for (auto& s : stages_) {
      if (s->placement().kind == Placement::Kind::kCpu) s->set_executor(io_executor_);
    }
    return;
  }
  const int slots = CpuThreads();
  if (slots <= cpu_arena_slots_) return;
  executors_.push_back(MakeArenaExecutor(slots));
  cpu_executor_ = executors_.back().get();
  cpu_arena_slots_ = slots;
  for (auto& s : stages_) {
    if (s->placement().kind == Placement::Kind::kCpu) s->set_executor(cpu_executor_);
  }
}

void Runtime::EnsureParallelism() {
  // oneTBB starts (limit - 1) workers; every arena thread needs one, whatever the cores.
  const int wanted = std::max(AvailableCores(), CpuThreads() + 1);
  if (wanted <= parallelism_value_) return;
  parallelism_.reset();
  parallelism_.emplace(tbb::global_control::max_allowed_parallelism, wanted);
  parallelism_value_ = wanted;
}

void Runtime::StartExecutors() {
  std::lock_guard<std::mutex> lock(mu_);
  executors_.push_back(MakeAsioExecutor(io_));
  io_executor_ = executors_.back().get();
  // One thread and one OrderedDevice per device that stages are placed on.
  auto key_of = [](const StageBase* s) {
    const Device device = s->placement().device_of_thread();
    return std::make_pair(static_cast<int>(device.kind), device.index);
  };
  std::map<std::pair<int, int>, std::pair<Executor*, OrderedDevice*>> devices;
  for (auto& s : stages_) {
    const Placement& p = s->placement();
    switch (p.kind) {
      case Placement::Kind::kIo: s->set_executor(io_executor_); break;
      case Placement::Kind::kCpu: break;  // EnsureCpuArena() below
      case Placement::Kind::kCompute:
      case Placement::Kind::kGpu: {
        const Device device = p.device_of_thread();
        auto& [executor, ordered] = devices[key_of(s.get())];
        if (executor == nullptr) {
          const std::string thread = device.is_cpu() ? "compute thread" : p.ToString() + " thread";
          executors_.push_back(
              MakeDeviceThreadExecutor(device, options_.device_thread_init,
                                       [this, thread](std::exception_ptr e) { Fail(thread, e); }));
          executor = executors_.back().get();
          devices_.push_back(std::make_unique<OrderedDevice>());
          ordered = devices_.back().get();
        }
        s->set_executor(executor);
        break;
      }
    }
  }
  // The channels inside each device, and its entries: stages whose inputs all come from
  // outside it (a join with one input inside is not an entry: it must take that item).
  auto on_device = [&](const StageBase* s) {
    return s->placement().has_dedicated_thread() ? devices[key_of(s)].second : nullptr;
  };
  for (auto& s : stages_) {
    OrderedDevice* device = on_device(s.get());
    if (device == nullptr) continue;
    bool entry = true;
    for (ChannelBase* c : s->inputs()) {
      if (on_device(c->producer()) == device) {
        entry = false;
        device->inside.push_back(c);
      }
    }
    if (entry) device->entries.push_back(s.get());
    s->set_ordered_device(device, entry);
  }
  EnsureCpuArena();
  EnsureParallelism();
  io_guard_.emplace(boost::asio::make_work_guard(io_));
  const int io_threads = std::max(1, options_.io_threads) + (kCpuStagesOnAsio ? CpuThreads() : 0);
  for (int i = 0; i < io_threads; ++i) {
    io_threads_.emplace_back([this] { io_.run(); });
  }
}

void Runtime::StopExecutors() {
  io_guard_.reset();
  io_.stop();
  for (auto& t : io_threads_) t.join();
  io_threads_.clear();
  executors_.clear();  // joins the device threads; arenas go once their last task returned
  parallelism_.reset();
  parallelism_value_ = 0;
  cpu_executor_ = nullptr;
  cpu_arena_slots_ = 0;
}

}  // namespace millrace::internal
