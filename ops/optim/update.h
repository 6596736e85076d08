// The optimizers' element-wise updates, one kernel each, behind the backend seam: the function
// checks its tensors once (f32, one shape, one device), then runs the kernel registered for
// their device (update_cpu.cc; no other backend exists yet: another device throws
// "no kernel for SgdUpdate on cuda:0"). Sgd and AdamW (sgd.h, adamw.h) compute the scalars
// per step and call these; the formulas are theirs, in f32 as written below.
#pragma once

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

using SgdUpdateKernel = void (*)(Tensor& w, const Tensor& grad, Tensor& momentum_buffer,
                                 const SgdUpdateConfig& config);
using AdamWUpdateKernel = void (*)(Tensor& w, const Tensor& grad, Tensor& m, Tensor& v,
                                   const AdamWUpdateConfig& config);
KernelTable<SgdUpdateKernel>& SgdUpdateKernels();
KernelTable<AdamWUpdateKernel>& AdamWUpdateKernels();

namespace cpu {
void SgdUpdate(Tensor& w, const Tensor& grad, Tensor& momentum_buffer,
               const SgdUpdateConfig& config);
void AdamWUpdate(Tensor& w, const Tensor& grad, Tensor& m, Tensor& v,
                 const AdamWUpdateConfig& config);
}  // namespace cpu

}  // namespace millrace::ops
