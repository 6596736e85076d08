#include "ops/pooling/pooling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

using testing::RandomTensor;

// Distinct values 0.05 apart in random order: no ties, and no argmax moves under +-eps.
Tensor SpacedValues(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::Empty(shape);
  std::vector<int64_t> order(t.numel());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), Rng(seed).engine());
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.05f * (order[i] - t.numel() / 2);
  return t;
}

enum class Ref { kMax, kAvgInclude, kAvgExclude };

std::vector<double> NaivePool(const Tensor& x, Ref ref, int64_t k, int64_t s, int64_t p,
                              const Shape& y_shape) {
  const int64_t nc = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t ho = y_shape[2], wo = y_shape[3];
  std::vector<double> y(NumElements(y_shape));
  for (int64_t plane = 0; plane < nc; ++plane)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t valid = 0, window = 0;
        for (int64_t ky = 0; ky < k; ++ky)
          for (int64_t kx = 0; kx < k; ++kx) {
            const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
            // torch counts padded positions inside [-p, H + p) for count_include_pad.
            if (iy < h + p && ix < w + p) ++window;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const double v = x.data<float>()[(plane * h + iy) * w + ix];
            best = std::max(best, v);
            sum += v;
            ++valid;
          }
        const int64_t at = (plane * ho + oy) * wo + ox;
        y[at] = ref == Ref::kMax ? best : ref == Ref::kAvgInclude ? sum / window : sum / valid;
      }
  return y;
}

struct PoolCase {
  int64_t k, s, p;
  Shape input;
};

const PoolCase kCases[] = {{2, 2, 0, {2, 3, 8, 8}},
                       {3, 2, 1, {1, 2, 7, 9}},
                       {2, 2, 0, {2, 2, 7, 7}},
                       {3, 1, 1, {1, 2, 5, 5}}};

TEST(Pooling, MaxForwardAndBackward) {
  uint64_t seed = 1;
  for (const PoolCase& c : kCases) {
    MaxPool2d pool(c.k, c.s, c.p);
    SCOPED_TRACE(pool.Describe());
    Tensor x = SpacedValues(c.input, seed++);
    Tensor y = pool.Forward(x, Mode::kEval);
    const std::vector<double> ref = NaivePool(x, Ref::kMax, c.k, c.s, c.p, y.shape());
    ASSERT_EQ(y.shape(), pool.OutputShape(c.input));
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.data<float>()[i], ref[i], 1e-6) << i;
    testing::ExpectGradientsMatch(pool, x, seed++, {.eps = 1e-3, .atol = 1e-3, .rtol = 1e-2});
  }
}

TEST(Pooling, AvgForwardAndBackward) {
  uint64_t seed = 10;
  for (bool include : {true, false}) {
    for (const PoolCase& c : kCases) {
      AvgPool2d pool(c.k, c.s, c.p, include);
      SCOPED_TRACE(pool.Describe() + (include ? " include pad" : " exclude pad"));
      Tensor x = RandomTensor(c.input, seed++);
      Tensor y = pool.Forward(x, Mode::kEval);
      const std::vector<double> ref =
          NaivePool(x, include ? Ref::kAvgInclude : Ref::kAvgExclude, c.k, c.s, c.p, y.shape());
      for (int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.data<float>()[i], ref[i], 1e-5) << i;
      testing::ExpectGradientsMatch(pool, x, seed++);
    }
  }
}

TEST(Pooling, GlobalAvg) {
  GlobalAvgPool pool;
  Tensor x = RandomTensor({3, 4, 5, 6}, 1);
  Tensor y = pool.Forward(x, Mode::kTrain);
  ASSERT_EQ(y.shape(), (Shape{3, 4, 1, 1}));
  for (int64_t plane = 0; plane < 12; ++plane) {
    double sum = 0;
    for (int64_t j = 0; j < 30; ++j) sum += x.data<float>()[plane * 30 + j];
    EXPECT_NEAR(y.data<float>()[plane], sum / 30, 1e-5);
  }
  // d mean / dx = 1/30 everywhere.
  Tensor dy = Tensor::Empty({3, 4, 1, 1});
  dy.Fill(3.f);
  Tensor dx = pool.Backward(dy);
  for (float v : dx.span<float>()) EXPECT_NEAR(v, 0.1f, 1e-6);
  testing::ExpectGradientsMatch(pool, x, 2);
}

TEST(Pooling, ShapesAndErrors) {
  EXPECT_EQ(MaxPool2d(2).OutputShape({8, 32, 28, 28}), (Shape{8, 32, 14, 14}));
  EXPECT_EQ(MaxPool2d(2).Describe(), "MaxPool2d(2)");
  EXPECT_EQ(MaxPool2d(3, 2, 1).Describe(), "MaxPool2d(3, stride 2, padding 1)");
  EXPECT_THROW(MaxPool2d(2, 2, 2), Error);
  EXPECT_THROW(MaxPool2d(3).OutputShape({1, 1, 2, 2}), Error);
  EXPECT_THROW(MaxPool2d(2).Forward(Tensor::Zeros({4, 16}), Mode::kTrain), Error);
  EXPECT_THROW(MaxPool2d(2).Backward(Tensor::Zeros({1, 1, 1, 1})), Error);
}

}  // namespace
}  // namespace millrace::ops
