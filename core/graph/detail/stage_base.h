// Internal: the type-erased parts of stages and channels, and how a stage gets scheduled.
//
// Scheduling, in short. A stage runs when it has input and room on every output. Schedule()
// then raises the stage's active count (at most its concurrency) and posts one task to the
// stage's executor (a oneTBB arena, the Asio io_context or a device thread). A task takes a
// run of items (reserving room downstream first, so a channel never holds more than its
// capacity), calls the body on each, and hands the outputs on in one chunk. When a stage has
// nothing to do no task exists for it: a blocked stage burns no CPU. Every change that can
// make a stage runnable (an item pushed, room freed, a channel closed, a new concurrency)
// calls Schedule() on that stage after the change, and a task re-checks after lowering the
// active count, so no wake-up is lost. Two things keep wake-ups (a futex call and a thread
// switch each) rare when bodies are slow: a run of slow bodies lasts about 10 us, so outputs
// flow on in small groups, unless the stage's input is backed up (half full or more: the
// others wait for this stage), when it may last ~320 us and pay for fewer hand-offs; and a
// producer blocked on a full channel is woken when half of the channel is free (or when the
// consumer's task ends), not for every item taken.
#pragma once

#include <tbb/spin_mutex.h>

#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "core/graph/placement.h"

namespace millrace {
namespace internal {

class Runtime;
class StageBase;
class Executor;
class ChannelBase;

// The stages placed on one device (Compute() or Gpu(d)) and the channels between them: the
// device holds one item at a time. A stage whose inputs all come from outside the device (an
// entry; a source placed there is one too) takes its next item only when no item is inside:
// every channel between the device's stages empty, nothing reserved in it. Only the device's
// one thread takes from or pushes to those channels, so there the check is exact; so item k
// passes every stage of the device before item k+1 enters it.
struct OrderedDevice {
  std::vector<ChannelBase*> inside;
  std::vector<StageBase*> entries;
  bool Quiet() const;
};

int64_t NowNs();  // steady clock

// A task held back to run next on this thread (see RunTask) is posted to its executor instead:
// stages call this before they run bodies, so no woken stage waits behind a long body.
void PostHeldTask();

// A bounded edge between two stages. Room is counted by reservations: a producer reserves
// before it takes input, so reserved() counts the items in the channel plus those being made
// for it. A flat-map may exceed the capacity by the outputs of one input.
class ChannelBase {
 public:
  ChannelBase(StageBase* producer, StageBase* consumer, int port, int64_t capacity);
  virtual ~ChannelBase() = default;
  ChannelBase(const ChannelBase&) = delete;
  ChannelBase& operator=(const ChannelBase&) = delete;

  StageBase* producer() const { return producer_; }
  StageBase* consumer() const { return consumer_; }
  int port() const { return port_; }
  int64_t capacity() const { return capacity_; }
  int64_t size() const { return size_.load(); }
  int64_t reserved() const { return reserved_.load(); }
  bool HasItems() const { return size_.load() > 0; }
  bool HasRoom() const { return reserved_.load() < capacity_; }
  // Reserves up to `want` slots; returns how many it got (0 when full).
  int64_t TryReserve(int64_t want);
  void AdjustReserved(int64_t delta) {
    if (delta != 0) reserved_.fetch_add(delta);
  }
  bool closed() const { return closed_.load(); }
  bool Exhausted() const { return closed_.load() && size_.load() <= 0; }
  // The producer is done: no more pushes. Wakes the consumer.
  void Close();

  // Occupancy statistics.
  void Sample();
  double MeanOccupancy() const;
  int64_t MaxOccupancy() const { return max_size_.load(std::memory_order_relaxed); }
  uint64_t items() const { return items_.load(std::memory_order_relaxed); }

 protected:
  void NotePushed(int64_t n);  // after items entered the queue: counts, wakes the consumer
  void NoteTaken(int64_t n);   // after the consumer took items: frees room, wakes the producer

 private:
  StageBase* producer_;
  StageBase* consumer_;
  int port_;
  int64_t capacity_;
  int64_t wake_room_;  // NoteTaken wakes the producer once this much room is free
  std::atomic<int64_t> size_{0};
  std::atomic<int64_t> reserved_{0};
  std::atomic<bool> closed_{false};
  std::atomic<int64_t> max_size_{0};
  std::atomic<uint64_t> items_{0};
  std::atomic<int64_t> sample_sum_{0};
  std::atomic<int64_t> samples_{0};
};

enum class StageShape : unsigned char {
  kSource,
  kMap,
  kFilter,
  kFlatMap,
  kGroup,
  kSink,
  kFanOut,
  kJoin
};
const char* ToString(StageShape shape);

class StageBase {
 public:
  StageBase(Runtime* runtime, std::string name, Placement placement, StageShape shape);
  virtual ~StageBase();
  StageBase(const StageBase&) = delete;
  StageBase& operator=(const StageBase&) = delete;

  const std::string& name() const { return name_; }
  const Placement& placement() const { return placement_; }
  StageShape shape() const { return shape_; }
  int num_input_ports() const;  // 0 source, 2 join, else 1
  bool has_output() const { return shape_ != StageShape::kSink; }
  bool ordered() const { return ordered_.load(std::memory_order_relaxed); }
  void set_ordered(bool ordered) { ordered_.store(ordered); }
  int concurrency() const { return concurrency_.load(); }
  int max_concurrency() const { return max_concurrency_; }  // 1 for serial shapes
  void SetConcurrency(int n);  // clamps to max_concurrency(); schedules

  // Wiring (before Run): the graph hands every channel to both of its ends.
  virtual void AttachInput(ChannelBase* channel);
  virtual void AttachOutput(ChannelBase* channel);
  const std::vector<ChannelBase*>& inputs() const { return inputs_; }
  const std::vector<ChannelBase*>& outputs() const { return outputs_; }

  // A stage on Compute() or Gpu(d): its device, and whether it is one of the device's entries
  // (set by the runtime before Run; see OrderedDevice). Such a stage takes one item per task.
  void set_ordered_device(OrderedDevice* device, bool entry) {
    device_ = device;
    device_entry_ = entry;
  }
  void set_executor(Executor* executor) { executor_.store(executor); }
  Executor* executor() const { return executor_.load(); }
  void Start(int64_t now_ns);  // Run() begins: idle since now
  // Posts a task when the stage can make progress and a concurrency slot is free. Any thread.
  void Schedule();
  // The body of one task (runs on the executor's thread).
  void Work();

  // Statistics (any thread).
  uint64_t items_in() const { return items_in_.load(std::memory_order_relaxed); }
  uint64_t items_out() const { return items_out_.load(std::memory_order_relaxed); }
  uint64_t items_skipped() const { return items_skipped_.load(std::memory_order_relaxed); }
  int64_t busy_ns() const { return busy_ns_.load(std::memory_order_relaxed); }
  void IdleNs(int64_t now_ns, int64_t* starved, int64_t* blocked) const;
  bool finished() const { return finished_.load(); }
  int64_t finished_ns() const { return finished_ns_.load(); }

  // Trace spans: one per task that took items; the newest `capacity` are kept.
  struct Span {
    int64_t start_ns;
    int64_t dur_ns;
    uint64_t items;
    int thread;
  };
  void set_span_capacity(size_t capacity) { span_capacity_ = capacity; }
  std::vector<Span> Spans() const;  // oldest first

 protected:
  // Takes, processes and hands on one run of at most `limit` input items; returns how many it
  // took (0: nothing to do now). May throw: the graph is cancelled with this stage's name.
  virtual size_t DoRun(size_t limit) = 0;
  // At the end of the data, once: a batch hands on its partial batch, a join checks that
  // nothing is left unpaired. May throw.
  virtual void Flush() {}
  virtual bool HasInput() const;     // an item is waiting (sources: not at the end yet)
  virtual bool InputDone() const;    // every input closed and empty (sources: at the end)
  virtual size_t InputSize() const;  // items waiting, for sizing runs
  bool HasRoom() const;
  bool cancelled() const;
  void CountIn(size_t n) { items_in_.fetch_add(n, std::memory_order_relaxed); }
  void CountOut(size_t n) { items_out_.fetch_add(n, std::memory_order_relaxed); }
  void CountSkipped(size_t n) { items_skipped_.fetch_add(n, std::memory_order_relaxed); }
  Runtime* runtime() const { return runtime_; }

  std::vector<ChannelBase*> inputs_;
  std::vector<ChannelBase*> outputs_;
  int64_t input_capacity_ = 0;  // the inputs' capacities, summed
  int max_concurrency_ = 1 << 16;

 private:
  size_t RunLimit() const;
  void Exit(int64_t now_ns);
  void EndIdle(int64_t now_ns);
  // False while this entry of an ordered device waits for the item inside to leave.
  bool DeviceTurn() const { return !device_entry_ || device_->Quiet(); }

  // Why a stage went idle: its input was empty, its output full, or (an entry of an ordered
  // device) the device still held an item. The last is neither starved nor blocked.
  enum Idle : unsigned char { kStarved, kBlocked, kDeviceBusy };

  // Read by every thread that schedules the stage, rarely written.
  Runtime* runtime_;
  std::string name_;
  Placement placement_;
  StageShape shape_;
  std::atomic<bool> ordered_{true};
  std::atomic<int> concurrency_;
  std::atomic<bool> finished_{false};
  std::atomic<Executor*> executor_{nullptr};
  OrderedDevice* device_ = nullptr;
  bool device_entry_ = false;

  // Written as tasks start and end: a cache line of their own, so that the reads above don't
  // miss every time another core starts a task.
  alignas(64) std::atomic<int> active_{0};
  std::atomic<int64_t> idle_since_ns_{0};  // valid while active_ == 0
  std::atomic<Idle> idle_reason_{kStarved};  // why it went idle

  // Written by every run.
  alignas(64) std::atomic<uint64_t> items_in_{0};
  std::atomic<uint64_t> items_out_{0};
  std::atomic<uint64_t> items_skipped_{0};
  std::atomic<int64_t> busy_ns_{0};
  std::atomic<int64_t> starved_ns_{0};
  std::atomic<int64_t> blocked_ns_{0};
  std::atomic<int64_t> finished_ns_{0};

  mutable tbb::spin_mutex spans_mu_;
  std::vector<Span> spans_;
  size_t span_next_ = 0;
  size_t span_capacity_ = 0;
};

}  // namespace internal
}  // namespace millrace
