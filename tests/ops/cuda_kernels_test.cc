// CUDA-only behaviour of the ops' CUDA kernels that the backend-parity tests do not reach: the
// optimizer's per-step scalars through a captured CUDA Graph, the top-k's tie rule on the
// device, the alignment of views handed to cuBLASLt, Dropout's masks over several steps, the
// rows counted before a bad label. Built only with the CUDA backend; every test skips, with
// the reason, where no GPU answers. Results are read after cuda::Synchronize: the ops queue
// work on the thread's stream.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend_parity.h"
#include "ops/activation/dropout.h"
#include "ops/activation/relu.h"
#include "ops/cuda/context.h"
#include "ops/kernel_table.h"
#include "ops/linear/linear.h"
#include "ops/loss/loss_kernels.h"
#include "ops/metrics/classification.h"
#include "ops/optim/update.h"
#include "ops/prune/magnitude.h"
#include "ops/prune/mask.h"
#include "ops/prune/ranking.h"

namespace millrace::ops {
namespace {

using testing::ExpectNear;
using testing::Random;

constexpr Device kGpu = Device::Cuda(0);

#define MILLRACE_SKIP_WITHOUT_GPU() MILLRACE_SKIP_WITHOUT_DEVICE(Device::Kind::kCuda)

Tensor Host(const Tensor& t) {
  cuda::Synchronize(t.device());
  return t.To(Device::Cpu());
}

std::vector<float> Floats(const Tensor& t) {
  Tensor h = t.device().is_cpu() ? t.View() : Host(t);
  return {h.data<float>(), h.data<float>() + h.numel()};
}

// Needs no GPU: this build's CUDA backend registers every op it implements.
TEST(CudaBackend, RegistersTheKernelsOfEveryOpItImplements) {
  constexpr Device::Kind kCuda = Device::Kind::kCuda;
  EXPECT_TRUE(Linear::Kernels().Has(kCuda));
  EXPECT_TRUE(ReLU::Kernels().Has(kCuda));
  EXPECT_TRUE(Dropout::Kernels().Has(kCuda));
  EXPECT_TRUE(SoftmaxCrossEntropyKernels().Has(kCuda));
  EXPECT_TRUE(MseKernels().Has(kCuda));
  EXPECT_TRUE(DistillationKernels().Has(kCuda));
  EXPECT_TRUE(SgdUpdateKernels().Has(kCuda));
  EXPECT_TRUE(AdamWUpdateKernels().Has(kCuda));
  EXPECT_TRUE(MaskMultiplyKernels().Has(kCuda));
  EXPECT_TRUE(CountZerosKernels().Has(kCuda));
  EXPECT_TRUE(L1ScoresKernels().Has(kCuda));
  EXPECT_TRUE(ChannelL2NormsKernels().Has(kCuda));
  EXPECT_TRUE(L1PruneKernels().Has(kCuda));
  EXPECT_TRUE(ClassificationCountsKernels().Has(kCuda));
}

// Several parameters (one masked, one larger than a chunk), updated eagerly step after step
// with a new lr each time: the scalars' ring of slots gives every step its own values.
TEST(CudaUpdate, EagerStepsWithChangingLrMatchTheCpu) {
  MILLRACE_SKIP_WITHOUT_GPU();
  const std::vector<Shape> shapes = {{7, 3}, {20000}, {5}};
  std::vector<Tensor> w_cpu, g_cpu, b_cpu, w_gpu, g_gpu, b_gpu;
  for (size_t i = 0; i < shapes.size(); ++i) {
    w_cpu.push_back(Random(shapes[i], 10 + i));
    g_cpu.push_back(Random(shapes[i], 20 + i));
    b_cpu.push_back(Random(shapes[i], 30 + i));
    w_gpu.push_back(w_cpu[i].To(kGpu));
    g_gpu.push_back(g_cpu[i].To(kGpu));
    b_gpu.push_back(b_cpu[i].To(kGpu));
  }
  Tensor mask = Random(shapes[0], 40, 0, 1);
  for (float& m : mask.span<float>()) m = m < 0.3f ? 0.0f : 1.0f;
  const Tensor mask_gpu = mask.To(kGpu);
  for (int step = 1; step <= 6; ++step) {  // more steps than slots
    auto tasks = [&](std::vector<Tensor>& w, std::vector<Tensor>& g, std::vector<Tensor>& b,
                     const Tensor& m) {
      std::vector<SgdUpdateTask> t;
      for (size_t i = 0; i < shapes.size(); ++i) {
        SgdUpdateConfig c{.lr = 0.1f / static_cast<float>(step),
                          .weight_decay = i == 2 ? 0.0f : 0.01f,
                          .momentum = 0.9f,
                          .nesterov = true,
                          .first_step = step == 1};
        t.push_back({&w[i], &g[i], &b[i], i == 0 ? &m : nullptr, c});
      }
      return t;
    };
    SgdUpdateAll(tasks(w_cpu, g_cpu, b_cpu, mask));
    SgdUpdateAll(tasks(w_gpu, g_gpu, b_gpu, mask_gpu));
  }
  for (size_t i = 0; i < shapes.size(); ++i) {
    EXPECT_EQ(Floats(w_gpu[i]), Floats(w_cpu[i])) << "weights " << i;
    EXPECT_EQ(Floats(b_gpu[i]), Floats(b_cpu[i])) << "momentum " << i;
    EXPECT_EQ(Floats(g_gpu[i]), Floats(g_cpu[i])) << "masked gradient " << i;
  }
}

// AdamW captured once in a CUDA Graph and replayed with each step's scalars staged: the bias
// corrections and lr of every replay are that step's, as an eager run computes them.
TEST(CudaUpdate, ACapturedAdamWReadsTheStagedScalarsAtEveryReplay) {
  MILLRACE_SKIP_WITHOUT_GPU();
  const Shape shape = {33, 17};
  const Tensor w0 = Random(shape, 1), g = Random(shape, 2);
  Tensor w_cpu = w0.Clone(), m_cpu = Tensor::Zeros(shape), v_cpu = Tensor::Zeros(shape);
  Tensor w = w0.To(kGpu), grad = g.To(kGpu);
  Tensor m = Tensor::Zeros(shape, DType::kF32, kGpu), v = Tensor::Zeros(shape, DType::kF32, kGpu);
  auto config = [](int step) {
    const double lr = 0.01 / step, beta1 = 0.9, beta2 = 0.99;
    return AdamWUpdateConfig{
        .decay = static_cast<float>(1 - lr * 0.01),
        .beta1 = static_cast<float>(beta1),
        .beta2 = static_cast<float>(beta2),
        .step_size = static_cast<float>(lr / (1 - std::pow(beta1, step))),
        .inv_sqrt_c2 = static_cast<float>(1 / std::sqrt(1 - std::pow(beta2, step))),
        .eps = 1e-8f};
  };
  Tensor grad_cpu = g.Clone();
  auto cpu_step = [&](int step) {
    const AdamWUpdateTask t{&w_cpu, &grad_cpu, &m_cpu, &v_cpu, nullptr, config(step)};
    AdamWUpdateAll({&t, 1});
  };
  auto gpu_task = [&](int step) {
    return AdamWUpdateTask{&w, &grad, &m, &v, nullptr, config(step)};
  };
  // Step 1 eagerly (the plan's tables are uploaded), step 2 captured, steps 2-5 replayed.
  cpu_step(1);
  const AdamWUpdateTask first = gpu_task(1);
  AdamWUpdateAll({&first, 1});
  cudaStream_t stream = cuda::Stream(kGpu);
  cuda::Synchronize(kGpu);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  const AdamWUpdateTask captured = gpu_task(2);
  AdamWUpdateAll({&captured, 1});  // recorded, not run
  ASSERT_EQ(cudaStreamEndCapture(stream, &graph), cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (int step = 2; step <= 5; ++step) {
    cpu_step(step);
    const AdamWUpdateTask staged = gpu_task(step);
    // The staging copy queues ahead of the launch on the same stream: no wait in between.
    cuda::StageAdamWUpdateForReplay({&staged, 1});
    ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
  }
  cuda::Synchronize(kGpu);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  EXPECT_EQ(Floats(w), Floats(w_cpu));
  EXPECT_EQ(Floats(m), Floats(m_cpu));
  EXPECT_EQ(Floats(v), Floats(v_cpu));
}

// Parameters on the GPU are pruned as on the CPU: the same entries, ties included (all equal
// scores: TorchTopK decides on the host), and without ties (CUB's sort decides).
TEST(CudaPrune, GlobalL1SelectsTheCpusEntriesWithAndWithoutTies) {
  MILLRACE_SKIP_WITHOUT_GPU();
  for (bool ties : {false, true}) {
    std::vector<Parameter> cpu(3), gpu(3);
    const std::vector<Shape> shapes = {{40, 30}, {7}, {300}};
    const char* const kNames[] = {"p0", "p1", "p2"};
    for (size_t i = 0; i < shapes.size(); ++i) {
      cpu[i] = MakeParameter(kNames[i], shapes[i], true);
      cpu[i].value = Random(shapes[i], 50 + i);
      if (ties) {
        for (float& x : cpu[i].value.span<float>()) x = x < 0 ? -0.25f : 0.25f;
      }
      gpu[i].name = cpu[i].name;
      gpu[i].value = cpu[i].value.To(kGpu);
    }
    for (int round = 0; round < 2; ++round) {  // the second composes with the first's masks
      GlobalL1Unstructured({&cpu[0], &cpu[1], &cpu[2]}, PruneAmount::Fraction(0.3));
      GlobalL1Unstructured({&gpu[0], &gpu[1], &gpu[2]}, PruneAmount::Fraction(0.3));
      for (size_t i = 0; i < shapes.size(); ++i) {
        EXPECT_EQ(Floats(gpu[i].mask), Floats(cpu[i].mask)) << "ties " << ties << " p" << i;
        EXPECT_EQ(Floats(gpu[i].value), Floats(cpu[i].value)) << "ties " << ties << " p" << i;
        EXPECT_EQ(PrunedCount(gpu[i]), PrunedCount(cpu[i]));
      }
    }
  }
}

TEST(CudaPrune, L2StructuredPrunesTheCpusChannels) {
  MILLRACE_SKIP_WITHOUT_GPU();
  Parameter cpu = MakeParameter("w", {16, 3, 3, 3}, true);
  cpu.value = Random(cpu.value.shape(), 60);
  Parameter gpu;
  gpu.name = "w";
  gpu.value = cpu.value.To(kGpu);
  for (int round = 0; round < 2; ++round) {
    L2Structured(cpu, PruneAmount::Count(5));
    L2Structured(gpu, PruneAmount::Count(5));
    EXPECT_EQ(Floats(gpu.mask), Floats(cpu.mask));
    EXPECT_EQ(Floats(gpu.value), Floats(cpu.value));
  }
}

// A view that starts 4 bytes into its storage: the cuBLASLt plan is chosen for that alignment.
TEST(CudaLinear, AMisalignedViewGivesTheCpusResult) {
  MILLRACE_SKIP_WITHOUT_GPU();
  SetComputePrecision(Precision::kFp32);  // the CPU's arithmetic (TF32, bf16: precision_test.cc)
  struct Restore {
    ~Restore() { SetComputePrecision(kDefaultPrecision); }
  } restore;
  for (bool fused : {false, true}) {
    Linear cpu(5, 3, true, 7), gpu(5, 3, true, 7);
    if (fused) {
      ReLU relu;
      cpu.FuseNext(&relu);
      gpu.FuseNext(&relu);
    }
    testing::MoveLayer(gpu, kGpu);
    const Tensor x = Random({9, 5}, 8);
    const Tensor x_view_cpu = x.Reshape({45}).Slice(1, 41).Reshape({8, 5});
    const Tensor x_gpu = x.To(kGpu);
    const Tensor x_view_gpu = x_gpu.Reshape({45}).Slice(1, 41).Reshape({8, 5});
    const Tensor dy = Random({8, 3}, 9);
    ExpectNear(Host(gpu.Forward(x_view_gpu, Mode::kTrain)), cpu.Forward(x_view_cpu, Mode::kTrain),
               1e-5, "y");
    ExpectNear(Host(gpu.Backward(dy.To(kGpu))), cpu.Backward(dy), 1e-4, "dx");
    ExpectNear(Host(gpu.weight().grad), cpu.weight().grad, 1e-4, "dW");
    ExpectNear(Host(gpu.bias()->grad), cpu.bias()->grad, 1e-4, "db");
  }
}

// Consecutive train-mode Forwards draw consecutive masks, the CPU's, and the staging of one is
// not overwritten before its copy ran.
TEST(CudaDropout, ConsecutiveForwardsDrawTheCpusMasks) {
  MILLRACE_SKIP_WITHOUT_GPU();
  Dropout cpu(0.4, 11), gpu(0.4, 11);
  for (int step = 0; step < 4; ++step) {
    const Tensor x = Random({64, 33}, 70 + step);
    const Tensor y_gpu = gpu.Forward(x.To(kGpu), Mode::kTrain);
    const Tensor y_cpu = cpu.Forward(x, Mode::kTrain);
    EXPECT_EQ(Floats(y_gpu), Floats(y_cpu)) << "step " << step;
  }
}

// As on the CPU, the rows before a bad label are counted, then the error names it.
TEST(CudaMetrics, RowsBeforeABadLabelAreCountedThenItThrows) {
  MILLRACE_SKIP_WITHOUT_GPU();
  const int64_t n = 6, c = 3;
  const Tensor logits = Random({n, c}, 80);
  Tensor labels = Tensor::Empty({n}, DType::kI64);
  for (int64_t i = 0; i < n; ++i) labels.data<int64_t>()[i] = i == 4 ? 7 : i % c;
  auto run = [&](Device device, std::vector<int64_t>& confusion, int64_t& correct,
                 double& loss) -> std::string {
    try {
      ClassificationCounts(logits.To(device), labels.To(device), {confusion, &correct, &loss});
    } catch (const Error& e) {
      return e.message();
    }
    return "no error";
  };
  std::vector<int64_t> confusion_cpu(c * c, 0), confusion_gpu(c * c, 0);
  int64_t correct_cpu = 0, correct_gpu = 0;
  double loss_cpu = 0, loss_gpu = 0;
  const std::string error_cpu = run(Device::Cpu(), confusion_cpu, correct_cpu, loss_cpu);
  EXPECT_EQ(run(kGpu, confusion_gpu, correct_gpu, loss_gpu), error_cpu);
  EXPECT_EQ(confusion_gpu, confusion_cpu);
  EXPECT_EQ(correct_gpu, correct_cpu);
  EXPECT_NEAR(loss_gpu, loss_cpu, 1e-12);  // exp and log in double: CUDA's and glibc's ulps
}

}  // namespace
}  // namespace millrace::ops
