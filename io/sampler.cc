#include "io/sampler.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "io/random.h"

namespace millrace::io {

std::vector<int64_t> Permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  Rng rng(seed, static_cast<uint64_t>(epoch), 0x5eed5a3b1e5ULL);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
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
