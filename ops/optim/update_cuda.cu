// The optimizers' fused update on CUDA: block b takes chunk b of the chunk table, a range of
// one tensor's elements, and updates each element alone with update_cpu.cc's formulas. Every
// product and sum is rounded on its own (__fmul_rn, __fadd_rn, ...: nvcc would otherwise fuse a
// multiply and an add into one FMA), in the CPU loop's order, so an element gets the bits of an
// unfused f32 CPU update.
#include "ops/optim/update_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kUpdateThreads = 256;

__global__ void SgdUpdateAllKernel(const UpdateTensor* tensors, const UpdateChunk* chunks,
                                   const SgdScalars* scalars) {
  const UpdateChunk chunk = chunks[blockIdx.x];
  const UpdateTensor t = tensors[chunk.tensor];
  const SgdScalars c = scalars[chunk.tensor];
  const int64_t end = chunk.begin + kUpdateChunk < t.n ? chunk.begin + kUpdateChunk : t.n;
  for (int64_t i = chunk.begin + threadIdx.x; i < end; i += blockDim.x) {
    float g = t.grad[i];
    if (t.mask != nullptr) {  // uniform across the block
      g = __fmul_rn(g, t.mask[i]);
      t.grad[i] = g;
    }
    float w = t.w[i];
    // g + weight_decay * w
    const float decayed = __fadd_rn(g, __fmul_rn(c.weight_decay, w));
    if (c.momentum == 0) {
      w = __fsub_rn(w, __fmul_rn(c.lr, decayed));
    } else {
      const float b =
          c.first_step ? decayed
                       : __fadd_rn(__fmul_rn(c.momentum, t.state0[i]), __fmul_rn(c.damp, decayed));
      t.state0[i] = b;
      const float step = c.nesterov ? __fadd_rn(decayed, __fmul_rn(c.momentum, b)) : b;
      w = __fsub_rn(w, __fmul_rn(c.lr, step));
    }
    if (t.mask != nullptr) w = __fmul_rn(w, t.mask[i]);
    t.w[i] = w;
  }
}

__global__ void AdamWUpdateAllKernel(const UpdateTensor* tensors, const UpdateChunk* chunks,
                                     const AdamWScalars* scalars) {
  const UpdateChunk chunk = chunks[blockIdx.x];
  const UpdateTensor t = tensors[chunk.tensor];
  const AdamWScalars c = scalars[chunk.tensor];
  const int64_t end = chunk.begin + kUpdateChunk < t.n ? chunk.begin + kUpdateChunk : t.n;
  const float one_minus_beta1 = 1 - c.beta1, one_minus_beta2 = 1 - c.beta2;
  for (int64_t i = chunk.begin + threadIdx.x; i < end; i += blockDim.x) {
    float g = t.grad[i];
    if (t.mask != nullptr) {
      g = __fmul_rn(g, t.mask[i]);
      t.grad[i] = g;
    }
    float w = __fmul_rn(t.w[i], c.decay);
    // m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g g
    const float m = __fadd_rn(__fmul_rn(c.beta1, t.state0[i]), __fmul_rn(one_minus_beta1, g));
    const float v =
        __fadd_rn(__fmul_rn(c.beta2, t.state1[i]), __fmul_rn(__fmul_rn(one_minus_beta2, g), g));
    t.state0[i] = m;
    t.state1[i] = v;
    // w -= step_size m / (sqrt(v) inv_sqrt_c2 + eps)
    const float denominator = __fadd_rn(__fmul_rn(__fsqrt_rn(v), c.inv_sqrt_c2), c.eps);
    w = __fsub_rn(w, __fdiv_rn(__fmul_rn(c.step_size, m), denominator));
    if (t.mask != nullptr) w = __fmul_rn(w, t.mask[i]);
    t.w[i] = w;
  }
}

}  // namespace

void LaunchSgdUpdateAll(const UpdateTensor* tensors, const UpdateChunk* chunks,
                        const SgdScalars* scalars, int32_t num_chunks, cudaStream_t stream) {
  SgdUpdateAllKernel<<<num_chunks, kUpdateThreads, 0, stream>>>(tensors, chunks, scalars);
}

void LaunchAdamWUpdateAll(const UpdateTensor* tensors, const UpdateChunk* chunks,
                          const AdamWScalars* scalars, int32_t num_chunks, cudaStream_t stream) {
  AdamWUpdateAllKernel<<<num_chunks, kUpdateThreads, 0, stream>>>(tensors, chunks, scalars);
}

}  // namespace millrace::ops::cuda
