// Launchers of the ReLU that Conv2d and BatchNorm2d fuse on CUDA (Layer::FuseNext), for their
// host glue. C++17, CUDA runtime only: included by .cu and _cuda.cc files alike.
//
// Semantics are the CPU backend's (oneDNN eltwise_relu with alpha 0, and its backward from the
// output, eltwise_relu_use_dst_for_bwd / fuse_norm_relu's mask):
//   forward   y = y > 0 ? y : 0, a NaN kept (it propagates, as torch.relu and oneDNN do)
//   backward  dx = y > 0 ? dy : 0, y being the forward's output
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace millrace::ops::cuda {

// y[i] = relu(y[i]) for i < n, in place.
void LaunchFusedReluForward(float* y, int64_t n, cudaStream_t stream);
// dx[i] = y[i] > 0 ? dy[i] : 0 for i < n; dx may alias dy.
void LaunchFusedReluBackward(const float* y, const float* dy, float* dx, int64_t n,
                             cudaStream_t stream);

}  // namespace millrace::ops::cuda
