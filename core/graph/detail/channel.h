// Internal: the typed channel (items move through it in chunks) and the typed output side of
// a stage (reservations, in-order release, fan-out copies).
#pragma once

#include <tbb/cache_aligned_allocator.h>
#include <tbb/concurrent_queue.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/device_stream.h"
#include "core/graph/detail/stage_base.h"

namespace millrace {

// An item on its way through the graph: the value and its sequence number. A source numbers
// its items 0, 1, 2, ...; map, filter, fan-out and join keep the number; a flat-map and a
// batch number their outputs 0, 1, 2, ... in the order they hand them on. `ready`, when set,
// marks device work that makes the value and is still in flight (DeviceContext::HandOnInFlight):
// the consumer waits for it before its body sees the value.
template <class T>
struct Item {
  T value;
  uint64_t seq = 0;
  std::shared_ptr<const DeviceEvent> ready;
};

namespace internal {

// Items move through a tbb::concurrent_queue in chunks (one per producer run), so a hop costs
// one queue operation per run rather than per item.
template <class T>
class Channel final : public ChannelBase {
 public:
  using ChannelBase::ChannelBase;

  // Producer side: hands on a chunk (any thread).
  void Push(std::vector<Item<T>>&& chunk) {
    const auto n = static_cast<int64_t>(chunk.size());
    if (n == 0) return;
    queue_.push(std::move(chunk));
    NotePushed(n);
  }

  // Consumer side, one caller at a time (the consumer's take lock): moves up to `max` items
  // to the end of `out`; returns how many.
  size_t Take(std::vector<Item<T>>& out, size_t max) {
    size_t taken = 0;
    if (out.empty() && carry_pos_ == carry_.size() && queue_.try_pop(carry_)) {
      carry_pos_ = 0;
      if (carry_.size() <= max) {  // the common case: the whole chunk, without moving items
        out.swap(carry_);
        carry_.clear();
        taken = out.size();
      }
    }
    while (taken < max) {
      if (carry_pos_ == carry_.size()) {
        carry_.clear();
        carry_pos_ = 0;
        if (!queue_.try_pop(carry_)) break;
      }
      const size_t k = std::min(max - taken, carry_.size() - carry_pos_);
      for (size_t i = 0; i < k; ++i) out.push_back(std::move(carry_[carry_pos_++]));
      taken += k;
    }
    if (taken > 0) NoteTaken(static_cast<int64_t>(taken));
    return taken;
  }

 private:
#if defined(__SANITIZE_THREAD__)
  // oneTBB's cache_aligned_allocator recycles memory inside libtbb, unseen by ThreadSanitizer;
  // std::allocator goes through the malloc that it watches.
  using Allocator = std::allocator<std::vector<Item<T>>>;
#else
  using Allocator = tbb::cache_aligned_allocator<std::vector<Item<T>>>;
#endif
  tbb::concurrent_queue<std::vector<Item<T>>, Allocator> queue_;
  std::vector<Item<T>> carry_;  // the rest of the chunk being taken
  size_t carry_pos_ = 0;
};

// The output side of a stage: one channel, or several for a fan-out (each gets every item; all
// but the last get copies). Runs are released in ticket order when the stage is ordered.
template <class T>
class Outputs {
 public:
  using Copy = std::function<T(const T&)>;

  void Attach(ChannelBase* channel) { channels_.push_back(static_cast<Channel<T>*>(channel)); }
  void set_copy(Copy copy) { copy_ = std::move(copy); }
  void set_renumber(bool renumber) { renumber_ = renumber; }
  bool empty() const { return channels_.empty(); }

  // Reserves up to `want` slots on every channel; returns how many (0: some channel is full).
  int64_t Reserve(int64_t want) {
    int64_t got = want;
    for (size_t i = 0; i < channels_.size() && got > 0; ++i) {
      const int64_t k = channels_[i]->TryReserve(got);
      for (size_t j = 0; j < i && k < got; ++j) channels_[j]->AdjustReserved(k - got);
      got = k;
    }
    return got;
  }
  // A run that reserved `reserved` slots made `made` items: returns the difference.
  void Settle(int64_t reserved, int64_t made) {
    for (auto* c : channels_) c->AdjustReserved(made - reserved);
  }

  // Hands on the outputs of the run that took input tickets [first, first + count).
  void Publish(bool ordered, uint64_t first, uint64_t count, std::vector<Item<T>>&& items) {
    if (!ordered) {
      PublishNow(std::move(items));
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (first != next_ticket_) {
      pending_.emplace(first, Pending{count, std::move(items)});
      return;
    }
    PublishNow(std::move(items));
    next_ticket_ += count;
    for (auto it = pending_.begin(); it != pending_.end() && it->first == next_ticket_;
         it = pending_.erase(it)) {
      PublishNow(std::move(it->second.items));
      next_ticket_ += it->second.count;
    }
  }

  // Hands on items outside the ticket order (a batch's partial batch at the end).
  void PublishNow(std::vector<Item<T>>&& items) {
    if (items.empty() || channels_.empty()) return;
    if (renumber_) {
      uint64_t seq = next_seq_.fetch_add(items.size());
      for (auto& item : items) item.seq = seq++;
    }
    for (size_t i = 0; i + 1 < channels_.size(); ++i) {
      std::vector<Item<T>> copies;
      copies.reserve(items.size());
      for (const auto& item : items) copies.push_back(Item<T>{copy_(item.value), item.seq, item.ready});
      channels_[i]->Push(std::move(copies));
    }
    channels_.back()->Push(std::move(items));
  }

 private:
  struct Pending {
    uint64_t count;
    std::vector<Item<T>> items;
  };
  std::vector<Channel<T>*> channels_;
  Copy copy_;
  bool renumber_ = false;
  std::atomic<uint64_t> next_seq_{0};
  std::mutex mu_;
  uint64_t next_ticket_ = 0;
  std::map<uint64_t, Pending> pending_;
};

}  // namespace internal
}  // namespace millrace
