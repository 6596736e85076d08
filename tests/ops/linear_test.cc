#include "ops/linear/linear.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "ops/activation/relu.h"
#include "ops/sequential.h"
#include "tests/common/same_bits.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

using testing::ExpectGradientsMatch;
using testing::RandomTensor;

// y[n][o] = b[o] + sum_i x[n][i] W[o][i], in double.
std::vector<double> NaiveLinear(const Tensor& x, const Tensor& w, const Tensor* b) {
  const int64_t n = x.dim(0), in = x.dim(1), out = w.dim(0);
  std::vector<double> y(n * out);
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double s = b ? b->data<float>()[o] : 0.0;
      for (int64_t i = 0; i < in; ++i)
        s += double(x.data<float>()[r * in + i]) * w.data<float>()[o * in + i];
      y[r * out + o] = s;
    }
  }
  return y;
}

TEST(Linear, ForwardMatchesNaive) {
  for (bool bias : {true, false}) {
    Linear fc(13, 7, bias, /*seed=*/3);
    Tensor x = RandomTensor({5, 13}, 11);
    Tensor y = fc.Forward(x, Mode::kEval);
    ASSERT_EQ(y.shape(), (Shape{5, 7}));
    std::vector<double> ref = NaiveLinear(x, fc.weight().value, bias ? &fc.bias()->value : nullptr);
    for (int64_t i = 0; i < y.numel(); ++i) EXPECT_NEAR(y.data<float>()[i], ref[i], 1e-5) << i;
  }
}

TEST(Linear, BackwardMatchesFiniteDifferences) {
  Linear fc(9, 6, true, 5);
  ExpectGradientsMatch(fc, RandomTensor({4, 9}, 7), 8);
  Linear no_bias(9, 6, false, 5);
  ExpectGradientsMatch(no_bias, RandomTensor({3, 9}, 9), 10);
}

// A Linear with a fused ReLU (the matmul's epilogue, dy masked in the bias pass) gives the same
// bits as a Linear then a ReLU, forward and backward, in train and eval mode; a Sequential fuses
// Linear + ReLU and skips the ReLU.
TEST(Linear, FusedReluHasTheBitsOfLinearThenRelu) {
  for (bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "bias" : "no bias");
    Linear fused(20, 30, bias, 4), plain(20, 30, bias, 4);
    ReLU relu;
    ASSERT_TRUE(fused.FuseNext(&relu));
    ASSERT_TRUE(fused.fused_relu());
    const Tensor x = RandomTensor({16, 20}, 5);
    const Tensor dy = RandomTensor({16, 30}, 6);
    for (int step = 0; step < 2; ++step) {  // the second adds into the grads
      const Tensor y_fused = fused.Forward(x, Mode::kTrain);
      const Tensor y = relu.Forward(plain.Forward(x, Mode::kTrain), Mode::kTrain);
      ASSERT_TRUE(testing::SameBits(y_fused, y)) << "step " << step;
      int64_t zeros = 0;
      for (float v : y.span<float>()) zeros += v == 0;
      ASSERT_GT(zeros, 0);  // the mask has work to do
      ASSERT_LT(zeros, y.numel());
      const Tensor dx_fused = fused.Backward(dy);
      const Tensor dx = plain.Backward(relu.Backward(dy));
      EXPECT_TRUE(testing::SameBits(dx_fused, dx)) << "step " << step;
      EXPECT_TRUE(testing::SameBits(fused.weight().grad, plain.weight().grad)) << "step " << step;
      if (bias) {
        EXPECT_TRUE(testing::SameBits(fused.bias()->grad, plain.bias()->grad));
      }
    }
    EXPECT_TRUE(testing::SameBits(fused.Forward(x, Mode::kEval),
                                  relu.Forward(plain.Forward(x, Mode::kEval), Mode::kEval)));
    EXPECT_FALSE(fused.FuseNext(nullptr));
    EXPECT_TRUE(testing::SameBits(fused.Forward(x, Mode::kEval), plain.Forward(x, Mode::kEval)));
  }
  Sequential model;
  model.Add("fc1", std::make_unique<Linear>(20, 30, true, 4));
  model.Add("relu1", std::make_unique<ReLU>());
  model.Add("fc2", std::make_unique<Linear>(30, 5, true, 7));
  model.Forward(RandomTensor({16, 20}, 5), Mode::kEval);
  EXPECT_TRUE(dynamic_cast<Linear&>(model.layer(0)).fused_relu());
}

TEST(Linear, BackwardAddsIntoGrad) {
  Linear fc(4, 3, true, 1);
  Tensor x = RandomTensor({2, 4}, 2);
  Tensor dy = RandomTensor({2, 3}, 3);
  fc.Forward(x, Mode::kTrain);
  fc.Backward(dy);
  Tensor once = fc.weight().grad.Clone();
  Tensor once_b = fc.bias()->grad.Clone();
  fc.Forward(x, Mode::kTrain);
  fc.Backward(dy);
  for (int64_t i = 0; i < once.numel(); ++i) {
    EXPECT_FLOAT_EQ(fc.weight().grad.data<float>()[i], 2 * once.data<float>()[i]);
  }
  for (int64_t i = 0; i < once_b.numel(); ++i) {
    EXPECT_FLOAT_EQ(fc.bias()->grad.data<float>()[i], 2 * once_b.data<float>()[i]);
  }
}

TEST(Linear, InitIsSeededAndBounded) {
  Linear a(100, 20, true, 42), b(100, 20, true, 42), c(100, 20, true, 43);
  EXPECT_TRUE(testing::SameBits(a.weight().value, b.weight().value));
  EXPECT_FALSE(testing::SameBits(a.weight().value, c.weight().value));
  for (float v : a.weight().value.span<float>()) EXPECT_LE(std::abs(v), 0.1f);
}

TEST(Linear, ShapeErrorsNameTheLayer) {
  Linear fc(784, 500);
  try {
    fc.Forward(Tensor::Zeros({128, 785}), Mode::kTrain);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(e.message(), "Linear(784 -> 500): input [128, 785] has 785 features, expected 784");
  }
  EXPECT_THROW(fc.Forward(Tensor::Zeros({128, 28, 28}), Mode::kTrain), Error);
  EXPECT_THROW(fc.Backward(Tensor::Zeros({128, 500})), Error);  // no Forward yet
  fc.Forward(Tensor::Zeros({4, 784}), Mode::kTrain);
  EXPECT_THROW(fc.Backward(Tensor::Zeros({4, 499})), Error);
}

// A CUDA tensor runs on the CUDA backend where this build has one (the parity tests check its
// values), and otherwise names the missing kernel.
TEST(Linear, CudaTensorRunsOnItsBackendOrNamesTheMissingKernel) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device: " << CudaUnavailableReason();
  Linear fc(4, 3);
  Tensor x = Tensor::Zeros({2, 4}).To(Device::Cuda(0));
  if (Linear::Kernels().Has(Device::Kind::kCuda)) {
    const Tensor y = fc.Forward(x, Mode::kTrain);
    EXPECT_EQ(y.device(), Device::Cuda(0));
    EXPECT_EQ(y.shape(), (Shape{2, 3}));
    return;
  }
  try {
    fc.Forward(x, Mode::kTrain);
    FAIL() << "no error";
  } catch (const Error& e) {
    // The backend seam's one wording for a device without a kernel (ops/kernel_table.h).
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(e.message(), "no kernel for Linear on cuda:0");
  }
}

TEST(Linear, Accessors) {
  Linear fc(10, 4, false);
  EXPECT_EQ(fc.in_features(), 10);
  EXPECT_EQ(fc.out_features(), 4);
  EXPECT_EQ(fc.bias(), nullptr);
  EXPECT_EQ(fc.weight().value.shape(), (Shape{4, 10}));
  EXPECT_EQ(fc.ForwardFlops({8, 10}), 2 * 8 * 10 * 4);
  EXPECT_EQ(fc.Parameters().size(), 1u);
}

}  // namespace
}  // namespace millrace::ops
