// Every op's CUDA kernels, registered into the op's KernelTable. One line per op, as in
// ops/cpu/register.cc: an op without a line here has no CUDA backend ("no kernel for <op> on
// cuda:0").
#include "ops/cuda/register.h"

#include "core/device.h"
#include "ops/activation/dropout.h"
#include "ops/activation/relu.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
#include "ops/linear/gemm.h"
#include "ops/linear/linear.h"
#include "ops/loss/loss_kernels.h"
#include "ops/metrics/classification.h"
#include "ops/optim/finite.h"
#include "ops/optim/update.h"
#include "ops/pooling/pooling.h"
#include "ops/prune/mask.h"
#include "ops/prune/ranking.h"

namespace millrace::ops::cuda {

void RegisterCudaKernels() {
  constexpr Device::Kind kCuda = Device::Kind::kCuda;
  // Layers: member functions in <op>_cuda.cc.
  Linear::Kernels().Set(kCuda, {&Linear::ForwardCuda, &Linear::BackwardCuda});
  ReLU::Kernels().Set(kCuda, {&ReLU::ForwardCuda, &ReLU::BackwardCuda});
  Dropout::Kernels().Set(kCuda, {&Dropout::ForwardCuda, &Dropout::BackwardCuda});
  Conv2d::Kernels().Set(kCuda, {&Conv2d::ForwardCuda, &Conv2d::BackwardCuda});
  BatchNorm2d::Kernels().Set(kCuda, {&BatchNorm2d::ForwardCuda, &BatchNorm2d::BackwardCuda});
  Pool2d::Kernels().Set(kCuda, {&Pool2d::ForwardCuda, &Pool2d::BackwardCuda});
  // Losses, optimizer updates, checks, pruning, metrics: functions in namespace cuda.
  SoftmaxCrossEntropyKernels().Set(kCuda, &cuda::SoftmaxCrossEntropy);
  SoftmaxCrossEntropyDeferredKernels().Set(kCuda, &cuda::SoftmaxCrossEntropyDeferred);
  MseKernels().Set(kCuda, &cuda::Mse);
  DistillationKernels().Set(kCuda, &cuda::Distillation);
  SgdUpdateKernels().Set(kCuda, &cuda::SgdUpdateAll);
  AdamWUpdateKernels().Set(kCuda, &cuda::AdamWUpdateAll);
  MaskMultiplyKernels().Set(kCuda, &cuda::MaskMultiply);
  CountZerosKernels().Set(kCuda, &cuda::CountZeros);
  L1ScoresKernels().Set(kCuda, &cuda::L1Scores);
  ChannelL2NormsKernels().Set(kCuda, &cuda::ChannelL2Norms);
  L1PruneKernels().Set(kCuda, &cuda::L1Prune);
  ClassificationCountsKernels().Set(kCuda, &cuda::ClassificationCounts);
  GemmKernels().Set(kCuda, &cuda::Gemm);
  AllFiniteKernels().Set(kCuda, &cuda::AllFinite);
}

}  // namespace millrace::ops::cuda
