// Losses: values against hand-computed and naive double-precision references, gradients against
// central finite differences.
#include "ops/loss/loss.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "core/error.h"

namespace millrace::ops {
namespace {

Tensor Labels(std::vector<int64_t> values) {
  Tensor t = Tensor::Empty({static_cast<int64_t>(values.size())}, DType::kI64);
  for (size_t i = 0; i < values.size(); ++i) t.data<int64_t>()[i] = values[i];
  return t;
}

Tensor Random(Shape shape, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, scale);
  Tensor t = Tensor::Empty(std::move(shape));
  for (float& v : t.span<float>()) v = normal(rng);
  return t;
}

// Central differences of loss(x) with respect to every element of x, compared with `grad`.
void ExpectGradientMatches(Tensor& x, const Tensor& grad, const std::function<double()>& loss,
                           double h, double tolerance) {
  float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float saved = p[i];
    p[i] = saved + static_cast<float>(h);
    const double up = loss();
    p[i] = saved - static_cast<float>(h);
    const double down = loss();
    p[i] = saved;
    const double numeric = (up - down) / (2 * h);
    EXPECT_NEAR(grad.data<float>()[i], numeric, tolerance) << "element " << i;
  }
}

TEST(SoftmaxCrossEntropy, MatchesHandComputedValue) {
  // Row 0: logits (1, 2, 3), label 2; row 1: logits (0.5, -1, 0), label 0.
  Tensor logits = Tensor::FromVector({2, 3}, {1, 2, 3, 0.5f, -1, 0});
  LossResult r = SoftmaxCrossEntropy(logits, Labels({2, 0}));
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0;
  const double row1 = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(0.0)) - 0.5;
  EXPECT_NEAR(r.loss, (row0 + row1) / 2, 1e-6);
  // Gradient of row 0: (softmax - onehot) / 2.
  const double sum0 = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(r.grad.data<float>()[0], std::exp(1.0) / sum0 / 2, 1e-7);
  EXPECT_NEAR(r.grad.data<float>()[2], (std::exp(3.0) / sum0 - 1) / 2, 1e-7);
}

TEST(SoftmaxCrossEntropy, StableForHugeLogits) {
  // Softmax is shift-invariant: logits around 1e4 give the loss of (0, 1, -2), not inf or nan.
  Tensor logits = Tensor::FromVector({1, 3}, {1e4f, 1e4f + 1, 1e4f - 2});
  LossResult r = SoftmaxCrossEntropy(logits, Labels({0}));
  const double expected = std::log(1 + std::exp(1.0) + std::exp(-2.0));
  ASSERT_TRUE(std::isfinite(r.loss));
  EXPECT_NEAR(r.loss, expected, 1e-5);
  const double sum = 1 + std::exp(1.0) + std::exp(-2.0);
  EXPECT_NEAR(r.grad.data<float>()[0], 1 / sum - 1, 1e-6);
  EXPECT_NEAR(r.grad.data<float>()[1], std::exp(1.0) / sum, 1e-6);
  // Negative huge logits too: the true class far below the others gives a loss of about 2e4.
  Tensor low = Tensor::FromVector({1, 2}, {-1e4f, 1e4f});
  LossResult r2 = SoftmaxCrossEntropy(low, Labels({0}));
  EXPECT_NEAR(r2.loss, 2e4, 1e-2);
  EXPECT_NEAR(r2.grad.data<float>()[0], -1.0, 1e-6);
}

TEST(SoftmaxCrossEntropy, GradientMatchesFiniteDifferences) {
  Tensor logits = Random({4, 5}, 2.0f, 1);
  Tensor labels = Labels({0, 4, 2, 2});
  LossResult r = SoftmaxCrossEntropy(logits, labels);
  ExpectGradientMatches(
      logits, r.grad, [&] { return SoftmaxCrossEntropy(logits, labels).loss; }, 1e-3, 2e-4);
}

TEST(SoftmaxCrossEntropy, LabelOutOfRangeNamesIndexAndValue) {
  Tensor logits = Tensor::Zeros({3, 4});
  try {
    SoftmaxCrossEntropy(logits, Labels({1, 3, 7}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_NE(e.message().find("batch index 2"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("is 7"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SoftmaxCrossEntropy(logits, Labels({1, -1, 0})), Error);
  EXPECT_THROW(SoftmaxCrossEntropy(logits, Labels({1, 2})), Error);  // batch mismatch
}

TEST(SoftmaxCrossEntropy, LabelSmoothingMatchesHandComputedValue) {
  // e = 0.3 over C = 3: q = (0.1, 0.1, 0.8) for label 2; loss = -sum_c q[c] log softmax[c].
  Tensor logits = Tensor::FromVector({1, 3}, {1, 2, 3});
  LossResult r = SoftmaxCrossEntropy(logits, Labels({2}), 0.3);
  const double sum = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const double q[3] = {0.1, 0.1, 0.8};
  double expected = 0;
  for (int c = 0; c < 3; ++c) expected -= q[c] * std::log(std::exp(c + 1.0) / sum);
  EXPECT_NEAR(r.loss, expected, 1e-6);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(r.grad.data<float>()[c], std::exp(c + 1.0) / sum - q[c], 1e-7) << "class " << c;
  }
  // Smoothing 0 is the plain loss, bit for bit.
  Tensor x = Random({4, 5}, 2.0f, 8);
  Tensor labels = Labels({0, 4, 2, 2});
  LossResult plain = SoftmaxCrossEntropy(x, labels);
  LossResult zero = SoftmaxCrossEntropy(x, labels, 0.0);
  EXPECT_EQ(plain.loss, zero.loss);
  for (int64_t i = 0; i < x.numel(); ++i) {
    EXPECT_EQ(plain.grad.data<float>()[i], zero.grad.data<float>()[i]);
  }
}

TEST(SoftmaxCrossEntropy, LabelSmoothingGradientMatchesFiniteDifferences) {
  Tensor logits = Random({4, 5}, 2.0f, 9);
  Tensor labels = Labels({1, 3, 0, 3});
  LossResult r = SoftmaxCrossEntropy(logits, labels, 0.1);
  ExpectGradientMatches(
      logits, r.grad, [&] { return SoftmaxCrossEntropy(logits, labels, 0.1).loss; }, 1e-3, 2e-4);
  EXPECT_THROW(SoftmaxCrossEntropy(logits, labels, 1.0), Error);
  EXPECT_THROW(SoftmaxCrossEntropy(logits, labels, -0.1), Error);
}

TEST(MseLoss, ValueAndGradient) {
  Tensor p = Tensor::FromVector({2, 2}, {1, 2, 3, 4});
  Tensor t = Tensor::FromVector({2, 2}, {1.5f, 2, 1, 4});
  LossResult r = MseLoss(p, t);
  EXPECT_NEAR(r.loss, (0.25 + 0 + 4 + 0) / 4, 1e-7);
  EXPECT_FLOAT_EQ(r.grad.data<float>()[0], 2 * -0.5f / 4);
  EXPECT_FLOAT_EQ(r.grad.data<float>()[2], 2 * 2.0f / 4);
  Tensor x = Random({3, 4}, 1.0f, 2);
  Tensor y = Random({3, 4}, 1.0f, 3);
  LossResult rx = MseLoss(x, y);
  ExpectGradientMatches(
      x, rx.grad, [&] { return MseLoss(x, y).loss; }, 1e-3, 1e-4);
}

// The distillation loss written the obvious way, in double.
double NaiveDistillation(const Tensor& s, const Tensor& t, const std::vector<int64_t>& labels,
                         double alpha, double temp, double smoothing = 0) {
  const int64_t batch = s.dim(0), classes = s.dim(1);
  double kl = 0, ce = 0;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<double> ps(classes), pt(classes), p1(classes);
    double zs = 0, zt = 0, z1 = 0;
    for (int64_t c = 0; c < classes; ++c) {
      ps[c] = std::exp(s.data<float>()[b * classes + c] / temp);
      pt[c] = std::exp(t.data<float>()[b * classes + c] / temp);
      p1[c] = std::exp(static_cast<double>(s.data<float>()[b * classes + c]));
      zs += ps[c], zt += pt[c], z1 += p1[c];
    }
    for (int64_t c = 0; c < classes; ++c) {
      const double a = pt[c] / zt, q = ps[c] / zs;
      kl += a * std::log(a / q);
    }
    for (int64_t c = 0; c < classes; ++c) {
      const double q = (c == labels[b] ? 1 - smoothing : 0) + smoothing / classes;
      ce -= q * std::log(p1[c] / z1);
    }
  }
  return (alpha * temp * temp * kl + (1 - alpha) * ce) / static_cast<double>(batch);
}

TEST(DistillationLoss, MatchesNaiveDoubleImplementation) {
  Tensor s = Random({3, 6}, 2.0f, 4);
  Tensor t = Random({3, 6}, 3.0f, 5);
  const std::vector<int64_t> labels = {5, 0, 3};
  for (double alpha : {0.0, 0.3, 0.9, 1.0}) {
    for (double temp : {1.0, 2.0, 4.0}) {
      LossResult r = DistillationLoss(s, t, Labels(labels), {.alpha = alpha, .temperature = temp});
      EXPECT_NEAR(r.loss, NaiveDistillation(s, t, labels, alpha, temp), 1e-9)
          << "alpha " << alpha << " T " << temp;
    }
  }
  LossResult smoothed = DistillationLoss(s, t, Labels(labels),
                                         {.alpha = 0.5, .temperature = 2, .label_smoothing = 0.2});
  EXPECT_NEAR(smoothed.loss, NaiveDistillation(s, t, labels, 0.5, 2, 0.2), 1e-9);
  // alpha = 0 is plain cross-entropy, value and gradient; with smoothing, smoothed.
  LossResult ce_smooth = SoftmaxCrossEntropy(s, Labels(labels), 0.2);
  LossResult d0_smooth = DistillationLoss(s, t, Labels(labels),
                                          {.alpha = 0, .temperature = 3, .label_smoothing = 0.2});
  EXPECT_NEAR(d0_smooth.loss, ce_smooth.loss, 1e-6);
  for (int64_t i = 0; i < s.numel(); ++i) {
    EXPECT_NEAR(d0_smooth.grad.data<float>()[i], ce_smooth.grad.data<float>()[i], 1e-7);
  }
  // alpha = 0 is plain cross-entropy, value and gradient.
  LossResult ce = SoftmaxCrossEntropy(s, Labels(labels));
  LossResult d0 = DistillationLoss(s, t, Labels(labels), {.alpha = 0, .temperature = 3});
  EXPECT_NEAR(d0.loss, ce.loss, 1e-6);
  for (int64_t i = 0; i < s.numel(); ++i) {
    EXPECT_NEAR(d0.grad.data<float>()[i], ce.grad.data<float>()[i], 1e-7);
  }
}

TEST(DistillationLoss, StudentGradientMatchesFiniteDifferences) {
  Tensor s = Random({3, 5}, 2.0f, 6);
  Tensor t = Random({3, 5}, 2.0f, 7);
  Tensor labels = Labels({1, 4, 0});
  const DistillationOptions options{.alpha = 0.7, .temperature = 3.0};
  LossResult r = DistillationLoss(s, t, labels, options);
  ExpectGradientMatches(
      s, r.grad, [&] { return DistillationLoss(s, t, labels, options).loss; }, 1e-3, 2e-4);
  const DistillationOptions smoothed{.alpha = 0.4, .temperature = 2.0, .label_smoothing = 0.1};
  LossResult rs = DistillationLoss(s, t, labels, smoothed);
  ExpectGradientMatches(
      s, rs.grad, [&] { return DistillationLoss(s, t, labels, smoothed).loss; }, 1e-3, 2e-4);
  // The loss is zero-gradient in the KL part when the student equals the teacher.
  LossResult same = DistillationLoss(t, t, labels, {.alpha = 1, .temperature = 2});
  EXPECT_NEAR(same.loss, 0, 1e-9);
  for (float g : same.grad.span<float>()) EXPECT_NEAR(g, 0, 1e-7);
}

TEST(DistillationLoss, RejectsBadArguments) {
  Tensor s = Tensor::Zeros({2, 3});
  Tensor t = Tensor::Zeros({2, 4});
  EXPECT_THROW(DistillationLoss(s, t, Labels({0, 1}), {}), Error);
  Tensor t3 = Tensor::Zeros({2, 3});
  EXPECT_THROW(DistillationLoss(s, t3, Labels({0, 1}), {.alpha = 1.5}), Error);
  EXPECT_THROW(DistillationLoss(s, t3, Labels({0, 1}), {.temperature = 0}), Error);
  EXPECT_THROW(DistillationLoss(s, t3, Labels({0, 3}), {}), Error);
}

}  // namespace
}  // namespace millrace::ops
