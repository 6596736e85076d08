// Every op's CUDA kernels, registered into the op's KernelTable. One line per op, as in
// ops/cpu/register.cc: an op without a line here has no CUDA backend ("no kernel for <op> on
// cuda:0").
#include "ops/cuda/register.h"

#include "core/device.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
#include "ops/linear/gemm.h"
#include "ops/optim/finite.h"
#include "ops/pooling/pooling.h"

namespace millrace::ops::cuda {

void RegisterCudaKernels() {
  constexpr Device::Kind kCuda = Device::Kind::kCuda;
  // Layers: member functions in <op>_cuda.cc.
  Conv2d::Kernels().Set(kCuda, {&Conv2d::ForwardCuda, &Conv2d::BackwardCuda});
  BatchNorm2d::Kernels().Set(kCuda, {&BatchNorm2d::ForwardCuda, &BatchNorm2d::BackwardCuda});
  Pool2d::Kernels().Set(kCuda, {&Pool2d::ForwardCuda, &Pool2d::BackwardCuda});
  // Matrix product, checks: functions in namespace cuda.
  GemmKernels().Set(kCuda, &cuda::Gemm);
  AllFiniteKernels().Set(kCuda, &cuda::AllFinite);
}

}  // namespace millrace::ops::cuda
