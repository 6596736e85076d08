// Every op's CPU kernels, registered into the op's KernelTable. One line per op: an op without
// a line here has no CPU backend ("no kernel for <op> on cpu").
#include "ops/cpu/register.h"

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

namespace millrace::ops::cpu {

void RegisterCpuKernels() {
  constexpr Device::Kind kCpu = Device::Kind::kCpu;
  // Layers: member functions in <op>_cpu.cc.
  Linear::Kernels().Set(kCpu, {&Linear::ForwardCpu, &Linear::BackwardCpu});
  Conv2d::Kernels().Set(kCpu, {&Conv2d::ForwardCpu, &Conv2d::BackwardCpu});
  BatchNorm2d::Kernels().Set(kCpu, {&BatchNorm2d::ForwardCpu, &BatchNorm2d::BackwardCpu});
  Pool2d::Kernels().Set(kCpu, {&Pool2d::ForwardCpu, &Pool2d::BackwardCpu});
  ReLU::Kernels().Set(kCpu, {&ReLU::ForwardCpu, &ReLU::BackwardCpu});
  Dropout::Kernels().Set(kCpu, {&Dropout::ForwardCpu, &Dropout::BackwardCpu});
  // Matrix product, losses, optimizer updates, pruning, metrics: functions in namespace cpu.
  GemmKernels().Set(kCpu, &cpu::Gemm);
  SoftmaxCrossEntropyKernels().Set(kCpu, &cpu::SoftmaxCrossEntropy);
  SoftmaxCrossEntropyDeferredKernels().Set(kCpu, &cpu::SoftmaxCrossEntropyDeferred);
  MseKernels().Set(kCpu, &cpu::Mse);
  DistillationKernels().Set(kCpu, &cpu::Distillation);
  SgdUpdateKernels().Set(kCpu, &cpu::SgdUpdateAll);
  AdamWUpdateKernels().Set(kCpu, &cpu::AdamWUpdateAll);
  AllFiniteKernels().Set(kCpu, &cpu::AllFinite);
  MaskMultiplyKernels().Set(kCpu, &cpu::MaskMultiply);
  CountZerosKernels().Set(kCpu, &cpu::CountZeros);
  L1ScoresKernels().Set(kCpu, &cpu::L1Scores);
  ChannelL2NormsKernels().Set(kCpu, &cpu::ChannelL2Norms);
  L1PruneKernels().Set(kCpu, &cpu::L1Prune);
  ClassificationCountsKernels().Set(kCpu, &cpu::ClassificationCounts);
}

}  // namespace millrace::ops::cpu
