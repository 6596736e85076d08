// Internal: the typed stages behind Graph's Source/Map/Filter/FlatMap/Group/Sink/FanOut/Join.
// A stage's body is kept as its own callable type (no std::function per item).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/graph/detail/channel.h"
#include "core/graph/device_context.h"
#include "core/graph/detail/stage_base.h"

namespace millrace {

// What a flat-map body calls to hand on each of its outputs: emit(std::move(value)).
template <class T>
class Emit {
 public:
  explicit Emit(std::vector<Item<T>>* out) : out_(out) {}
  void operator()(T value) { out_->push_back(Item<T>{std::move(value), 0, nullptr}); }

 private:
  std::vector<Item<T>>* out_;
};

namespace internal {

struct NoOutput {};  // the output type of a sink

template <class T, class Gen>
class SourceStage final : public StageBase {
 public:
  SourceStage(Runtime* rt, std::string name, Placement p, Gen gen)
      : StageBase(rt, std::move(name), p, StageShape::kSource), gen_(std::move(gen)) {
    max_concurrency_ = 1;  // a generator is called by one thread at a time
  }
  void AttachOutput(ChannelBase* c) override {
    StageBase::AttachOutput(c);
    out_.Attach(c);
  }

 protected:
  bool HasInput() const override { return !done_.load(); }
  bool InputDone() const override { return done_.load(); }
  size_t InputSize() const override { return 1 << 20; }

  size_t DoRun(size_t limit) override {
    if (done_.load()) return 0;
    const int64_t reserved = out_.Reserve(static_cast<int64_t>(limit));
    if (reserved == 0) return 0;
    PostHeldTask();
    std::vector<Item<T>> items;
    items.reserve(reserved);
    while (static_cast<int64_t>(items.size()) < reserved && !cancelled()) {
      std::optional<T> value = gen_();
      if (!value) {
        done_.store(true);
        break;
      }
      items.push_back(Item<T>{std::move(*value), next_seq_++, nullptr});
      DeviceContext& context = CurrentDeviceContext();
      if (context.TakeInFlight()) items.back().ready = context.Record();
    }
    const size_t made = items.size();
    CountOut(made);
    out_.Settle(reserved, static_cast<int64_t>(made));
    out_.PublishNow(std::move(items));
    return made;
  }

 private:
  Gen gen_;
  Outputs<T> out_;
  uint64_t next_seq_ = 0;
  std::atomic<bool> done_{false};
};

// Map, filter, flat-map, batch, sink and fan-out: one input, a body that appends the outputs
// of one item (Body::operator()(Item<In>&&, std::vector<Item<Out>>&)), and an optional
// Body::Flush(std::vector<Item<Out>>&) at the end of the data.
template <class In, class Out, class Body>
class TransformStage final : public StageBase {
 public:
  TransformStage(Runtime* rt, std::string name, Placement p, StageShape shape, Body body,
                 bool serial = false)
      : StageBase(rt, std::move(name), p, shape), body_(std::move(body)) {
    if (serial) max_concurrency_ = 1;
    out_.set_renumber(shape == StageShape::kFlatMap || shape == StageShape::kGroup);
  }
  void AttachInput(ChannelBase* c) override {
    StageBase::AttachInput(c);
    input_ = static_cast<Channel<In>*>(c);
  }
  void AttachOutput(ChannelBase* c) override {
    StageBase::AttachOutput(c);
    out_.Attach(c);
  }
  Outputs<Out>& outputs() { return out_; }

 protected:
  size_t DoRun(size_t limit) override {
    constexpr bool kSink = std::is_same_v<Out, NoOutput>;
    const int64_t reserved =
        kSink ? static_cast<int64_t>(limit) : out_.Reserve(static_cast<int64_t>(limit));
    if (reserved == 0) return 0;
    std::vector<Item<In>> in;
    uint64_t first = 0;
    size_t n = 0;
    {
      std::lock_guard<std::mutex> lock(take_mu_);
      n = input_->Take(in, static_cast<size_t>(reserved));
      first = next_ticket_;
      next_ticket_ += n;
    }
    if (n == 0) {
      if constexpr (!kSink) out_.Settle(reserved, 0);
      return 0;
    }
    CountIn(n);
    PostHeldTask();
    std::vector<Item<Out>> out;
    if constexpr (!kSink) out.reserve(n);
    DeviceContext& context = CurrentDeviceContext();
    for (auto& item : in) {
      if (cancelled()) return n;
      if (item.ready) {  // device work that makes the value is in flight
        context.WaitFor(*item.ready);
        item.ready.reset();
      }
      const size_t before = out.size();
      body_(std::move(item), out);
      if (context.TakeInFlight()) {
        std::shared_ptr<const DeviceEvent> ready = context.Record();
        for (size_t i = before; i < out.size(); ++i) out[i].ready = ready;
      }
    }
    if constexpr (requires { Body::kCountsSkipped; }) CountSkipped(n - out.size());
    if constexpr (!kSink) {
      CountOut(out.size());
      out_.Settle(reserved, static_cast<int64_t>(out.size()));
      out_.Publish(ordered(), first, n, std::move(out));
    }
    return n;
  }

  void Flush() override {
    if constexpr (requires(Body & b, std::vector<Item<Out>> & v) { b.Flush(v); }) {
      std::vector<Item<Out>> out;
      body_.Flush(out);
      CountOut(out.size());
      out_.Settle(0, static_cast<int64_t>(out.size()));
      out_.PublishNow(std::move(out));
    }
  }

 private:
  Body body_;
  Channel<In>* input_ = nullptr;
  Outputs<Out> out_;
  std::mutex take_mu_;
  uint64_t next_ticket_ = 0;
};

// Bodies may take the stage's DeviceContext as their last argument (device_context.h).
template <class In, class Out, class F>
struct MapBody {
  F fn;
  void operator()(Item<In>&& item, std::vector<Item<Out>>& out) {
    if constexpr (std::is_invocable_v<F&, In&&, DeviceContext&>) {
      out.push_back(
          Item<Out>{fn(std::move(item.value), CurrentDeviceContext()), item.seq, nullptr});
    } else {
      out.push_back(Item<Out>{fn(std::move(item.value)), item.seq, nullptr});
    }
  }
};

// A map whose body may pass an item over: fn returns std::optional<Out>; nullopt is counted
// as skipped (StageStats::items_skipped).
template <class In, class Out, class F>
struct MapOrSkipBody {
  static constexpr bool kCountsSkipped = true;
  F fn;
  void operator()(Item<In>&& item, std::vector<Item<Out>>& out) {
    std::optional<Out> value;
    if constexpr (std::is_invocable_v<F&, In&&, DeviceContext&>) {
      value = fn(std::move(item.value), CurrentDeviceContext());
    } else {
      value = fn(std::move(item.value));
    }
    if (value) out.push_back(Item<Out>{std::move(*value), item.seq, nullptr});
  }
};

template <class T, class F>
struct FilterBody {
  F pred;
  void operator()(Item<T>&& item, std::vector<Item<T>>& out) {
    if (pred(std::as_const(item.value))) out.push_back(std::move(item));
  }
};

// A flat-map with a function called once at the end of the data, which may emit what the
// body held back (items grouped by a key of their own).
template <class In, class Out, class F, class G>
struct FlatMapFlushBody {
  F fn;
  G flush;
  void operator()(Item<In>&& item, std::vector<Item<Out>>& out) {
    Emit<Out> emit(&out);
    fn(std::move(item.value), emit);
  }
  void Flush(std::vector<Item<Out>>& out) {
    Emit<Out> emit(&out);
    flush(emit);
  }
};

template <class In, class Out, class F>
struct FlatMapBody {
  F fn;
  void operator()(Item<In>&& item, std::vector<Item<Out>>& out) {
    Emit<Out> emit(&out);
    if constexpr (std::is_invocable_v<F&, In&&, Emit<Out>&, DeviceContext&>) {
      fn(std::move(item.value), emit, CurrentDeviceContext());
    } else {
      fn(std::move(item.value), emit);
    }
  }
};

template <class T>
struct GroupBody {
  size_t size;
  bool keep_partial;
  std::vector<T> pending;
  void operator()(Item<T>&& item, std::vector<Item<std::vector<T>>>& out) {
    if (pending.empty()) pending.reserve(size);
    pending.push_back(std::move(item.value));
    if (pending.size() == size) {
      out.push_back(Item<std::vector<T>>{std::move(pending), 0, nullptr});
      pending.clear();  // moved-from: valid, now empty (no = {}: T may be move-only)
    }
  }
  void Flush(std::vector<Item<std::vector<T>>>& out) {
    if (keep_partial && !pending.empty())
      out.push_back(Item<std::vector<T>>{std::move(pending), 0, nullptr});
    pending.clear();
  }
};

template <class T, class F>
struct SinkBody {
  F fn;
  void operator()(Item<T>&& item, std::vector<Item<NoOutput>>&) {
    if constexpr (std::is_invocable_v<F&, T&&, DeviceContext&>) {
      fn(std::move(item.value), CurrentDeviceContext());
    } else {
      fn(std::move(item.value));
    }
  }
};

template <class T>
struct PassBody {
  void operator()(Item<T>&& item, std::vector<Item<T>>& out) { out.push_back(std::move(item)); }
};

// Pairs the items of two inputs that carry the same sequence number, in the order the pairs
// complete. Serial (one invocation at a time); unpaired items wait in a map.
template <class A, class B, class Out, class F>
class JoinStage final : public StageBase {
 public:
  JoinStage(Runtime* rt, std::string name, Placement p, F fn)
      : StageBase(rt, std::move(name), p, StageShape::kJoin), fn_(std::move(fn)) {
    max_concurrency_ = 1;
  }
  void AttachInput(ChannelBase* c) override {
    StageBase::AttachInput(c);
    if (c->port() == 0) left_ = static_cast<Channel<A>*>(c);
    if (c->port() == 1) right_ = static_cast<Channel<B>*>(c);
  }
  void AttachOutput(ChannelBase* c) override {
    StageBase::AttachOutput(c);
    out_.Attach(c);
  }

 protected:
  size_t DoRun(size_t limit) override {
    const int64_t reserved = out_.Reserve(static_cast<int64_t>(limit));
    if (reserved == 0) return 0;
    std::vector<Item<A>> a;
    std::vector<Item<B>> b;
    left_->Take(a, static_cast<size_t>(reserved));
    right_->Take(b, static_cast<size_t>(reserved));
    const size_t n = a.size() + b.size();
    CountIn(n);
    PostHeldTask();
    WaitReady(a);
    WaitReady(b);
    std::vector<Item<Out>> out;
    for (auto& x : a) Pair<0>(std::move(x), pending_a_, pending_b_, out);
    for (auto& y : b) Pair<1>(std::move(y), pending_b_, pending_a_, out);
    CountOut(out.size());
    out_.Settle(reserved, static_cast<int64_t>(out.size()));
    out_.PublishNow(std::move(out));
    return n;
  }

  void Flush() override {
    if (pending_a_.empty() && pending_b_.empty()) return;
    const bool left = !pending_a_.empty();
    const uint64_t seq = left ? pending_a_.begin()->first : pending_b_.begin()->first;
    const size_t count = left ? pending_a_.size() : pending_b_.size();
    MILLRACE_THROW(ErrorKind::kData,
                   count << " item(s) from '"
                         << (left ? static_cast<ChannelBase*>(left_) : right_)->producer()->name()
                         << "' have no partner with the same sequence number"
                         << " (e.g. seq " << seq << ")");
  }

 private:
  template <int kSide, class X, class Y>
  void Pair(Item<X>&& x, std::unordered_map<uint64_t, X>& mine,
            std::unordered_map<uint64_t, Y>& theirs, std::vector<Item<Out>>& out) {
    auto it = theirs.find(x.seq);
    if (it == theirs.end()) {
      if (!mine.emplace(x.seq, std::move(x.value)).second) {
        MILLRACE_THROW(
            ErrorKind::kData,
            "two items with sequence number "
                << x.seq << " from '"
                << (kSide == 0 ? static_cast<ChannelBase*>(left_) : right_)->producer()->name()
                << "'");
      }
      return;
    }
    if constexpr (kSide == 0) {
      out.push_back(Item<Out>{fn_(std::move(x.value), std::move(it->second)), x.seq, nullptr});
    } else {
      out.push_back(Item<Out>{fn_(std::move(it->second), std::move(x.value)), x.seq, nullptr});
    }
    theirs.erase(it);
  }

  // The pair's function reads both values: device work still in flight on either is awaited.
  template <class X>
  static void WaitReady(std::vector<Item<X>>& items) {
    for (auto& x : items) {
      if (!x.ready) continue;
      CurrentDeviceContext().WaitFor(*x.ready);
      x.ready.reset();
    }
  }

  F fn_;
  Channel<A>* left_ = nullptr;
  Channel<B>* right_ = nullptr;
  Outputs<Out> out_;
  std::unordered_map<uint64_t, A> pending_a_;
  std::unordered_map<uint64_t, B> pending_b_;
};

}  // namespace internal
}  // namespace millrace
