// Runtime::Stats() and Runtime::WriteTrace(): reading the counters the stages keep.
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "core/graph/detail/runtime.h"

namespace millrace::internal {

GraphStats Runtime::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  GraphStats g;
  const int64_t start = start_ns_.load();
  const int64_t now = running_ || end_ns_.load() == 0 ? NowNs() : end_ns_.load();
  g.running = running_;
  g.elapsed_s = start == 0 ? 0.0 : (now - start) * 1e-9;
  const double elapsed = std::max(g.elapsed_s, 1e-9);
  for (const auto& s : stages_) {
    StageStats st;
    st.name = s->name();
    st.placement = s->placement().ToString();
    st.shape = ToString(s->shape());
    st.concurrency = s->concurrency();
    st.items_in = s->items_in();
    st.items_out = s->items_out();
    st.items_skipped = s->items_skipped();
    st.busy_s = s->busy_ns() * 1e-9;
    if (start != 0) {
      int64_t starved = 0, blocked = 0;
      s->IdleNs(now, &starved, &blocked);
      st.starved_s = starved * 1e-9;
      st.blocked_s = blocked * 1e-9;
    }
    st.busy_fraction = st.busy_s / (elapsed * st.concurrency);
    st.starved_fraction = st.starved_s / elapsed;
    st.blocked_fraction = st.blocked_s / elapsed;
    for (const auto* c : s->inputs()) st.inputs_from.push_back(c->producer()->name());
    st.finished = s->finished();
    g.stages.push_back(std::move(st));
  }
  for (const auto& c : channels_) {
    ChannelStats cs;
    cs.from = c->producer()->name();
    cs.to = c->consumer()->name();
    cs.capacity = c->capacity();
    cs.size = std::max<int64_t>(0, c->size());
    cs.mean_occupancy = c->MeanOccupancy();
    cs.max_occupancy = c->MaxOccupancy();
    cs.items = c->items();
    g.channels.push_back(std::move(cs));
  }
  return g;
}

void Runtime::WriteTrace(const std::string& path) const {
  const int64_t start = start_ns_.load();
  nlohmann::json events = nlohmann::json::array();
  events.push_back(
      {{"name", "process_name"}, {"ph", "M"}, {"pid", 1}, {"args", {{"name", "millrace graph"}}}});
  std::set<int> threads;
  for (const auto& s : stages_) {
    for (const auto& span : s->Spans()) {
      threads.insert(span.thread);
      events.push_back(
          {{"name", s->name()},
           {"cat", ToString(s->shape())},
           {"ph", "X"},
           {"ts", (span.start_ns - start) * 1e-3},
           {"dur", span.dur_ns * 1e-3},
           {"pid", 1},
           {"tid", span.thread},
           {"args", {{"items", span.items}, {"placement", s->placement().ToString()}}}});
    }
  }
  for (int t : threads) {
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", 1},
                      {"tid", t},
                      {"args", {{"name", "thread " + std::to_string(t)}}}});
  }
  nlohmann::json doc = {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}};
  std::ofstream out(path);
  MILLRACE_CHECK(out.good(), ErrorKind::kIo, "can't open the trace file for writing: " << path);
  out << doc.dump() << '\n';
  out.close();
  MILLRACE_CHECK(out.good(), ErrorKind::kIo, "can't write the trace file: " << path);
}

}  // namespace millrace::internal
