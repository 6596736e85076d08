#include "core/graph/detail/stage_base.h"

#include <algorithm>
#include <chrono>

#include "core/graph/detail/runtime.h"

namespace millrace::internal {

namespace {
constexpr size_t kMaxRun = 256;         // items taken by one run
constexpr int64_t kSplitItemNs = 1000;  // bodies slower than this share a run's items out
constexpr int kRunsPerTask = 16;        // then the task ends and a new one is posted (fairness)
constexpr int64_t kRunNs = 10000;       // a run of slower bodies lasts about this long
constexpr int64_t kBackedUpRunNs = 320000;  // ... or this long when its input is backed up

int ThreadIndex() {
  static std::atomic<int> next{1};
  thread_local const int index = next.fetch_add(1);
  return index;
}
}  // namespace

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- ChannelBase ----

ChannelBase::ChannelBase(StageBase* producer, StageBase* consumer, int port, int64_t capacity)
    : producer_(producer),
      consumer_(consumer),
      port_(port),
      capacity_(capacity),
      wake_room_(std::max<int64_t>(1, capacity / 2)) {}

int64_t ChannelBase::TryReserve(int64_t want) {
  int64_t r = reserved_.load();
  for (;;) {
    const int64_t k = std::min(want, capacity_ - r);
    if (k <= 0) return 0;
    if (reserved_.compare_exchange_weak(r, r + k)) return k;
  }
}

void ChannelBase::Close() {
  closed_.store(true);
  consumer_->Schedule();
}

void ChannelBase::NotePushed(int64_t n) {
  const int64_t size = size_.fetch_add(n) + n;
  items_.fetch_add(n, std::memory_order_relaxed);
  if (size > max_size_.load(std::memory_order_relaxed)) {
    max_size_.store(size, std::memory_order_relaxed);
  }
  consumer_->Schedule();
}

void ChannelBase::NoteTaken(int64_t n) {
  size_.fetch_sub(n);
  const int64_t reserved = reserved_.fetch_sub(n) - n;
  // A producer blocked on this channel is woken once half of it is free, so that it makes a
  // run of several items per wake-up rather than one per item taken. The consumer's task wakes
  // it in any case when it ends (StageBase::Exit), so no room stays unused for long.
  if (capacity_ - reserved >= wake_room_) producer_->Schedule();
}

void ChannelBase::Sample() {
  sample_sum_.fetch_add(std::max<int64_t>(0, size_.load()), std::memory_order_relaxed);
  samples_.fetch_add(1, std::memory_order_relaxed);
}

double ChannelBase::MeanOccupancy() const {
  const int64_t n = samples_.load(std::memory_order_relaxed);
  return n == 0 ? 0.0 : static_cast<double>(sample_sum_.load(std::memory_order_relaxed)) / n;
}

bool OrderedDevice::Quiet() const {
  for (const ChannelBase* c : inside) {
    if (c->reserved() > 0) return false;
  }
  return true;
}

// ---- StageBase ----

const char* ToString(StageShape shape) {
  switch (shape) {
    case StageShape::kSource: return "source";
    case StageShape::kMap: return "map";
    case StageShape::kFilter: return "filter";
    case StageShape::kFlatMap: return "flat-map";
    case StageShape::kGroup: return "group";
    case StageShape::kSink: return "sink";
    case StageShape::kFanOut: return "fan-out";
    case StageShape::kJoin: return "join";
  }
  return "?";
}

StageBase::StageBase(Runtime* runtime, std::string name, Placement placement, StageShape shape)
    : runtime_(runtime),
      name_(std::move(name)),
      placement_(placement),
      shape_(shape),
      concurrency_(placement.concurrency) {
  if (placement.has_dedicated_thread()) max_concurrency_ = 1;
}

StageBase::~StageBase() = default;

int StageBase::num_input_ports() const {
  switch (shape_) {
    case StageShape::kSource: return 0;
    case StageShape::kJoin: return 2;
    default: return 1;
  }
}

void StageBase::SetConcurrency(int n) {
  concurrency_.store(std::clamp(n, 1, max_concurrency_));
  Schedule();
}

void StageBase::AttachInput(ChannelBase* channel) {
  inputs_.push_back(channel);
  input_capacity_ += channel->capacity();
}
void StageBase::AttachOutput(ChannelBase* channel) { outputs_.push_back(channel); }

void StageBase::Start(int64_t now_ns) {
  concurrency_.store(std::clamp(concurrency_.load(), 1, max_concurrency_));
  idle_since_ns_.store(now_ns);
  idle_reason_.store(shape_ == StageShape::kSource       ? kBlocked
                     : device_ != nullptr && !device_entry_ ? kDeviceBusy
                                                            : kStarved);
}

bool StageBase::HasInput() const {
  for (const auto* c : inputs_) {
    if (c->HasItems()) return true;
  }
  return false;
}

bool StageBase::InputDone() const {
  for (const auto* c : inputs_) {
    if (!c->Exhausted()) return false;
  }
  return true;
}

size_t StageBase::InputSize() const {
  int64_t n = 0;
  for (const auto* c : inputs_) n += std::max<int64_t>(0, c->size());
  return static_cast<size_t>(n);
}

bool StageBase::HasRoom() const {
  for (const auto* c : outputs_) {
    if (!c->HasRoom()) return false;
  }
  return true;
}

bool StageBase::cancelled() const { return runtime_->cancelled(); }

void StageBase::Schedule() {
  for (;;) {
    if (finished_.load() || runtime_->cancelled()) return;
    int active = active_.load();
    if (active >= concurrency_.load()) return;
    const bool work =
        (HasInput() && HasRoom() && DeviceTurn()) || (active == 0 && InputDone());
    if (!work) return;
    if (active_.compare_exchange_weak(active, active + 1)) {
      if (active == 0) EndIdle(NowNs());
      runtime_->Launch(this);
      return;
    }
  }
}

size_t StageBase::RunLimit() const {
  // Fast bodies take all that waits (fewer hand-offs); slower ones share it out between the
  // concurrent invocations; and no run lasts much longer than kRunNs, so that the outputs flow
  // on while the consumer can still take them (a run's outputs are handed on together).
  const uint64_t items = items_in() > 0 ? items_in() : items_out();
  const int64_t per_item = items > 0 ? busy_ns() / static_cast<int64_t>(items) : 0;
  const size_t waiting = InputSize();
  size_t limit = std::clamp<size_t>(waiting, 1, kMaxRun);
  if (per_item >= kSplitItemNs) {
    limit = std::clamp<size_t>(waiting / static_cast<size_t>(std::max(1, concurrency_.load())),
                               1, limit);
    // A stage whose input is backed up (half full or more) is what the others wait for: it
    // may run longer, so that it pays for fewer hand-offs per item. (A source has no input
    // capacity: its runs stay short.)
    const bool backed_up =
        input_capacity_ > 0 && 2 * static_cast<int64_t>(waiting) >= input_capacity_;
    const int64_t run_ns = backed_up ? kBackedUpRunNs : kRunNs;
    limit = std::min(limit, static_cast<size_t>(std::max<int64_t>(1, run_ns / per_item)));
  }
  return limit;
}

void StageBase::Work() {
  // Pairs with the compare-exchange in Schedule() that launched this task: everything the
  // launching thread wrote is visible here. (oneTBB makes this edge inside its library, where
  // ThreadSanitizer can't see it.)
  (void)active_.load(std::memory_order_acquire);
  const int64_t start = NowNs();
  uint64_t items = 0;
  // A stage on an ordered device takes one item per task, so that the device's thread moves
  // each item on through the device's stages before an entry takes the next.
  const bool on_device = device_ != nullptr;
  try {
    for (int run = 0; run < (on_device ? 1 : kRunsPerTask); ++run) {
      if (runtime_->cancelled() || active_.load() > concurrency_.load()) break;
      if (!DeviceTurn()) break;
      const size_t n = DoRun(on_device ? 1 : RunLimit());
      if (n == 0) break;
      items += n;
      if (concurrency_.load() > 1) Schedule();  // a helper for what is left
    }
  } catch (...) {
    runtime_->Fail(name_, std::current_exception());
  }
  const int64_t end = NowNs();
  if (items > 0) {
    busy_ns_.fetch_add(end - start, std::memory_order_relaxed);
    if (span_capacity_ > 0) {
      std::lock_guard<tbb::spin_mutex> lock(spans_mu_);
      const Span span{start, end - start, items, ThreadIndex()};
      if (spans_.size() < span_capacity_) {
        spans_.push_back(span);
      } else {
        spans_[span_next_] = span;
      }
      span_next_ = (span_next_ + 1) % span_capacity_;
    }
  }
  Exit(end);
}

void StageBase::Exit(int64_t now_ns) {
  // Why the stage may go idle: recorded before the count drops, read by Stats().
  // A stage inside an ordered device waits for the device's other stages, not for data: only
  // the device's entries can be starved (and their producers blocked).
  const bool has_input = HasInput();
  idle_reason_.store((device_ != nullptr && !device_entry_) || (has_input && !DeviceTurn())
                         ? kDeviceBusy
                     : !has_input ? kStarved
                     : !HasRoom() ? kBlocked
                                  : kStarved);
  idle_since_ns_.store(now_ns);
  const int before = active_.fetch_sub(1);
  if (!runtime_->cancelled()) {
    if (before == 1 && InputDone() && !finished_.exchange(true)) {
      try {
        Flush();
      } catch (...) {
        runtime_->Fail(name_, std::current_exception());
      }
      finished_ns_.store(NowNs());
      for (auto* c : outputs_) c->Close();
      runtime_->StageFinished();
    } else {
      Schedule();
      for (auto* c : inputs_) c->producer()->Schedule();  // room below the wake mark
      // The item inside the device has left it: the device's entries may take the next.
      if (device_ != nullptr && device_->Quiet()) {
        for (StageBase* entry : device_->entries) {
          if (entry != this) entry->Schedule();
        }
      }
    }
  }
  runtime_->TaskDone();
}

void StageBase::EndIdle(int64_t now_ns) {
  const int64_t idle = now_ns - idle_since_ns_.load();
  if (idle <= 0) return;
  switch (idle_reason_.load()) {
    case kStarved: starved_ns_.fetch_add(idle, std::memory_order_relaxed); break;
    case kBlocked: blocked_ns_.fetch_add(idle, std::memory_order_relaxed); break;
    case kDeviceBusy: break;  // its device ran the stages after it: neither starved nor blocked
  }
}

void StageBase::IdleNs(int64_t now_ns, int64_t* starved, int64_t* blocked) const {
  *starved = starved_ns_.load(std::memory_order_relaxed);
  *blocked = blocked_ns_.load(std::memory_order_relaxed);
  if (active_.load() == 0) {
    const int64_t end = finished_.load() && finished_ns_.load() > 0 ? finished_ns_.load() : now_ns;
    const int64_t idle = end - idle_since_ns_.load();
    if (idle > 0 && idle_reason_.load() != kDeviceBusy) {
      *(idle_reason_.load() == kBlocked ? blocked : starved) += idle;
    }
  }
}

std::vector<StageBase::Span> StageBase::Spans() const {
  std::lock_guard<tbb::spin_mutex> lock(spans_mu_);
  if (spans_.size() < span_capacity_) return spans_;
  std::vector<Span> out(spans_.begin() + span_next_, spans_.end());
  out.insert(out.end(), spans_.begin(), spans_.begin() + span_next_);
  return out;
}

}  // namespace millrace::internal
