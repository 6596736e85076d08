// millrace::Graph: a training job as a dataflow graph of stages joined by bounded channels.
//
//   Graph g;
//   auto read  = g.Source<Sample>("read", Io(), ReadNext);           // std::optional<Sample>()
//   auto aug   = g.Map<Sample>("augment", Cpu(2), Augment);          // Sample -> Example
//   auto batch = g.Group<Example>("collate", Cpu(1), 128);           // -> std::vector<Example>
//   auto train = g.Sink<std::vector<Example>>("train", Compute(), Step);
//   g.Connect(read, aug, 64).Connect(aug, batch, 256).Connect(batch, train, 4);
//   g.Run();                  // blocks; rethrows the first error as millrace::Error, naming its
//   stage std::cout << g.Report();  // per-stage busy / starved / blocked; the bottleneck in words
//
// Items are values of any move-only type (millrace::Tensor included); each carries the
// sequence number its source gave it (see Item<T>). A stage with concurrency > 1 hands on its
// outputs in the order of its inputs (default), or as they finish (InArrivalOrder()); the
// order survives filters and flat-maps. A full channel blocks its producer, an empty one its
// consumer; a blocked stage has no task and burns no CPU. No deadlock for any capacity >= 1
// and concurrency >= 1.
//
// Stages placed on one device (Compute(), Gpu(d)) run in sequence order across those stages:
// item k passes all of them before item k+1 enters the device (placement.h), and their bodies
// may take a DeviceContext (device_context.h).
//
// Thread safety: build (the stage methods, Connect) and Run() from one thread. Cancel(),
// SetConcurrency(), Concurrency(), Stats(), Report() and WriteTrace() may be called from any
// thread, also while Run() is blocked in another.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/graph/detail/channel.h"
#include "core/graph/detail/stages.h"
#include "core/graph/device_context.h"
#include "core/graph/graph_options.h"
#include "core/graph/placement.h"
#include "core/graph/stats.h"

namespace boost::asio {
class io_context;
}

namespace millrace {

class Graph;

// A handle to a stage: In is what it takes (void for a source), Out what it hands on (void
// for a sink). Cheap to copy; valid while its Graph lives.
template <class In, class Out>
class Stage {
 public:
  Stage() = default;
  const std::string& name() const { return impl_->name(); }
  // Outputs leave in the order of the inputs (the default) / as soon as they are ready.
  Stage& InSequenceOrder() {
    impl_->set_ordered(true);
    return *this;
  }
  Stage& InArrivalOrder() {
    impl_->set_ordered(false);
    return *this;
  }

 private:
  friend class Graph;
  template <class, class, class>
  friend class JoinHandle;
  Stage(internal::StageBase* impl, int port) : impl_(impl), port_(port) {}
  internal::StageBase* impl() const { return impl_; }
  int port() const { return port_; }
  internal::StageBase* impl_ = nullptr;
  int port_ = 0;
};

// A join: connect producers to left() and right(), and the join itself to its consumer.
template <class A, class B, class Out>
class JoinHandle : public Stage<void, Out> {
 public:
  Stage<A, Out> left() const { return Stage<A, Out>(this->impl(), 0); }
  Stage<B, Out> right() const { return Stage<B, Out>(this->impl(), 1); }

 private:
  friend class Graph;
  explicit JoinHandle(Stage<void, Out> s) : Stage<void, Out>(s) {}
};

namespace internal {
struct Deduce {};
// What a map body returns: fn(In&&) or fn(In&&, DeviceContext&).
template <class F, class Arg, bool = std::is_invocable_v<F&, Arg, DeviceContext&>>
struct MapResult {
  using type = std::invoke_result_t<F&, Arg, DeviceContext&>;
};
template <class F, class Arg>
struct MapResult<F, Arg, false> {
  using type = std::invoke_result_t<F&, Arg>;
};
template <class Given, class F, class Arg>
using OutputOf = std::conditional_t<std::is_same_v<Given, Deduce>,
                                    std::decay_t<typename MapResult<F, Arg>::type>, Given>;
}  // namespace internal

class Graph {
 public:
  explicit Graph(GraphOptions options = {});
  ~Graph();  // never blocks for long: a graph is destroyed after Run() has returned
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // ---- stages. Names must be unique. Bodies run on the placement's threads. ----

  // gen() -> std::optional<T>; std::nullopt ends the data. Called by one thread at a time.
  template <class T, class Gen>
  Stage<void, T> Source(std::string name, Placement placement, Gen gen) {
    return Add<void, T>(std::make_unique<internal::SourceStage<T, Gen>>(rt(), std::move(name),
                                                                        placement, std::move(gen)));
  }

  // fn(In&&) -> Out, for each item. Out is deduced from fn unless given.
  template <class In, class Out = internal::Deduce, class F>
  auto Map(std::string name, Placement placement, F fn) {
    using O = internal::OutputOf<Out, F, In&&>;
    using Body = internal::MapBody<In, O, F>;
    return Add<In, O>(std::make_unique<internal::TransformStage<In, O, Body>>(
        rt(), std::move(name), placement, internal::StageShape::kMap, Body{std::move(fn)}));
  }

  // fn(In&&) -> std::optional<Out>: std::nullopt passes the item over (a bad record under a
  // skip policy), counted in StageStats::items_skipped; its sequence number leaves a gap, as
  // a filter's does.
  template <class In, class F>
  auto MapOrSkip(std::string name, Placement placement, F fn) {
    using O = typename std::decay_t<typename internal::MapResult<F, In&&>::type>::value_type;
    using Body = internal::MapOrSkipBody<In, O, F>;
    return Add<In, O>(std::make_unique<internal::TransformStage<In, O, Body>>(
        rt(), std::move(name), placement, internal::StageShape::kMap, Body{std::move(fn)}));
  }

  // pred(const T&) -> bool: false drops the item (its sequence number leaves a gap).
  template <class T, class F>
  Stage<T, T> Filter(std::string name, Placement placement, F pred) {
    using Body = internal::FilterBody<T, F>;
    return Add<T, T>(std::make_unique<internal::TransformStage<T, T, Body>>(
        rt(), std::move(name), placement, internal::StageShape::kFilter, Body{std::move(pred)}));
  }

  // fn(In&&, Emit<Out>& emit): calls emit(value) zero or more times per input item.
  template <class In, class Out, class F>
  Stage<In, Out> FlatMap(std::string name, Placement placement, F fn) {
    using Body = internal::FlatMapBody<In, Out, F>;
    return Add<In, Out>(std::make_unique<internal::TransformStage<In, Out, Body>>(
        rt(), std::move(name), placement, internal::StageShape::kFlatMap, Body{std::move(fn)}));
  }

  // The same, and flush(Emit<Out>& emit) once after the last input item (not when the graph is
  // cancelled): it hands on what fn held back, e.g. items it groups by a key of their own.
  template <class In, class Out, class F, class G>
  Stage<In, Out> FlatMap(std::string name, Placement placement, F fn, G flush) {
    using Body = internal::FlatMapFlushBody<In, Out, F, G>;
    return Add<In, Out>(std::make_unique<internal::TransformStage<In, Out, Body>>(
        rt(), std::move(name), placement, internal::StageShape::kFlatMap,
        Body{std::move(fn), std::move(flush)}));
  }

  // Groups `size` consecutive items into a std::vector<T> (serial: concurrency 1). (A training
  // batch is the collated tensor that a stage makes from such a group: pipelines::Batch.)
  template <class T>
  Stage<T, std::vector<T>> Group(std::string name, Placement placement, size_t size,
                                 GroupOptions options = {}) {
    MILLRACE_CHECK_ARG(size > 0, "stage '" << name << "': group size must be > 0");
    using Body = internal::GroupBody<T>;
    return Add<T, std::vector<T>>(
        std::make_unique<internal::TransformStage<T, std::vector<T>, Body>>(
            rt(), std::move(name), placement, internal::StageShape::kGroup,
            Body{size, options.keep_partial, {}}, /*serial=*/true));
  }

  // fn(T&&) for each item; the end of a branch.
  template <class T, class F>
  Stage<T, void> Sink(std::string name, Placement placement, F fn) {
    using Body = internal::SinkBody<T, F>;
    return Add<T, void>(std::make_unique<internal::TransformStage<T, internal::NoOutput, Body>>(
        rt(), std::move(name), placement, internal::StageShape::kSink, Body{std::move(fn)}));
  }

  // Delivers every item to each consumer connected to it (Connect it several times). The last
  // consumer gets the item itself, the others copies: made by `copy(const T&) -> T`, or by
  // T's copy constructor when no copy function is given (a move-only T needs one).
  template <class T, class Copy>
  Stage<T, T> FanOut(std::string name, Copy copy) {
    using Body = internal::PassBody<T>;
    auto stage = std::make_unique<internal::TransformStage<T, T, Body>>(
        rt(), std::move(name), Cpu(1), internal::StageShape::kFanOut, Body{}, /*serial=*/true);
    stage->outputs().set_copy(std::move(copy));
    return Add<T, T>(std::move(stage));
  }
  template <class T>
  Stage<T, T> FanOut(std::string name) {
    static_assert(std::is_copy_constructible_v<T>,
                  "FanOut of a move-only type needs a copy function: FanOut<T>(name, copy)");
    return FanOut<T>(std::move(name), [](const T& x) { return T(x); });
  }

  // Pairs the item of left() and the item of right() that carry the same sequence number
  // (a teacher branch beside a student branch), in the order pairs complete; fn(A&&, B&&) ->
  // Out, or std::pair<A, B> without fn. Both branches must hand on one item per sequence
  // number (no filter inside them): an unpaired item at the end fails Run(). Serial.
  template <class A, class B, class F>
  auto Join(std::string name, Placement placement, F fn) {
    using O = std::decay_t<std::invoke_result_t<F&, A&&, B&&>>;
    auto s = Add<void, O>(std::make_unique<internal::JoinStage<A, B, O, F>>(
        rt(), std::move(name), placement, std::move(fn)));
    return JoinHandle<A, B, O>(s);
  }
  template <class A, class B>
  JoinHandle<A, B, std::pair<A, B>> Join(std::string name) {
    return Join<A, B>(std::move(name), Cpu(1),
                      [](A&& a, B&& b) { return std::pair<A, B>(std::move(a), std::move(b)); });
  }

  // ---- edges ----

  // A channel of `capacity` (>= 1) items from `from` to `to`. The types must match (checked
  // at compile time). Returns *this for chaining.
  template <class A, class T, class U, class B>
  Graph& Connect(const Stage<A, T>& from, const Stage<U, B>& to, int64_t capacity) {
    static_assert(!std::is_void_v<T>, "Connect: the producer is a sink; it has no output");
    static_assert(!std::is_void_v<U>, "Connect: the consumer is a source; it has no input");
    static_assert(std::is_same_v<T, U>,
                  "Connect: the producer's output type differs from the consumer's input type");
    ConnectChannel(
        std::make_unique<internal::Channel<T>>(from.impl(), to.impl(), to.port(), capacity));
    return *this;
  }

  // ---- running ----

  // Checks the graph without running it: duplicate names, unconnected inputs or outputs, a
  // stage feeding several consumers (only FanOut may), cycles, capacities < 1, Gpu(d) without
  // device d. Throws millrace::Error (kInvalidArgument) naming the stage(s).
  void Validate() const;

  // Validates, runs every stage until the sources end and all items have drained, and returns.
  // On the first error in any stage the graph is cancelled, every task is awaited, every
  // thread joined, and the error rethrown as millrace::Error naming its stage (other
  // exceptions are wrapped, keeping their what(), as kind kInternal). After Cancel() it throws
  // an Error of kind kCancelled. A graph runs once.
  void Run();

  // Stops the graph: Run() returns promptly (after the bodies running now return) and throws
  // kCancelled; called before Run(), Run() throws at once. A no-op once Run() has returned.
  // Any thread. A body that never returns can't be interrupted: Run() waits for it.
  void Cancel();
  bool cancelled() const;

  // Changes how many invocations of the stage may run at once, also while the graph runs
  // (no restart; a lowered limit applies as running invocations finish their runs). Serial
  // stages (source, batch, join, fan-out) and Compute()/Gpu() stages stay at 1.
  // Throws for an unknown stage or n < 1. Any thread.
  void SetConcurrency(std::string_view stage, int n);
  int Concurrency(std::string_view stage) const;

  // ---- observing ----

  GraphStats Stats() const;    // any thread, also while running
  std::string Report() const;  // Stats().ToTable(): a table and the bottleneck in words
  // Writes the recorded spans (one per task: a run of items of one stage) as Chrome trace-event
  // JSON (opens in Perfetto / chrome://tracing). Any thread; throws kIo when it can't write.
  void WriteTrace(const std::string& path) const;

  // The io_context of Io() stages; io/ code posts its asynchronous reads here. Its threads run
  // while Run() does.
  boost::asio::io_context& io_context();

 private:
  template <class In, class Out>
  Stage<In, Out> Add(std::unique_ptr<internal::StageBase> stage) {
    return Stage<In, Out>(AddStage(std::move(stage)), 0);
  }
  internal::StageBase* AddStage(std::unique_ptr<internal::StageBase> stage);
  void ConnectChannel(std::unique_ptr<internal::ChannelBase> channel);
  internal::Runtime* rt() const { return rt_.get(); }

  std::unique_ptr<internal::Runtime> rt_;
};

// While it lives, SIGINT (Ctrl-C) cancels `graph` instead of ending the process: Run() then
// throws kCancelled. Uses a boost::asio::signal_set on the graph's io_context.
class CancelOnSigint {
 public:
  explicit CancelOnSigint(Graph& graph);
  ~CancelOnSigint();
  CancelOnSigint(const CancelOnSigint&) = delete;
  CancelOnSigint& operator=(const CancelOnSigint&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace millrace
