// Seeded initialisation: bounds, moments and reproducibility.
#include "ops/init.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

struct Moments {
  double mean, var, max_abs;
};

Moments Measure(const Tensor& t) {
  double sum = 0, sq = 0, max_abs = 0;
  for (float v : t.span<float>()) {
    sum += v;
    sq += double(v) * v;
    max_abs = std::max(max_abs, std::abs(double(v)));
  }
  const double n = double(t.numel());
  return {sum / n, sq / n - (sum / n) * (sum / n), max_abs};
}

TEST(Init, KaimingUniform) {
  Tensor w = Tensor::Empty({256, 400});
  Rng rng(1);
  KaimingUniform(w, 400, rng);
  const double bound = std::sqrt(2.0) * std::sqrt(3.0 / 400);  // gain sqrt(2)
  const Moments m = Measure(w);
  EXPECT_LE(m.max_abs, bound);
  EXPECT_GT(m.max_abs, 0.99 * bound);
  EXPECT_NEAR(m.mean, 0.0, 0.002);
  EXPECT_NEAR(m.var, bound * bound / 3, 0.02 * bound * bound / 3);  // = 2 / fan_in
}

TEST(Init, KaimingNormal) {
  Tensor w = Tensor::Empty({256, 400});
  Rng rng(2);
  KaimingNormal(w, 100, rng);
  const Moments m = Measure(w);
  EXPECT_NEAR(m.mean, 0.0, 0.002);
  EXPECT_NEAR(m.var, 2.0 / 100, 0.02 * 2.0 / 100);
}

TEST(Init, Xavier) {
  Tensor w = Tensor::Empty({300, 200});
  Rng rng(3);
  XavierUniform(w, 200, 300, rng);
  const double bound = std::sqrt(6.0 / 500);
  const Moments m = Measure(w);
  EXPECT_LE(m.max_abs, bound);
  EXPECT_NEAR(m.var, 2.0 / 500, 0.02 * 2.0 / 500);
  XavierNormal(w, 200, 300, rng, /*gain=*/2.0);
  EXPECT_NEAR(Measure(w).var, 4.0 * 2.0 / 500, 0.02 * 8.0 / 500);
}

TEST(Init, SeededAndIndependentStreams) {
  Tensor a = Tensor::Empty({1000}), b = Tensor::Empty({1000}), c = Tensor::Empty({1000});
  Rng ra(DeriveSeed(5, 0)), rb(DeriveSeed(5, 0)), rc(DeriveSeed(5, 1));
  KaimingNormal(a, 10, ra);
  KaimingNormal(b, 10, rb);
  KaimingNormal(c, 10, rc);
  EXPECT_TRUE(testing::SameBits(a, b));
  EXPECT_FALSE(testing::SameBits(a, c));
  EXPECT_NE(DeriveSeed(5, 0), DeriveSeed(6, 0));
  // Uniform() is in [0, 1).
  Rng r(9);
  for (int i = 0; i < 10000; ++i) {
    const double u = r.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

}  // namespace
}  // namespace millrace::ops
