#include "ops/batchnorm/batchnorm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

using testing::RandomTensor;

struct Stats {
  std::vector<double> mean, var;  // biased variance
};

Stats NaiveStats(const Tensor& x) {
  const int64_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3);
  Stats s{std::vector<double>(c, 0.0), std::vector<double>(c, 0.0)};
  const float* p = x.data<float>();
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) s.mean[ch] += p[(i * c + ch) * hw + j];
    s.mean[ch] /= double(n * hw);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < hw; ++j) {
        const double d = p[(i * c + ch) * hw + j] - s.mean[ch];
        s.var[ch] += d * d;
      }
    s.var[ch] /= double(n * hw);
  }
  return s;
}

void ExpectNormalized(const Tensor& x, const Tensor& y, const std::vector<double>& mean,
                      const std::vector<double>& var, const Tensor& gamma, const Tensor& beta,
                      double eps) {
  const int64_t c = x.dim(1), hw = x.dim(2) * x.dim(3);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t ch = (i / hw) % c;
    const double ref =
        (x.data<float>()[i] - mean[ch]) / std::sqrt(var[ch] + eps) * gamma.data<float>()[ch] +
        beta.data<float>()[ch];
    ASSERT_NEAR(y.data<float>()[i], ref, 1e-4) << "element " << i;
  }
}

// gamma and beta away from their (1, 0) defaults.
void RandomAffine(BatchNorm2d& bn, uint64_t seed) {
  Rng rng(seed);
  UniformFill(bn.weight().value, 0.5, 1.5, rng);
  UniformFill(bn.bias().value, -0.5, 0.5, rng);
}

TEST(BatchNorm2d, TrainForwardAndRunningStats) {
  BatchNorm2d bn(3);
  RandomAffine(bn, 1);
  Tensor x1 = RandomTensor({4, 3, 5, 2}, 2, -1.0, 3.0);
  Tensor x2 = RandomTensor({4, 3, 5, 2}, 3, -2.0, 1.0);
  Tensor y1 = bn.Forward(x1, Mode::kTrain);
  const Stats s1 = NaiveStats(x1);
  ExpectNormalized(x1, y1, s1.mean, s1.var, bn.weight().value, bn.bias().value, 1e-5);
  bn.Forward(x2, Mode::kTrain);
  const Stats s2 = NaiveStats(x2);
  const double m = 4 * 5 * 2;
  for (int ch = 0; ch < 3; ++ch) {
    // Two updates with momentum 0.1 from (0, 1), variance unbiased.
    const double mean = 0.9 * (0.9 * 0.0 + 0.1 * s1.mean[ch]) + 0.1 * s2.mean[ch];
    const double var =
        0.9 * (0.9 * 1.0 + 0.1 * s1.var[ch] * m / (m - 1)) + 0.1 * s2.var[ch] * m / (m - 1);
    EXPECT_NEAR(bn.running_mean().data<float>()[ch], mean, 1e-5);
    EXPECT_NEAR(bn.running_var().data<float>()[ch], var, 1e-5);
  }
}

TEST(BatchNorm2d, EvalUsesRunningStats) {
  BatchNorm2d bn(2);
  RandomAffine(bn, 4);
  Rng rng(5);
  UniformFill(bn.running_mean(), -1, 1, rng);
  UniformFill(bn.running_var(), 0.5, 2, rng);
  Tensor x = RandomTensor({3, 2, 4, 4}, 6);
  Tensor before = bn.running_mean().Clone();
  Tensor y = bn.Forward(x, Mode::kEval);
  std::vector<double> mean, var;
  for (int ch = 0; ch < 2; ++ch) {
    mean.push_back(bn.running_mean().data<float>()[ch]);
    var.push_back(bn.running_var().data<float>()[ch]);
  }
  ExpectNormalized(x, y, mean, var, bn.weight().value, bn.bias().value, 1e-5);
  EXPECT_TRUE(testing::SameBits(before, bn.running_mean()));
  EXPECT_THROW(bn.Backward(y), Error);  // eval keeps nothing for Backward
}

TEST(BatchNorm2d, BackwardMatchesFiniteDifferences) {
  BatchNorm2d bn(3);
  RandomAffine(bn, 7);
  testing::ExpectGradientsMatch(bn, RandomTensor({3, 3, 3, 2}, 8, -2.0, 2.0), 9,
                                {.eps = 1e-2, .atol = 3e-3, .rtol = 2e-2});
}

TEST(BatchNorm2d, NamesBuffersAndErrors) {
  BatchNorm2d bn(16);
  EXPECT_EQ(bn.channels(), 16);
  EXPECT_EQ(bn.Describe(), "BatchNorm2d(16)");
  ASSERT_EQ(bn.Buffers().size(), 2u);
  EXPECT_EQ(bn.Buffers()[1].first, "running_var");
  EXPECT_FALSE(bn.weight().decay);
  try {
    bn.Forward(Tensor::Zeros({2, 8, 4, 4}), Mode::kTrain);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "BatchNorm2d(16): input [2, 8, 4, 4] has 8 channels, expected 16");
  }
  EXPECT_THROW(bn.Forward(Tensor::Zeros({1, 16, 1, 1}), Mode::kTrain), Error);
}

}  // namespace
}  // namespace millrace::ops
