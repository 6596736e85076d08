#include "ops/conv2d/conv2d.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "ops/cpu/layout.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

using testing::RandomTensor;

// The definition of a grouped, strided, dilated, zero-padded cross-correlation, in double.
std::vector<double> NaiveConv(const Tensor& x, const Conv2d& conv, const Tensor& w, const Tensor* b,
                              const Shape& y_shape) {
  const Conv2dConfig& c = conv.config();
  const int64_t n = x.dim(0), h = x.dim(2), wd = x.dim(3);
  const int64_t ho = y_shape[2], wo = y_shape[3];
  const int64_t in_per_group = c.in_channels / c.groups, out_per_group = c.out_channels / c.groups;
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  std::vector<double> y(NumElements(y_shape));
  for (int64_t in = 0; in < n; ++in)
    for (int64_t oc = 0; oc < c.out_channels; ++oc) {
      const int64_t g = oc / out_per_group;
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          double s = b ? b->data<float>()[oc] : 0.0;
          for (int64_t icg = 0; icg < in_per_group; ++icg) {
            const int64_t ic = g * in_per_group + icg;
            for (int64_t ky = 0; ky < c.kernel_h; ++ky)
              for (int64_t kx = 0; kx < c.kernel_w; ++kx) {
                const int64_t iy = oy * c.stride - c.padding + ky * c.dilation;
                const int64_t ix = ox * c.stride - c.padding + kx * c.dilation;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += double(xp[((in * c.in_channels + ic) * h + iy) * wd + ix]) *
                     wp[((oc * in_per_group + icg) * c.kernel_h + ky) * c.kernel_w + kx];
              }
          }
          y[((in * c.out_channels + oc) * ho + oy) * wo + ox] = s;
        }
    }
  return y;
}

struct Case {
  Conv2dConfig config;
  Shape input;
};

std::vector<Case> Cases() {
  return {
      {{.in_channels = 3, .out_channels = 4, .kernel_h = 3, .kernel_w = 3}, {2, 3, 7, 6}},
      {{.in_channels = 2,
        .out_channels = 6,
        .kernel_h = 3,
        .kernel_w = 2,
        .stride = 2,
        .padding = 1},
       {2, 2, 9, 8}},
      {{.in_channels = 4,
        .out_channels = 4,
        .kernel_h = 3,
        .kernel_w = 3,
        .padding = 2,
        .dilation = 2,
        .bias = false},
       {1, 4, 8, 8}},
      {{.in_channels = 4,
        .out_channels = 6,
        .kernel_h = 3,
        .kernel_w = 3,
        .stride = 1,
        .padding = 1,
        .groups = 2},
       {2, 4, 5, 5}},
      // depthwise, the MobileNet block's first half
      {{.in_channels = 5,
        .out_channels = 5,
        .kernel_h = 3,
        .kernel_w = 3,
        .stride = 2,
        .padding = 1,
        .groups = 5,
        .bias = false},
       {2, 5, 9, 9}},
      // pointwise
      {{.in_channels = 5, .out_channels = 3, .kernel_h = 1, .kernel_w = 1}, {3, 5, 4, 4}},
  };
}

// Every layout policy: oneDNN's choice (reorders at the edges), forced plain layouts, mixed.
class Conv2dLayouts : public ::testing::TestWithParam<cpu::ConvLayouts> {
 protected:
  void SetUp() override { cpu::SetConvLayouts(GetParam()); }
  void TearDown() override { cpu::SetConvLayouts(cpu::ConvLayouts::kAuto); }
};

INSTANTIATE_TEST_SUITE_P(Layouts, Conv2dLayouts,
                         ::testing::Values(cpu::ConvLayouts::kAuto, cpu::ConvLayouts::kPlain,
                                           cpu::ConvLayouts::kOneDnn),
                         [](const auto& info) {
                           return info.param == cpu::ConvLayouts::kAuto    ? "Auto"
                                  : info.param == cpu::ConvLayouts::kPlain ? "Plain"
                                                                           : "OneDnn";
                         });

TEST_P(Conv2dLayouts, ForwardMatchesNaive) {
  uint64_t seed = 1;
  for (const Case& k : Cases()) {
    Conv2d conv(k.config, seed++);
    Tensor x = RandomTensor(k.input, seed++);
    Tensor y = conv.Forward(x, Mode::kEval);
    RecordProperty(conv.Describe(), conv.BackendInfo());
    const Shape y_shape = conv.OutputShape(k.input);
    ASSERT_EQ(y.shape(), y_shape) << conv.Describe();
    std::vector<double> ref = NaiveConv(x, conv, conv.weight().value,
                                        conv.bias() ? &conv.bias()->value : nullptr, y_shape);
    for (int64_t i = 0; i < y.numel(); ++i) {
      ASSERT_NEAR(y.data<float>()[i], ref[i], 1e-5) << conv.Describe() << " element " << i;
    }
  }
}

TEST_P(Conv2dLayouts, BackwardMatchesFiniteDifferences) {
  uint64_t seed = 100;
  for (const Case& k : Cases()) {
    SCOPED_TRACE(Conv2d(k.config).Describe());
    Conv2d conv(k.config, seed++);
    const Tensor x = RandomTensor(k.input, seed++);  // apart: argument order is unspecified
    testing::ExpectGradientsMatch(conv, x, seed++);
  }
}

TEST(Conv2d, OutputShapeAndFlops) {
  Conv2d conv({.in_channels = 32,
               .out_channels = 64,
               .kernel_h = 3,
               .kernel_w = 3,
               .stride = 2,
               .padding = 1});
  EXPECT_EQ(conv.OutputShape({8, 32, 28, 28}), (Shape{8, 64, 14, 14}));
  EXPECT_EQ(conv.ForwardFlops({8, 32, 28, 28}), 2LL * 8 * 64 * 14 * 14 * 32 * 9);
  EXPECT_EQ(conv.Describe(), "Conv2d(32 -> 64, 3x3, stride 2, padding 1)");
  Conv2d dw({.in_channels = 8, .out_channels = 8, .kernel_h = 3, .kernel_w = 3, .groups = 8});
  EXPECT_TRUE(dw.depthwise());
  EXPECT_EQ(dw.weight().value.shape(), (Shape{8, 1, 3, 3}));
}

TEST(Conv2d, ShapeErrorsNameTheLayer) {
  Conv2d conv({.in_channels = 3, .out_channels = 4, .kernel_h = 5, .kernel_w = 5});
  try {
    conv.Forward(Tensor::Zeros({2, 1, 28, 28}), Mode::kTrain);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "Conv2d(3 -> 4, 5x5): input [2, 1, 28, 28] has 1 channels, expected 3");
  }
  EXPECT_THROW(conv.Forward(Tensor::Zeros({2, 3, 4, 4}), Mode::kTrain), Error);  // too small
  EXPECT_THROW(conv.Forward(Tensor::Zeros({2, 3 * 28 * 28}), Mode::kTrain), Error);
  EXPECT_THROW(Conv2d({.in_channels = 3, .out_channels = 4, .groups = 2}), Error);
}

}  // namespace
}  // namespace millrace::ops
