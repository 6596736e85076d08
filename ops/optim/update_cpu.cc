// The optimizers' updates on the CPU: one pass over the elements of all parameters of a step,
// in f32 (update.h has the formulas). The elements of all tasks, taken as one range, are split
// into equal shares across the compute thread's OpenMP team in one fork (below kUpdateParallelFrom
// elements in all, the calling thread does them). Each element is updated alone, so any split
// gives the same bits.
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "ops/optim/update.h"

namespace millrace::ops::cpu {

namespace {

constexpr int64_t kUpdateParallelFrom = 1 << 16;  // elements; below, one thread

// Runs body(task, lo, hi) over the elements [lo, hi) of each task, every element once.
template <typename Task, typename Body>
void ForEachUpdateShare(std::span<const Task> tasks, const Body& body) {
  int64_t total = 0;
  for (const Task& t : tasks) total += t.w->numel();
  auto run = [&](int64_t begin, int64_t end) {
    int64_t start = 0;  // of the current task in the range of all
    for (const Task& t : tasks) {
      if (start >= end) break;
      const int64_t n = t.w->numel();
      const int64_t lo = std::max<int64_t>(begin - start, 0), hi = std::min(end - start, n);
      if (lo < hi) body(t, lo, hi);
      start += n;
    }
  };
  if (total < kUpdateParallelFrom) {
    run(0, total);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), me = omp_get_thread_num();
    run(total * me / threads, total * (me + 1) / threads);
  }
}

// kMasked: grad[i] *= mask[i] first (written back), w[i] *= mask[i] last.
template <bool kMasked>
void SgdElements(const SgdUpdateTask& t, int64_t lo, int64_t hi) {
  const SgdUpdateConfig c = t.config;
  float* w = t.w->data<float>();
  float* grad = t.grad->data<float>();
  const float* mask = kMasked ? t.mask->data<float>() : nullptr;
  if (c.momentum == 0) {
    for (int64_t i = lo; i < hi; ++i) {
      if constexpr (kMasked) grad[i] *= mask[i];
      w[i] -= c.lr * (grad[i] + c.weight_decay * w[i]);
      if constexpr (kMasked) w[i] *= mask[i];
    }
    return;
  }
  float* buf = t.momentum_buffer->data<float>();
  for (int64_t i = lo; i < hi; ++i) {
    if constexpr (kMasked) grad[i] *= mask[i];
    const float g = grad[i] + c.weight_decay * w[i];
    buf[i] = c.first_step ? g : c.momentum * buf[i] + c.damp * g;
    w[i] -= c.lr * (c.nesterov ? g + c.momentum * buf[i] : buf[i]);
    if constexpr (kMasked) w[i] *= mask[i];
  }
}

template <bool kMasked>
void AdamWElements(const AdamWUpdateTask& t, int64_t lo, int64_t hi) {
  const AdamWUpdateConfig c = t.config;
  float* w = t.w->data<float>();
  float* g = t.grad->data<float>();
  float* m = t.m->data<float>();
  float* v = t.v->data<float>();
  const float* mask = kMasked ? t.mask->data<float>() : nullptr;
  for (int64_t i = lo; i < hi; ++i) {
    if constexpr (kMasked) g[i] *= mask[i];
    w[i] *= c.decay;
    m[i] = c.beta1 * m[i] + (1 - c.beta1) * g[i];
    v[i] = c.beta2 * v[i] + (1 - c.beta2) * g[i] * g[i];
    w[i] -= c.step_size * m[i] / (std::sqrt(v[i]) * c.inv_sqrt_c2 + c.eps);
    if constexpr (kMasked) w[i] *= mask[i];
  }
}

}  // namespace

void SgdUpdateAll(std::span<const SgdUpdateTask> tasks) {
  ForEachUpdateShare(tasks, [](const SgdUpdateTask& t, int64_t lo, int64_t hi) {
    t.mask ? SgdElements<true>(t, lo, hi) : SgdElements<false>(t, lo, hi);
  });
}

void AdamWUpdateAll(std::span<const AdamWUpdateTask> tasks) {
  ForEachUpdateShare(tasks, [](const AdamWUpdateTask& t, int64_t lo, int64_t hi) {
    t.mask ? AdamWElements<true>(t, lo, hi) : AdamWElements<false>(t, lo, hi);
  });
}

}  // namespace millrace::ops::cpu
