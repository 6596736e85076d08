// Learning-rate schedules at given steps, against their closed forms.
#include "ops/optim/lr_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace millrace::ops {
namespace {

TEST(LrSchedule, Step) {
  auto s = StepLr(10, 0.5);
  EXPECT_DOUBLE_EQ(s->Factor(0), 1);
  EXPECT_DOUBLE_EQ(s->Factor(9), 1);
  EXPECT_DOUBLE_EQ(s->Factor(10), 0.5);
  EXPECT_DOUBLE_EQ(s->Factor(25), 0.25);
}

TEST(LrSchedule, Cosine) {
  auto s = CosineLr(100, 0.1);
  EXPECT_DOUBLE_EQ(s->Factor(0), 1);
  EXPECT_NEAR(s->Factor(50), 0.1 + 0.9 * 0.5, 1e-12);
  EXPECT_NEAR(s->Factor(25), 0.1 + 0.9 * (1 + std::cos(std::numbers::pi / 4)) / 2, 1e-12);
  EXPECT_DOUBLE_EQ(s->Factor(100), 0.1);
  EXPECT_DOUBLE_EQ(s->Factor(1000), 0.1);
}

TEST(LrSchedule, LinearWarmup) {
  auto s = LinearWarmupLr(4, 0.2);
  EXPECT_DOUBLE_EQ(s->Factor(0), 0.2);
  EXPECT_DOUBLE_EQ(s->Factor(2), 0.6);
  EXPECT_DOUBLE_EQ(s->Factor(4), 1);
  EXPECT_DOUBLE_EQ(s->Factor(40), 1);
}

TEST(LrSchedule, WarmupThenCosineAndProducts) {
  auto s = SequentialLr({LinearWarmupLr(10, 0.0), CosineLr(90)}, {10});
  EXPECT_DOUBLE_EQ(s->Factor(0), 0);
  EXPECT_DOUBLE_EQ(s->Factor(5), 0.5);
  EXPECT_DOUBLE_EQ(s->Factor(10), 1);  // cosine's step 0
  EXPECT_NEAR(s->Factor(55), 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(s->Factor(100), 0);
  auto p = ProductLr({LinearWarmupLr(10, 0.0), StepLr(5, 0.1)});
  EXPECT_NEAR(p->Factor(5), 0.5 * 0.1, 1e-12);
  EXPECT_NEAR(p->Factor(12), 0.01, 1e-12);
  auto scaled = ProductLr({ConstantLr(3), CosineLr(90)});  // a cosine from 3 down to 0
  EXPECT_DOUBLE_EQ(scaled->Factor(0), 3);
  EXPECT_NEAR(scaled->Factor(45), 1.5, 1e-12);
  EXPECT_DOUBLE_EQ(ConstantLr()->Factor(7), 1);
  EXPECT_THROW(ConstantLr(0), Error);
  EXPECT_THROW(SequentialLr({ConstantLr(), ConstantLr()}, {}), Error);
  EXPECT_THROW(StepLr(0, 0.5), Error);
}

}  // namespace
}  // namespace millrace::ops
