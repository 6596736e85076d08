// The precision setting (ops/precision.h): its default and scope, the CPU backend ignoring it,
// and Linear's and Conv2d's CUDA rows under each precision against naive references (plain
// loops in double), with each precision's tolerance: FP32 1e-4, TF32 1e-2, bf16 3e-2.
#include "ops/precision.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ops/conv2d/conv2d.h"
#include "ops/linear/linear.h"
#include "tests/ops/backend_parity.h"
#include "tests/ops/naive_conv.h"

namespace millrace::ops {
namespace {

using testing::ExpectNear;
using testing::Random;
using testing::Values;

// Each precision's tolerance against a double reference, relative: |got - want| <= tol (1 +
// |want|).
double PrecisionTolerance(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return 1e-4;
    case Precision::kTf32: return 1e-2;
    case Precision::kBf16: return 3e-2;
  }
  return 0;
}

// One train-mode Forward + Backward on `device`; y, dx and the parameter gradients on the host.
struct PrecisionRun {
  Tensor y, dx;
  std::vector<Tensor> grads;
};
PrecisionRun RunUnderPrecision(Layer& layer, Device device, const Tensor& x, const Tensor& dy) {
  testing::MoveLayer(layer, device);
  PrecisionRun r;
  r.y = testing::Host(layer.Forward(x.To(device), Mode::kTrain));
  r.dx = testing::Host(layer.Backward(dy.To(device)));
  for (Parameter* p : layer.Parameters()) r.grads.push_back(testing::Host(p->grad));
  return r;
}

TEST(Precision, DefaultIsTf32OnEveryThreadAndSettingIsPerThread) {
  EXPECT_EQ(kDefaultPrecision, Precision::kTf32);
  EXPECT_EQ(PrecisionName(Precision::kFp32), "fp32");
  EXPECT_EQ(PrecisionName(Precision::kTf32), "tf32");
  EXPECT_EQ(PrecisionName(Precision::kBf16), "bf16");
  Precision seen = Precision::kFp32;
  std::thread([&] { seen = ComputePrecision(); }).join();
  EXPECT_EQ(seen, Precision::kTf32);
  SetComputePrecision(Precision::kBf16);
  EXPECT_EQ(ComputePrecision(), Precision::kBf16);
  std::thread([&] { seen = ComputePrecision(); }).join();
  EXPECT_EQ(seen, Precision::kTf32) << "another thread's setting leaked";
  SetComputePrecision(kDefaultPrecision);
}

// oneDNN computes f32 whatever the setting: the same bits under each.
TEST(Precision, TheCpuBackendIgnoresIt) {
  const Tensor x = Random({4, 9}, 11), dy = Random({4, 5}, 12);
  std::vector<PrecisionRun> runs;
  for (Precision p : {Precision::kFp32, Precision::kTf32, Precision::kBf16}) {
    SetComputePrecision(p);
    Linear layer(9, 5, true, 13);
    runs.push_back(RunUnderPrecision(layer, Device::Cpu(), x, dy));
  }
  SetComputePrecision(kDefaultPrecision);
  for (size_t i = 1; i < runs.size(); ++i) {
    EXPECT_EQ(std::memcmp(runs[i].y.raw_data(), runs[0].y.raw_data(), runs[0].y.nbytes()), 0);
    EXPECT_EQ(std::memcmp(runs[i].dx.raw_data(), runs[0].dx.raw_data(), runs[0].dx.nbytes()), 0);
  }
}

class PrecisionParity : public ::testing::TestWithParam<Precision> {
 protected:
  void SetUp() override {
    MILLRACE_SKIP_WITHOUT_DEVICE(Device::Kind::kCuda);
    if (!Linear::Kernels().Has(Device::Kind::kCuda)) GTEST_SKIP() << "no CUDA backend";
    SetComputePrecision(GetParam());
  }
  void TearDown() override { SetComputePrecision(kDefaultPrecision); }
  double tol() const { return PrecisionTolerance(GetParam()); }
};

// x: [N, I]  W: [O, I]  b: [O]; a fused ReLU's mask under each precision as well.
TEST_P(PrecisionParity, Linear) {
  constexpr int64_t n = 24, in = 40, out = 16;
  const Tensor x = Random({n, in}, 21), dy = Random({n, out}, 22);
  for (bool batch_twice : {false, true}) {  // the second pass reuses the cached plans and buffers
    Linear layer(in, out, true, 23);
    const std::vector<double> xv = Values(x), g = Values(dy), w = Values(layer.weight().value),
                              b = Values(layer.bias()->value);
    PrecisionRun got = RunUnderPrecision(layer, Device::Cuda(0), x, dy);
    if (batch_twice) {
      for (Parameter* p : layer.Parameters()) p->grad.Zero();
      got = RunUnderPrecision(layer, Device::Cuda(0), x, dy);
    }
    std::vector<double> y(n * out), dx(n * in, 0), dw(out * in, 0), db(out, 0);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t o = 0; o < out; ++o) {
        double s = b[o];
        for (int64_t i = 0; i < in; ++i) {
          s += xv[r * in + i] * w[o * in + i];
          dx[r * in + i] += g[r * out + o] * w[o * in + i];
          dw[o * in + i] += g[r * out + o] * xv[r * in + i];
        }
        y[r * out + o] = s;
        db[o] += g[r * out + o];
      }
    }
    const std::string what = "Linear (" + std::string(PrecisionName(GetParam())) + ")";
    ExpectNear(got.y, y, tol(), what + " y");
    ExpectNear(got.dx, dx, tol(), what + " dx");
    ExpectNear(got.grads[0], dw, tol(), what + " dW");
    ExpectNear(got.grads[1], db, 1e-4, what + " db (f32 under every precision)");
  }
}

// The gradient accumulates into Parameter::grad under every precision (beta = 1 on the f32
// paths, an f32 add of cuDNN's bf16 dW under autocast): two Backwards give twice one.
TEST_P(PrecisionParity, GradientsAccumulate) {
  const Tensor lx = Random({8, 12}, 31), ldy = Random({8, 6}, 32);
  const Conv2dConfig config{
      .in_channels = 3, .out_channels = 4, .kernel_h = 3, .kernel_w = 3, .padding = 1};
  const Tensor cx = Random({2, 3, 6, 6}, 33), cdy = Random({2, 4, 6, 6}, 34);
  auto twice = [&](Layer& layer, const Tensor& x, const Tensor& dy, const std::string& what) {
    testing::MoveLayer(layer, Device::Cuda(0));
    const Tensor xd = x.To(Device::Cuda(0)), dyd = dy.To(Device::Cuda(0));
    layer.Forward(xd, Mode::kTrain);
    layer.Backward(dyd);
    const std::vector<double> once = Values(layer.Parameters()[0]->grad);
    layer.Forward(xd, Mode::kTrain);
    layer.Backward(dyd);
    std::vector<double> doubled(once.size());
    for (size_t i = 0; i < once.size(); ++i) doubled[i] = 2 * once[i];
    ExpectNear(layer.Parameters()[0]->grad, doubled, 1e-5, what);
  };
  Linear linear(12, 6, true, 35);
  twice(linear, lx, ldy, "Linear dW");
  Conv2d conv(config, 36);
  twice(conv, cx, cdy, "Conv2d dW");
}

TEST_P(PrecisionParity, Conv2d) {
  std::vector<Conv2dConfig> configs = {
      {.in_channels = 3,
       .out_channels = 8,
       .kernel_h = 3,
       .kernel_w = 3,
       .stride = 2,
       .padding = 1},
      {.in_channels = 8,
       .out_channels = 8,
       .kernel_h = 3,
       .kernel_w = 3,
       .padding = 1,
       .groups = 8,
       .bias = false},                                                       // depthwise
      {.in_channels = 8, .out_channels = 16, .kernel_h = 1, .kernel_w = 1},  // pointwise
  };
  for (const Conv2dConfig& c : configs) {
    const Shape xs = {2, c.in_channels, 9, 8};
    Conv2d layer(c, 41);
    const Shape ys = layer.OutputShape(xs);
    const Tensor x = Random(xs, 42), dy = Random(ys, 43);
    const testing::NaiveConv want =
        testing::Conv(c, xs, Values(x), Values(layer.weight().value),
                      c.bias ? Values(layer.bias()->value) : std::vector<double>{}, ys, Values(dy));
    const PrecisionRun got = RunUnderPrecision(layer, Device::Cuda(0), x, dy);
    const std::string what = layer.Describe() + " (" + std::string(PrecisionName(GetParam())) + ")";
    EXPECT_NE(layer.BackendInfo().find("(" + std::string(PrecisionName(GetParam())) + ")"),
              std::string::npos)
        << layer.BackendInfo() << " (a device without TF32 computes tf32 as fp32)";
    ExpectNear(got.y, want.y, tol(), what + " y");
    ExpectNear(got.dx, want.dx, tol(), what + " dx");
    ExpectNear(got.grads[0], want.dw, tol(), what + " dW");
    if (c.bias) ExpectNear(got.grads[1], want.db, 1e-4, what + " db (f32 under every precision)");
  }
}

// The default on CUDA is TF32: a Conv2d says which math it planned for.
TEST(Precision, DefaultOnCudaIsTf32) {
  MILLRACE_SKIP_WITHOUT_DEVICE(Device::Kind::kCuda);
  if (!Conv2d::Kernels().Has(Device::Kind::kCuda)) GTEST_SKIP() << "no CUDA backend";
  SetComputePrecision(kDefaultPrecision);
  Conv2d layer({.in_channels = 2, .out_channels = 4, .kernel_h = 3, .kernel_w = 3}, 51);
  testing::MoveLayer(layer, Device::Cuda(0));
  layer.Forward(Random({1, 2, 5, 5}, 52).To(Device::Cuda(0)), Mode::kEval);
  EXPECT_NE(layer.BackendInfo().find("(tf32)"), std::string::npos)
      << layer.BackendInfo() << " (a device of compute capability < 8.0 would say fp32)";
}

std::string PrecisionRowName(const ::testing::TestParamInfo<Precision>& info) {
  return std::string(PrecisionName(info.param));
}

INSTANTIATE_TEST_SUITE_P(Cuda, PrecisionParity,
                         ::testing::Values(Precision::kFp32, Precision::kTf32, Precision::kBf16),
                         PrecisionRowName);

}  // namespace
}  // namespace millrace::ops
