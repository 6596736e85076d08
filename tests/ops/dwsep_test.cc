#include "ops/dwsep/dwsep.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "ops/activation/relu.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

using testing::RandomTensor;

TEST(DepthwiseSeparable, IsTheCompositionOfItsParts) {
  DepthwiseSeparable block({.in_channels = 4, .out_channels = 6, .stride = 2}, 3);
  Tensor x = RandomTensor({2, 4, 9, 9}, 4);
  Tensor y = block.Forward(x, Mode::kTrain);
  ASSERT_EQ(y.shape(), (Shape{2, 6, 5, 5}));
  EXPECT_TRUE(block.depthwise().depthwise());
  EXPECT_EQ(block.depthwise().config().stride, 2);
  // The same layers called by hand, in the MobileNet order.
  ReLU relu1, relu2;
  Tensor h = block.depthwise().Forward(x, Mode::kEval);
  BatchNorm2d bn1(4), bn2(6);  // fresh batch norms: same (1, 0) affine, batch statistics
  h = relu1.Forward(bn1.Forward(h, Mode::kTrain), Mode::kEval);
  h = block.pointwise().Forward(h, Mode::kEval);
  h = relu2.Forward(bn2.Forward(h, Mode::kTrain), Mode::kEval);
  // Inside the block the parts run in oneDNN's blocked layouts with the ReLUs fused into the
  // batch norms; by hand, each layer returns plain tensors: equal up to reassociation.
  EXPECT_TRUE(testing::AllClose(h, y));
}

TEST(DepthwiseSeparable, BackwardMatchesFiniteDifferences) {
  DepthwiseSeparable with_bn({.in_channels = 3, .out_channels = 4, .stride = 1}, 5);
  // BatchNorm's outputs are near ReLU's kink for some elements; the tolerance allows for them
  // being sampled.
  testing::ExpectGradientsMatch(with_bn, RandomTensor({2, 3, 5, 5}, 6), 7,
                                {.eps = 1e-3, .atol = 5e-3, .rtol = 3e-2});
  DepthwiseSeparable plain({.in_channels = 3, .out_channels = 2, .stride = 2, .batch_norm = false},
                           8);
  testing::ExpectGradientsMatch(plain, RandomTensor({2, 3, 6, 6}, 9), 10,
                                {.eps = 1e-3, .atol = 5e-3, .rtol = 3e-2});
}

TEST(DepthwiseSeparable, NamesCountsAndFlops) {
  DepthwiseSeparable block({.in_channels = 32, .out_channels = 64, .stride = 2});
  std::vector<std::string> names;
  for (Parameter* p : block.Parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"dw.weight", "bn1.weight", "bn1.bias", "pw.weight",
                                             "bn2.weight", "bn2.bias"}));
  ASSERT_EQ(block.Buffers().size(), 4u);
  EXPECT_EQ(block.Buffers()[0].first, "bn1.running_mean");
  int64_t count = 0;
  for (Parameter* p : block.Parameters()) count += p->value.numel();
  EXPECT_EQ(count, 32 * 9 + 2 * 32 + 32 * 64 + 2 * 64);
  EXPECT_EQ(block.OutputShape({8, 32, 28, 28}), (Shape{8, 64, 14, 14}));
  const int64_t dw = 2LL * 8 * 32 * 14 * 14 * 9, pw = 2LL * 8 * 64 * 14 * 14 * 32;
  const int64_t bn = 4LL * 8 * 32 * 14 * 14 + 4LL * 8 * 64 * 14 * 14;
  EXPECT_EQ(block.ForwardFlops({8, 32, 28, 28}), dw + pw + bn);
  EXPECT_EQ(block.Describe(), "DepthwiseSeparable(32 -> 64, stride 2)");
}

TEST(DepthwiseSeparable, Errors) {
  DepthwiseSeparable block({.in_channels = 8, .out_channels = 16});
  try {
    block.Forward(Tensor::Zeros({2, 4, 8, 8}), Mode::kTrain);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(),
              "DepthwiseSeparable(8 -> 16): input [2, 4, 8, 8] has 4 channels, expected 8");
  }
  // From parts: a dense conv is not depthwise; a mismatched pointwise is refused.
  EXPECT_THROW(
      DepthwiseSeparable(
          std::make_unique<Conv2d>(Conv2dConfig{.in_channels = 4, .out_channels = 4, .padding = 1}),
          nullptr,
          std::make_unique<Conv2d>(
              Conv2dConfig{.in_channels = 4, .out_channels = 8, .kernel_h = 1, .kernel_w = 1}),
          nullptr),
      Error);
  EXPECT_THROW(
      DepthwiseSeparable(std::make_unique<Conv2d>(Conv2dConfig{
                             .in_channels = 4, .out_channels = 4, .padding = 1, .groups = 4}),
                         nullptr,
                         std::make_unique<Conv2d>(Conv2dConfig{
                             .in_channels = 5, .out_channels = 8, .kernel_h = 1, .kernel_w = 1}),
                         nullptr),
      Error);
  // A narrower block from parts works (what structured pruning does).
  DepthwiseSeparable narrow(
      std::make_unique<Conv2d>(Conv2dConfig{
          .in_channels = 4, .out_channels = 4, .padding = 1, .groups = 4, .bias = false}),
      std::make_unique<BatchNorm2d>(4),
      std::make_unique<Conv2d>(Conv2dConfig{
          .in_channels = 4, .out_channels = 3, .kernel_h = 1, .kernel_w = 1, .bias = false}),
      std::make_unique<BatchNorm2d>(3));
  EXPECT_EQ(narrow.OutputShape({1, 4, 6, 6}), (Shape{1, 3, 6, 6}));
}

}  // namespace
}  // namespace millrace::ops
