// Backend parity of Gemm (C = A B, plain row-major f32) on every backend that registers it,
// against a naive double loop and the CPU backend: non-square shapes (a swapped operand or a
// wrong leading dimension of the column-major cuBLAS call shows there), FP32 to 1e-5, TF32 (CUDA)
// within the error that rounding the inputs to a 10-bit mantissa allows; the argument checks,
// the CPU's refusal of TF32, and ops::Synchronize. The rows are the backends with a Gemm kernel,
// not CompiledBackends(), which lists CUDA only once every op has CUDA kernels; the CUDA row
// skips, with the reason, where no GPU answers.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "ops/compute_thread.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/linear/gemm.h"
#include "tests/ops/backend_parity.h"

namespace millrace::ops {
namespace {

using testing::BackendDevice;
using testing::ExpectNear;
using testing::Random;
using testing::Values;

constexpr double kGemmFp32Tol = 1e-5;

// The CPU, and CUDA where this build registers a CUDA Gemm.
std::vector<Device::Kind> GemmBackendKinds() {
  std::vector<Device::Kind> kinds = {Device::Kind::kCpu};
  if (GemmKernels().Has(Device::Kind::kCuda)) kinds.push_back(Device::Kind::kCuda);
  return kinds;
}

class GemmParity : public ::testing::TestWithParam<Device::Kind> {
 protected:
  void SetUp() override { MILLRACE_SKIP_WITHOUT_DEVICE(GetParam()); }
  Device device() const { return BackendDevice(GetParam()); }
};

struct GemmShape {
  int64_t m, k, n;
};

// Non-square, odd and degenerate (a row, a column, K = 1) shapes.
const std::vector<GemmShape> kGemmShapes = {
    {3, 5, 7}, {17, 33, 9}, {64, 1, 10}, {1, 129, 65}, {130, 257, 70}, {31, 8, 1},
};

// c[i, j] = sum_k a[i, k] b[k, j] in double, and the bound sum_k |a[i, k]| |b[k, j]|.
void NaiveGemm(const Tensor& a, const Tensor& b, std::vector<double>& c,
               std::vector<double>& magnitude) {
  const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
  const std::vector<double> av = Values(a), bv = Values(b);
  c.assign(m * n, 0.0);
  magnitude.assign(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t p = 0; p < k; ++p) {
        c[i * n + j] += av[i * k + p] * bv[p * n + j];
        magnitude[i * n + j] += std::fabs(av[i * k + p] * bv[p * n + j]);
      }
    }
  }
}

// A c whose every element is NaN, on `device`: Gemm must overwrite it (beta = 0), not add to it.
Tensor NanFilled(int64_t m, int64_t n, Device device) {
  Tensor c = Tensor::Empty({m, n});
  c.Fill(std::numeric_limits<float>::quiet_NaN());
  return c.To(device);
}

std::string GemmShapeName(const GemmShape& s) {
  return std::to_string(s.m) + "x" + std::to_string(s.k) + "x" + std::to_string(s.n);
}

TEST_P(GemmParity, Fp32MatchesTheNaiveLoopAndTheCpu) {
  uint64_t seed = 100;
  for (const GemmShape& s : kGemmShapes) {
    const Tensor a = Random({s.m, s.k}, seed++), b = Random({s.k, s.n}, seed++);
    Tensor c = NanFilled(s.m, s.n, device());
    Gemm(a.To(device()), b.To(device()), c);
    EXPECT_EQ(c.device(), device());
    std::vector<double> want, magnitude;
    NaiveGemm(a, b, want, magnitude);
    ExpectNear(c, want, kGemmFp32Tol, "gemm fp32 " + GemmShapeName(s) + " vs naive");
    Tensor cpu;
    Gemm(a, b, cpu);  // undefined c: allocated by Gemm
    ExpectNear(c, cpu, kGemmFp32Tol, "gemm fp32 " + GemmShapeName(s) + " vs cpu");
  }
}

// TF32 rounds each input to 10 mantissa bits (relative error <= 2^-10 each, rounded or
// truncated) and sums in FP32: |c - exact| <= 2^-8 sum_k |a b| covers both and the sum, and is
// still far below what a wrong operand or leading dimension gives (errors of the size of c).
TEST_P(GemmParity, Tf32IsWithinTheRoundingOfItsInputs) {
  if (GetParam() == Device::Kind::kCpu) GTEST_SKIP() << "the CPU refuses TF32 (tested below)";
  uint64_t seed = 200;
  for (const GemmShape& s : kGemmShapes) {
    const Tensor a = Random({s.m, s.k}, seed++), b = Random({s.k, s.n}, seed++);
    Tensor c = NanFilled(s.m, s.n, device());
    Gemm(a.To(device()), b.To(device()), c, GemmMath::kTf32);
    std::vector<double> want, magnitude;
    NaiveGemm(a, b, want, magnitude);
    const std::vector<double> got = Values(c);
    int reported = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double bound = std::ldexp(magnitude[i], -8) + 1e-6;
      if (!(std::fabs(got[i] - want[i]) <= bound) && reported++ < 5) {
        ADD_FAILURE() << "gemm tf32 " << GemmShapeName(s) << " [" << i << "] = " << got[i]
                      << ", expected " << want[i] << " within " << bound;
      }
    }
  }
}

TEST_P(GemmParity, EmptyProductsAndKZero) {
  Tensor c = NanFilled(3, 4, device());
  Gemm(Tensor::Zeros({3, 0}, DType::kF32, device()), Tensor::Zeros({0, 4}, DType::kF32, device()),
       c);
  ExpectNear(c, std::vector<double>(12, 0.0), 0, "gemm with K = 0");
  Tensor empty;
  Gemm(Tensor::Zeros({0, 5}, DType::kF32, device()), Tensor::Zeros({5, 4}, DType::kF32, device()),
       empty);
  EXPECT_EQ(empty.shape(), Shape({0, 4}));
  EXPECT_EQ(empty.device(), device());
}

TEST_P(GemmParity, RefusesMismatchedArguments) {
  const Tensor a = Random({3, 4}, 1).To(device()), b = Random({4, 5}, 2).To(device());
  auto message = [&](const Tensor& x, const Tensor& y, Tensor& out) {
    try {
      Gemm(x, y, out);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.message();
      return e.message();
    }
    ADD_FAILURE() << "no error";
    return std::string();
  };
  Tensor c = Tensor::Empty({3, 5}, DType::kF32, device());
  EXPECT_NE(message(b, a, c).find("a's columns must equal b's rows"), std::string::npos);
  Tensor wrong = Tensor::Empty({5, 3}, DType::kF32, device());
  EXPECT_NE(message(a, b, wrong).find("c is [5, 3]"), std::string::npos);
  Tensor ints = Tensor::Empty({3, 5}, DType::kI32, device());
  EXPECT_NE(message(a, b, ints).find("f32"), std::string::npos);
  const Tensor flat = Random({12}, 3).To(device());
  EXPECT_NE(message(flat, b, c).find("2-D"), std::string::npos);
  Tensor square = Random({4, 4}, 4).To(device());
  Tensor alias = square.View();
  EXPECT_NE(message(square, square, alias).find("share memory"), std::string::npos);
  if (!device().is_cpu()) {
    Tensor host_c = Tensor::Empty({3, 5});
    EXPECT_NE(message(a, b, host_c).find("c on cpu"), std::string::npos);
  }
}

// The CPU has no TF32 path: it says so rather than computing FP32 under a TF32 label.
TEST(Gemm, CpuRefusesTf32) {
  const Tensor a = Random({2, 3}, 5), b = Random({3, 2}, 6);
  Tensor c;
  try {
    Gemm(a, b, c, GemmMath::kTf32);
    ADD_FAILURE() << "no error for tf32 on the cpu";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(e.message(),
              "Gemm: tf32 math needs a CUDA device; the CPU computes fp32 only (GemmMath::kFp32)");
  }
}

// One oneDNN primitive per shape: after the first call of a shape, calls create nothing.
TEST(Gemm, CpuCreatesOnePrimitivePerShape) {
  const Tensor a = Random({7, 9}, 7), b = Random({9, 11}, 8);
  Tensor c;
  Gemm(a, b, c);
  const int64_t after_first = cpu::PrimitiveCacheMisses();
  for (int i = 0; i < 3; ++i) Gemm(a, b, c);
  EXPECT_EQ(cpu::PrimitiveCacheMisses(), after_first);
  Tensor other;
  Gemm(b, Random({11, 2}, 9), other);
  EXPECT_EQ(cpu::PrimitiveCacheMisses(), after_first + 1);
}

// Synchronize: a no-op on the CPU; on a GPU it returns once the queued product is done, so the
// host copy that follows (which also waits) reads the result either way.
TEST_P(GemmParity, SynchronizeWaitsForQueuedWork) {
  const Tensor a = Random({256, 128}, 10), b = Random({128, 192}, 11);
  Tensor c = NanFilled(256, 192, device());
  Gemm(a.To(device()), b.To(device()), c);
  Synchronize(device());
  std::vector<double> want, magnitude;
  NaiveGemm(a, b, want, magnitude);
  ExpectNear(c, want, kGemmFp32Tol, "gemm after Synchronize");
}

INSTANTIATE_TEST_SUITE_P(Backends, GemmParity, ::testing::ValuesIn(GemmBackendKinds()),
                         testing::BackendName);

}  // namespace
}  // namespace millrace::ops
