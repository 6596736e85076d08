// The backend seam's contract: one error wording for a device without a kernel, the compute
// thread's set-up per device, and Tensor::data refusing device memory.
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <functional>
#include <string>
#include <thread>

#include "core/error.h"
#include "ops/activation/dropout.h"
#include "ops/activation/relu.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/compute_thread.h"
#include "ops/conv2d/conv2d.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/kernel_table.h"
#include "ops/linear/gemm.h"
#include "ops/linear/linear.h"
#include "ops/loss/loss_kernels.h"
#include "ops/metrics/classification.h"
#include "ops/optim/finite.h"
#include "ops/optim/update.h"
#include "ops/pooling/pooling.h"
#include "ops/prune/mask.h"
#include "ops/prune/ranking.h"

namespace millrace::ops {
namespace {

// The Error that f throws (fails the test when it throws none).
Error Thrown(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no millrace::Error thrown";
  return Error(ErrorKind::kInternal, "none");
}

bool Compiled(Device::Kind kind) {
  for (Device::Kind k : CompiledBackends()) {
    if (k == kind) return true;
  }
  return false;
}

TEST(KernelTable, MissingKernelIsOneErrorNamingOpAndDevice) {
  using Fn = int (*)();
  KernelTable<Fn> table("Example");
  table.Set(Device::Kind::kCpu, [] { return 7; });
  EXPECT_EQ(table.Get(Device::Cpu())(), 7);
  EXPECT_TRUE(table.Has(Device::Kind::kCpu));
  EXPECT_FALSE(table.Has(Device::Kind::kCuda));
  Error e = Thrown([&] { table.Get(Device::Cuda(0)); });
  EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  EXPECT_EQ(e.message(), "no kernel for Example on cuda:0");
  EXPECT_EQ(Thrown([&] { table.Get(Device::Cuda(3), "Other"); }).message(),
            "no kernel for Other on cuda:3");
}

// Every op's table: a CPU kernel, and (for an op without CUDA kernels in this build, every op
// while it has no CUDA backend) the one error for cuda:0 with the op's name.
TEST(KernelTable, EveryOpHasCpuKernelsAndNamesItselfWhenCudaIsMissing) {
  struct Row {
    std::string op;
    std::function<bool(Device::Kind)> has;
    std::function<void(Device)> get;
  };
  auto row = [](auto& table) {
    return Row{std::string(table.op()), [&table](Device::Kind k) { return table.Has(k); },
               [&table](Device d) { table.Get(d); }};
  };
  const std::vector<Row> rows = {
      row(Linear::Kernels()),
      row(Conv2d::Kernels()),
      row(BatchNorm2d::Kernels()),
      row(Pool2d::Kernels()),
      row(ReLU::Kernels()),
      row(Dropout::Kernels()),
      row(GemmKernels()),
      row(SoftmaxCrossEntropyKernels()),
      row(SoftmaxCrossEntropyDeferredKernels()),
      row(MseKernels()),
      row(DistillationKernels()),
      row(SgdUpdateKernels()),
      row(AdamWUpdateKernels()),
      row(AllFiniteKernels()),
      row(MaskMultiplyKernels()),
      row(CountZerosKernels()),
      row(L1ScoresKernels()),
      row(ChannelL2NormsKernels()),
      row(L1PruneKernels()),
      row(ClassificationCountsKernels()),
  };
  EXPECT_EQ(rows[0].op, "Linear");
  for (const Row& r : rows) {
    for (Device::Kind kind : CompiledBackends()) EXPECT_TRUE(r.has(kind)) << r.op;
    if (Compiled(Device::Kind::kCuda)) continue;
    // An op whose CUDA kernels are registered ahead of CompiledBackends' switch to CUDA (the
    // integrator turns it on once every op has them) has nothing missing to name.
    if (r.has(Device::Kind::kCuda)) continue;
    Error e = Thrown([&] { r.get(Device::Cuda(0)); });
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << r.op;
    EXPECT_EQ(e.message(), "no kernel for " + r.op + " on cuda:0");
  }
}

TEST(KernelTable, CpuIsAlwaysCompiledFirst) {
  ASSERT_FALSE(CompiledBackends().empty());
  EXPECT_EQ(CompiledBackends()[0], Device::Kind::kCpu);
}

TEST(InitComputeThread, SetsTheCpuTeamAndRefusesDevicesWithoutBackend) {
  const int before = cpu::ComputeThreads();
  InitComputeThread(Device::Cpu(), 2);
  EXPECT_EQ(cpu::ComputeThreads(), 2);
  InitComputeThread(Device::Cpu(), 1);
  EXPECT_EQ(cpu::ComputeThreads(), 1);
  EXPECT_EQ(Thrown([] { InitComputeThread(Device::Cpu(), 0); }).kind(),
            ErrorKind::kInvalidArgument);
  if (CudaDeviceCount() <= 1) {  // cuda:1 is missing: say whether the backend or the device is
    Error e = Thrown([] { InitComputeThread(Device::Cuda(1), 1); });
    EXPECT_EQ(e.kind(), ErrorKind::kCuda);
    const std::string want = Compiled(Device::Kind::kCuda)
                                 ? "cuda:1 was asked for, but "
                                 : "no compute backend for cuda:1 in this build (";
    EXPECT_EQ(e.message().rfind(want, 0), 0u) << e.message();
  }
  InitComputeThread(Device::Cpu(), before);
}

// A compute thread and its whole OpenMP team flush denormals: 1e-39 (below 2^-126) reads as 0
// and a product that would be denormal comes out 0. The thread starts with both off and makes
// its team before InitComputeThread, so the members are set by the call, not by inheritance.
TEST(InitComputeThread, EveryThreadOfTheTeamFlushesDenormals) {
  auto DenormalSurvives = [] {
    volatile float tiny = 1e-39f;   // a denormal
    volatile float small = 1e-30f;  // normal; small * 1e-10 is denormal
    return tiny * 1.0f != 0.0f || small * 1e-10f != 0.0f;
  };
  constexpr unsigned kFtzDaz = 0x8040;
  bool before = false, after = false;
  int team = 0, kept_before = 0, flushing = 0;
  std::thread([&] {
    _mm_setcsr(_mm_getcsr() & ~kFtzDaz);
    before = DenormalSurvives();
#pragma omp parallel num_threads(3) reduction(+ : kept_before)
    kept_before += DenormalSurvives() ? 1 : 0;
    InitComputeThread(Device::Cpu(), 3);
    after = DenormalSurvives();
#pragma omp parallel reduction(+ : team, flushing)
    {
      team += 1;
      flushing += cpu::FlushesDenormals() && !DenormalSurvives() ? 1 : 0;
    }
  }).join();
  EXPECT_TRUE(before);
  EXPECT_EQ(kept_before, 3);
  EXPECT_FALSE(after);
  EXPECT_EQ(team, 3);
  EXPECT_EQ(flushing, 3);
}

// With a GPU: a tensor in device memory is refused by data() and span(), and a layer without a
// CUDA kernel says so in the seam's words.
TEST(DeviceTensor, DataRefusesADeviceTensorAndRawDataDoesNot) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device: " << CudaUnavailableReason();
  Tensor x = Tensor::Zeros({2, 3}, DType::kF32, Device::Cuda(0));
  Error e = Thrown([&] { x.data<float>(); });
  EXPECT_EQ(e.message(),
            "Tensor::data: tensor is on cuda:0; copy it to the CPU first (To(Device::Cpu()))");
  EXPECT_EQ(Thrown([&] { x.span<float>(); }).message(), e.message());
  EXPECT_NE(x.raw_data(), nullptr);
  Tensor h = x.To(Device::Cpu());
  EXPECT_EQ(h.data<float>()[0], 0.0f);
}

TEST(DeviceTensor, CpuTensorsStillHandOutTheirData) {
  Tensor t = Tensor::FromVector({3}, {1.0f, 2.0f, 3.0f});
  EXPECT_EQ(t.data<float>()[2], 3.0f);
  EXPECT_EQ(t.span<float>().size(), 3u);
  EXPECT_EQ(Thrown([&] { t.data<int32_t>(); }).kind(), ErrorKind::kInvalidArgument);
}

}  // namespace
}  // namespace millrace::ops
