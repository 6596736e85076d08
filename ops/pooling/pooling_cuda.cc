// Pooling on CUDA: millrace's own kernels (pooling_cuda.cu) on plain NCHW tensors, not cuDNN's
// pooling. cuDNN documents neither which maximum of a window wins a tie (the CPU backend, like
// torch, gives the gradient to the first in row-major order) nor where a NaN goes (the CPU
// propagates it), and its max-pooling backward recomputes the argmax from x and y; the own
// kernels keep the forward's argmax, the CPU's semantics exactly (pooling_cuda_kernels.h), and
// gather in the backward (no atomics: deterministic). Average pooling shares the window
// arithmetic; GlobalAvgPool is one window of H x W.
// The argmax ([N, C, Ho, Wo] int32, max pooling in training only) is kept in the layer's CUDA
// state and reused while the shape holds: nothing allocates on the hot path after the first
// step of a shape, nothing waits (CUDA Graph capturable).
#include <cstdint>
#include <limits>

#include "ops/cuda/context.h"
#include "ops/cuda/cudnn_descriptors.h"
#include "ops/pooling/pooling.h"
#include "ops/pooling/pooling_cuda_kernels.h"

namespace millrace::ops {

struct Pool2d::Cuda {
  Tensor argmax;  // max pooling: the last training forward's winners, offsets in their planes
};

namespace {

// The kernels' geometry of x: [N, C, H, W] -> y: [N, C, Ho, Wo] (kernel 0: the whole plane).
cuda::Pool2dCudaGeometry Pool2dGeometry(const Shape& x, const Shape& y, int64_t kernel,
                                        int64_t stride, int64_t padding) {
  cuda::Pool2dCudaGeometry g;
  g.planes = x[0] * x[1];
  g.h = x[2];
  g.w = x[3];
  g.ho = y[2];
  g.wo = y[3];
  g.kh = kernel == 0 ? x[2] : kernel;
  g.kw = kernel == 0 ? x[3] : kernel;
  g.stride = stride;
  g.padding = padding;
  return g;
}

}  // namespace

Tensor Pool2d::ForwardCuda(const Tensor& x, Mode mode) {
  const Device device = x.device();
  if (!cuda_) cuda_ = decltype(cuda_)(new Cuda(), [](Cuda* state) { delete state; });
  const Shape y_shape = OutputShape(x.shape());
  const cuda::Pool2dCudaGeometry g = Pool2dGeometry(x.shape(), y_shape, kernel_, stride_, padding_);
  MILLRACE_CHECK_ARG(
      g.h * g.w <= std::numeric_limits<int32_t>::max(),
      Describe() << ": input " << ToString(x.shape()) << " has planes too large for int32 offsets");
  cudaStream_t stream = cuda::Stream(device);
  Tensor y = Tensor::Empty(y_shape, DType::kF32, device);
  if (pool_kind_ == Kind::kMax) {
    backend_info_ = "millrace:max_pool_nchw / millrace:max_pool_nchw";
    int32_t* argmax = nullptr;
    if (mode == Mode::kTrain) {
      Tensor& a = cuda_->argmax;
      if (!a.defined() || a.shape() != y_shape || a.device() != device) {
        a = Tensor::Empty(y_shape, DType::kI32, device);
      }
      argmax = static_cast<int32_t*>(a.raw_data());
    }
    cuda::LaunchMaxPool2dForward(cuda::F32Data(x), cuda::F32Data(y), argmax, g, stream);
    MILLRACE_CUDA_LAUNCH_CHECK("MaxPool2dForward");
  } else {
    backend_info_ = "millrace:avg_pool_nchw / millrace:avg_pool_nchw";
    cuda::LaunchAvgPool2dForward(cuda::F32Data(x), cuda::F32Data(y),
                                 pool_kind_ == Kind::kAvgIncludePad, g, stream);
    MILLRACE_CUDA_LAUNCH_CHECK("AvgPool2dForward");
  }
  if (mode == Mode::kEval) {
    input_shape_.clear();
  } else {
    input_shape_ = x.shape();
  }
  return y;
}

Tensor Pool2d::BackwardCuda(const Tensor& dy) {
  const Device device = dy.device();
  const cuda::Pool2dCudaGeometry g =
      Pool2dGeometry(input_shape_, dy.shape(), kernel_, stride_, padding_);
  cudaStream_t stream = cuda::Stream(device);
  Tensor dx = Tensor::Empty(input_shape_, DType::kF32, device);
  if (pool_kind_ == Kind::kMax) {
    if (!cuda_ || !cuda_->argmax.defined() || cuda_->argmax.shape() != dy.shape()) {
      MILLRACE_THROW(ErrorKind::kInternal, Describe() << ": no argmax for the saved input");
    }
    cuda::LaunchMaxPool2dBackward(cuda::F32Data(dy),
                                  static_cast<const int32_t*>(cuda_->argmax.raw_data()),
                                  cuda::F32Data(dx), g, stream);
    MILLRACE_CUDA_LAUNCH_CHECK("MaxPool2dBackward");
  } else {
    cuda::LaunchAvgPool2dBackward(cuda::F32Data(dy), cuda::F32Data(dx),
                                  pool_kind_ == Kind::kAvgIncludePad, g, stream);
    MILLRACE_CUDA_LAUNCH_CHECK("AvgPool2dBackward");
  }
  return dx;
}

}  // namespace millrace::ops
