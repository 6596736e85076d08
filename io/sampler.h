// EpochSampler: which records a rank visits in an epoch, and in what order.
//
//   EpochSampler sampler(60000, {.seed = 1, .drop_last = true, .rank = 0, .world = 2,
//                                .batch_size = 128});
//   for (int64_t epoch = 0; ...; ++epoch)
//     for (const auto& batch : sampler.Batches(epoch)) ...;   // indices into the dataset
//
// Every epoch is a seeded permutation of [0, size) (the same for every rank: it depends on
// (seed, epoch) only), dealt round-robin to the ranks: rank r takes positions r, r + world, ...
// Without drop_last every record is seen exactly once per epoch across the ranks (ranks may then
// differ by one record and the last batch may be short). With drop_last the permutation is cut
// to a multiple of world * batch_size, so every rank gets the same number of full batches, and
// the records cut off (fewer than world * batch_size) change from epoch to epoch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace millrace::io {

struct EpochSamplerOptions {
  uint64_t seed = 0;
  bool shuffle = true;     // false: the identity order, dealt the same way
  bool drop_last = false;  // see above
  int rank = 0;            // in [0, world)
  int world = 1;
  int64_t batch_size = 1;
};

// One epoch's order for one rank, as the read stage walks it: the same indices as
// EpochSampler::Indices, held in 4 bytes a record when the dataset has fewer than 2^32 records
// (8 otherwise), and no copy per rank (rank r's k-th index is the permutation's r + k * world).
//
//   const EpochOrder order = sampler.Order(epoch);
//   for (int64_t k = 0; k < order.size(); ++k) Read(order[k]);
class EpochOrder {
 public:
  EpochOrder() = default;
  int64_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  // The k-th index, k in [0, size()) (unchecked).
  int64_t operator[](int64_t k) const noexcept {
    const auto p = static_cast<size_t>(first_ + k * stride_);
    return narrow_.empty() ? wide_[p] : int64_t{narrow_[p]};
  }
  // Bytes held (the permutation).
  size_t bytes() const noexcept {
    return narrow_.size() * sizeof(uint32_t) + wide_.size() * sizeof(int64_t);
  }

 private:
  friend class EpochSampler;
  std::vector<uint32_t> narrow_;  // the whole permutation (or identity), when it fits 32 bits
  std::vector<int64_t> wide_;     // otherwise
  int64_t first_ = 0;             // rank
  int64_t stride_ = 1;            // world
  int64_t count_ = 0;
};

// Immutable after construction; all methods are const and thread-safe.
class EpochSampler {
 public:
  EpochSampler(int64_t size, EpochSamplerOptions options);

  // The indices this rank visits in `epoch`, in order.
  std::vector<int64_t> Indices(int64_t epoch) const;
  // The same order, compact (EpochOrder): what the read stage walks.
  EpochOrder Order(int64_t epoch) const;
  // The same, cut into batches of batch_size (the last one short without drop_last).
  std::vector<std::vector<int64_t>> Batches(int64_t epoch) const;
  // Number of indices this rank gets per epoch (the same every epoch).
  int64_t num_samples() const noexcept { return num_samples_; }
  int64_t num_batches() const noexcept;

  int64_t size() const noexcept { return size_; }
  const EpochSamplerOptions& options() const noexcept { return options_; }

 private:
  int64_t size_;
  EpochSamplerOptions options_;
  int64_t used_;         // positions of the permutation that are dealt (size_ or cut)
  int64_t num_samples_;  // this rank's share
};

// The seeded permutation of [0, n) for (seed, epoch): Fisher-Yates on a counter-based RNG, so it
// is the same on every platform and standard library.
std::vector<int64_t> Permutation(int64_t n, uint64_t seed, int64_t epoch);
// The same permutation in 32-bit indices (n < 2^32): the same draws, the same order.
std::vector<uint32_t> Permutation32(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace millrace::io
