// ReLU on CUDA: host glue (kernels in relu_cuda.cu). CUDA tensors are always plain row-major,
// so there is no layout to keep; Backward reads the input Forward kept (ReLU::input_).
#include "ops/activation/activation_cuda_kernels.h"
#include "ops/activation/relu.h"
#include "ops/cuda/context.h"

namespace millrace::ops {

Tensor ReLU::ForwardCuda(const Tensor& x) {
  Tensor y = Tensor::Empty(x.shape(), DType::kF32, x.device());
  if (x.numel() == 0) return y;
  cuda::LaunchReluForward(static_cast<const float*>(x.raw_data()),
                          static_cast<float*>(y.raw_data()), x.numel(), cuda::Stream(x.device()));
  MILLRACE_CUDA_LAUNCH_CHECK("ReluForward");
  return y;
}

Tensor ReLU::BackwardCuda(const Tensor& dy) {
  Tensor dx = Tensor::Empty(dy.shape(), DType::kF32, dy.device());
  if (dy.numel() == 0) return dx;
  cuda::LaunchReluBackward(
      static_cast<const float*>(input_.raw_data()), static_cast<const float*>(dy.raw_data()),
      static_cast<float*>(dx.raw_data()), dy.numel(), cuda::Stream(dy.device()));
  MILLRACE_CUDA_LAUNCH_CHECK("ReluBackward");
  return dx;
}

}  // namespace millrace::ops
