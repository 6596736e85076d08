// The optimizers' element-wise updates, one kernel each, behind the backend seam: the function
// checks its tensors once (f32, one shape, one device), then runs the kernel registered for
// their device (update_cpu.cc; update_cuda.cc in a build with CUDA). Sgd and AdamW (sgd.h, adamw.h)
// compute the scalars per step and call these; the formulas are theirs, in f32 as written below.
//
// The optimizers update all their parameters in one pass (SgdUpdateAll, AdamWUpdateAll): one
// call for the step, one fork of the compute thread's OpenMP team with an equal share of all
// the elements per thread (small tensors too), and a pruning mask applied in the same pass.
#pragma once

#include <span>

#include "core/tensor.h"
#include "ops/kernel_table.h"

namespace millrace::ops {

// SGD, per element i (torch.optim.SGD):
//   g = grad[i] + weight_decay * w[i]
//   momentum == 0:  w[i] -= lr * g                      (momentum_buffer unused, may be undefined)
//   else:           b[i] = first_step ? g : momentum * b[i] + damp * g
//                   w[i] -= lr * (nesterov ? g + momentum * b[i] : b[i])
struct SgdUpdateConfig {
  float lr = 0;
  float weight_decay = 0;
  float momentum = 0;
  float damp = 1;  // 1 - dampening
  bool nesterov = false;
  bool first_step = false;
};
// w, grad, momentum_buffer: f32, the same shape and device.
void SgdUpdate(Tensor& w, const Tensor& grad, Tensor& momentum_buffer,
               const SgdUpdateConfig& config);

// AdamW, per element i (torch.optim.AdamW, amsgrad off):
//   w[i] *= decay
//   m[i] = beta1 m[i] + (1 - beta1) g[i];   v[i] = beta2 v[i] + (1 - beta2) g[i]^2
//   w[i] -= step_size * m[i] / (sqrt(v[i]) * inv_sqrt_c2 + eps)
struct AdamWUpdateConfig {
  float decay = 1;  // 1 - lr * weight_decay (1 without decay)
  float beta1 = 0.9f, beta2 = 0.999f;
  float step_size = 0;    // lr / (1 - beta1^t)
  float inv_sqrt_c2 = 1;  // 1 / sqrt(1 - beta2^t)
  float eps = 1e-8f;
};
// w, grad, m, v: f32, the same shape and device.
void AdamWUpdate(Tensor& w, const Tensor& grad, Tensor& m, Tensor& v,
                 const AdamWUpdateConfig& config);

// One parameter's part of a multi-tensor update. mask (null: none) is a pruning mask of w's
// shape, applied in the same pass: grad[i] *= mask[i] before the update, w[i] *= mask[i] after
// it (the bits of MaskMultiply before and after a single-tensor update).
struct SgdUpdateTask {
  Tensor* w = nullptr;
  Tensor* grad = nullptr;
  Tensor* momentum_buffer = nullptr;  // may be null when config.momentum == 0
  const Tensor* mask = nullptr;
  SgdUpdateConfig config;
};
struct AdamWUpdateTask {
  Tensor* w = nullptr;
  Tensor* grad = nullptr;
  Tensor* m = nullptr;
  Tensor* v = nullptr;
  const Tensor* mask = nullptr;
  AdamWUpdateConfig config;
};
// Every task's tensors checked as above (and all on one device), then one kernel call.
void SgdUpdateAll(std::span<const SgdUpdateTask> tasks);
void AdamWUpdateAll(std::span<const AdamWUpdateTask> tasks);

using SgdUpdateKernel = void (*)(std::span<const SgdUpdateTask> tasks);
using AdamWUpdateKernel = void (*)(std::span<const AdamWUpdateTask> tasks);
KernelTable<SgdUpdateKernel>& SgdUpdateKernels();
KernelTable<AdamWUpdateKernel>& AdamWUpdateKernels();

namespace cpu {
void SgdUpdateAll(std::span<const SgdUpdateTask> tasks);
void AdamWUpdateAll(std::span<const AdamWUpdateTask> tasks);
}  // namespace cpu

// The CUDA kernels (update_cuda.cc, in a build with CUDA): one launch per step over all the
// tasks, capturable in a CUDA Graph once one step ran eagerly (the tables of the parameter set
// are uploaded then). The per-step scalars reach the kernel through a device buffer that a
// cudaMemcpyAsync from pinned memory fills before the launch, not through kernel arguments;
// during a capture only the launch is recorded. Before each launch of a captured graph, stage
// the step's scalars: call SgdUpdateAll / AdamWUpdateAll (the optimizer's Step()) inside a
// StageUpdatesForReplay scope, which queues that copy and launches nothing.
namespace cuda {
void SgdUpdateAll(std::span<const SgdUpdateTask> tasks);
void AdamWUpdateAll(std::span<const AdamWUpdateTask> tasks);
// Queues the copy of the tasks' scalars into the buffer the captured launch reads; the
// parameters must be the captured ones (else Error(kInvalidArgument)). Launches nothing.
void StageSgdUpdateForReplay(std::span<const SgdUpdateTask> tasks);
void StageAdamWUpdateForReplay(std::span<const AdamWUpdateTask> tasks);
}  // namespace cuda

// While one is open on the calling thread, SgdUpdateAll and AdamWUpdateAll on CUDA tensors stage
// their scalars for a replayed CUDA Graph and launch nothing (pipelines/step_graph.h): an
// optimizer's Step() then advances its step count and schedules the values the graph's update
// applies. On CPU tensors they throw (nothing is captured on the CPU).
class StageUpdatesForReplay {
 public:
  StageUpdatesForReplay();
  ~StageUpdatesForReplay();
  StageUpdatesForReplay(const StageUpdatesForReplay&) = delete;
  StageUpdatesForReplay& operator=(const StageUpdatesForReplay&) = delete;
  static bool active();

 private:
  bool previous_;
};

}  // namespace millrace::ops
