#include "io/sampler.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "io/random.h"

namespace millrace::io {

namespace {

// Fisher-Yates over [0, n) in T: the draws do not depend on T, so neither does the order.
template <class T>
std::vector<T> Shuffled(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<T> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), T{0});
  KeyedRng rng(seed, static_cast<uint64_t>(epoch), 0x5eed5a3b1e5ULL);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

constexpr int64_t kNarrowLimit = int64_t{1} << 32;

}  // namespace

std::vector<int64_t> Permutation(int64_t n, uint64_t seed, int64_t epoch) {
  return Shuffled<int64_t>(n, seed, epoch);
}

std::vector<uint32_t> Permutation32(int64_t n, uint64_t seed, int64_t epoch) {
  MILLRACE_CHECK_ARG(n <= kNarrowLimit, "Permutation32 of " << n << " records (>= 2^32)");
  return Shuffled<uint32_t>(n, seed, epoch);
}

EpochSampler::EpochSampler(int64_t size, EpochSamplerOptions options)
    : size_(size), options_(options) {
  MILLRACE_CHECK_ARG(size >= 0, "dataset size must be >= 0, got " << size);
  MILLRACE_CHECK_ARG(options.world >= 1, "world size must be >= 1, got " << options.world);
  MILLRACE_CHECK_ARG(options.rank >= 0 && options.rank < options.world,
                     "rank " << options.rank << " outside [0, " << options.world << ")");
  MILLRACE_CHECK_ARG(options.batch_size >= 1,
                     "batch size must be >= 1, got " << options.batch_size);
  const int64_t world = options.world;
  if (options.drop_last) {
    const int64_t step = world * options.batch_size;
    used_ = size / step * step;
    num_samples_ = used_ / world;
  } else {
    used_ = size;
    num_samples_ = size / world + (options.rank < size % world ? 1 : 0);
  }
}

int64_t EpochSampler::num_batches() const noexcept {
  return (num_samples_ + options_.batch_size - 1) / options_.batch_size;
}

std::vector<int64_t> EpochSampler::Indices(int64_t epoch) const {
  std::vector<int64_t> order;
  if (options_.shuffle) {
    order = Permutation(size_, options_.seed, epoch);
  } else {
    order.resize(static_cast<size_t>(size_));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  if (options_.world == 1) {  // the order's first used_ entries: no copy (memory per epoch)
    order.resize(static_cast<size_t>(used_));
    return order;
  }
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(num_samples_));
  for (int64_t p = options_.rank; p < used_; p += options_.world)
    mine.push_back(order[static_cast<size_t>(p)]);
  return mine;
}

EpochOrder EpochSampler::Order(int64_t epoch) const {
  EpochOrder order;
  // The permutation's first used_ positions (the rest is cut off by drop_last).
  if (size_ <= kNarrowLimit) {
    order.narrow_ = options_.shuffle ? Permutation32(size_, options_.seed, epoch)
                                     : std::vector<uint32_t>(static_cast<size_t>(size_));
    if (!options_.shuffle) std::iota(order.narrow_.begin(), order.narrow_.end(), uint32_t{0});
    order.narrow_.resize(static_cast<size_t>(used_));
  } else {
    order.wide_ = options_.shuffle ? Permutation(size_, options_.seed, epoch)
                                   : std::vector<int64_t>(static_cast<size_t>(size_));
    if (!options_.shuffle) std::iota(order.wide_.begin(), order.wide_.end(), int64_t{0});
    order.wide_.resize(static_cast<size_t>(used_));
  }
  order.first_ = options_.rank;
  order.stride_ = options_.world;
  order.count_ = num_samples_;
  return order;
}

std::vector<std::vector<int64_t>> EpochSampler::Batches(int64_t epoch) const {
  const std::vector<int64_t> indices = Indices(epoch);
  std::vector<std::vector<int64_t>> batches;
  batches.reserve(static_cast<size_t>(num_batches()));
  for (size_t begin = 0; begin < indices.size();
       begin += static_cast<size_t>(options_.batch_size)) {
    const size_t end = std::min(indices.size(), begin + static_cast<size_t>(options_.batch_size));
    batches.emplace_back(indices.begin() + static_cast<std::ptrdiff_t>(begin),
                         indices.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return batches;
}

}  // namespace millrace::io
