// Backend parity of the layers: forward and backward of each layer on every backend of this
// build, against the same layer on the CPU backend and against a naive reference (plain
// loops in double: matmul, direct convolution, batch statistics, windows).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "ops/activation/dropout.h"
#include "ops/activation/relu.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
#include "ops/dwsep/dwsep.h"
#include "ops/flatten/flatten.h"
#include "ops/linear/linear.h"
#include "ops/pooling/pooling.h"
#include "tests/ops/backend_parity.h"
#include "tests/ops/gradcheck.h"
#include "tests/ops/naive_conv.h"

namespace millrace::ops {
namespace {

using testing::BackendDevice;
using testing::ExpectNear;
using testing::Random;
using testing::Values;

constexpr double kTol = 1e-4;

// What one train-mode Forward + Backward gives, on the host.
struct LayerRun {
  Tensor y, dx;
  std::vector<Tensor> grads;
};

LayerRun ForwardBackward(Layer& layer, Device device, const Tensor& x, const Tensor& dy) {
  LayerRun r;
  Tensor xd = x.To(device);
  Tensor dyd = dy.To(device);
  r.y = testing::Host(layer.Forward(xd, Mode::kTrain));
  r.dx = testing::Host(layer.Backward(dyd));
  for (Parameter* p : layer.Parameters()) r.grads.push_back(testing::Host(p->grad));
  return r;
}

// Runs `make()`'s layer on the CPU and a second one on `device`, and checks that forward, the
// input gradient and every parameter gradient agree. Returns the device's run.
template <typename Make>
LayerRun ExpectMatchesCpu(Make make, Device device, const Tensor& x, const Tensor& dy) {
  auto cpu_layer = make();
  auto dev_layer = make();
  testing::MoveLayer(*dev_layer, device);
  LayerRun want = ForwardBackward(*cpu_layer, Device::Cpu(), x, dy);
  LayerRun got = ForwardBackward(*dev_layer, device, x, dy);
  const std::string what = std::string(cpu_layer->Describe()) + " on " + device.ToString();
  ExpectNear(got.y, want.y, kTol, what + " y vs cpu");
  ExpectNear(got.dx, want.dx, kTol, what + " dx vs cpu");
  EXPECT_EQ(got.grads.size(), want.grads.size());
  for (size_t i = 0; i < got.grads.size() && i < want.grads.size(); ++i) {
    ExpectNear(got.grads[i], want.grads[i], kTol, what + " grad " + std::to_string(i) + " vs cpu");
  }
  return got;
}

class LayerParity : public ::testing::TestWithParam<Device::Kind> {
 protected:
  // FP32 on CUDA: the parity with the CPU here is FP32's (TF32 and bf16: precision_test.cc).
  void SetUp() override {
    MILLRACE_SKIP_WITHOUT_DEVICE(GetParam());
    SetComputePrecision(Precision::kFp32);
  }
  void TearDown() override { SetComputePrecision(kDefaultPrecision); }
  Device device() const { return BackendDevice(GetParam()); }
};

// x: [N, I]  W: [O, I]  b: [O]
TEST_P(LayerParity, Linear) {
  constexpr int64_t n = 5, in = 13, out = 7;
  const Tensor x = Random({n, in}, 1), dy = Random({n, out}, 2);
  auto make = [&] { return std::make_unique<Linear>(in, out, true, 3); };
  LayerRun got = ExpectMatchesCpu(make, device(), x, dy);
  auto ref = make();
  const std::vector<double> xv = Values(x), g = Values(dy), w = Values(ref->weight().value),
                            b = Values(ref->bias()->value);
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
  ExpectNear(got.y, y, kTol, "Linear y vs naive");
  ExpectNear(got.dx, dx, kTol, "Linear dx vs naive");
  ExpectNear(got.grads[0], dw, kTol, "Linear dW vs naive");
  ExpectNear(got.grads[1], db, kTol, "Linear db vs naive");
}

using testing::Conv;
using testing::NaiveConv;

TEST_P(LayerParity, Conv2d) {
  std::vector<Conv2dConfig> configs(3);
  configs[0] = {
      .in_channels = 3, .out_channels = 4, .kernel_h = 3, .kernel_w = 3, .stride = 2, .padding = 1};
  configs[1] = {.in_channels = 4,
                .out_channels = 4,
                .kernel_h = 3,
                .kernel_w = 3,
                .stride = 1,
                .padding = 1,
                .groups = 4,
                .bias = false};                                                      // depthwise
  configs[2] = {.in_channels = 4, .out_channels = 6, .kernel_h = 1, .kernel_w = 1};  // pointwise
  configs.push_back({.in_channels = 2,
                     .out_channels = 4,
                     .kernel_h = 3,
                     .kernel_w = 2,
                     .stride = 1,
                     .padding = 2,
                     .dilation = 2,
                     .groups = 2});
  for (const Conv2dConfig& c : configs) {
    const Shape xs = {2, c.in_channels, 7, 6};
    auto make = [&] { return std::make_unique<Conv2d>(c, 5); };
    auto ref = make();
    const Shape ys = ref->OutputShape(xs);
    const Tensor x = Random(xs, 6), dy = Random(ys, 7);
    LayerRun got = ExpectMatchesCpu(make, device(), x, dy);
    NaiveConv want =
        Conv(c, xs, Values(x), Values(ref->weight().value),
             c.bias ? Values(ref->bias()->value) : std::vector<double>{}, ys, Values(dy));
    const std::string what = ref->Describe();
    ExpectNear(got.y, want.y, kTol, what + " y vs naive");
    ExpectNear(got.dx, want.dx, kTol, what + " dx vs naive");
    ExpectNear(got.grads[0], want.dw, kTol, what + " dW vs naive");
    if (c.bias) ExpectNear(got.grads[1], want.db, kTol, what + " db vs naive");
  }
}

// x: [N, C, H, W]; statistics per channel over (N, H, W), biased variance.
TEST_P(LayerParity, BatchNorm2d) {
  const int64_t n = 3, c = 4, hw = 10, m = n * hw;
  const double eps = 1e-5, momentum = 0.1;
  const Tensor x = Random({n, c, 2, 5}, 8, -2, 3), dy = Random({n, c, 2, 5}, 9);
  auto make = [&] {
    auto bn = std::make_unique<BatchNorm2d>(c, momentum, eps);
    Rng rng(10);
    UniformFill(bn->weight().value, 0.5, 1.5, rng);
    UniformFill(bn->bias().value, -0.5, 0.5, rng);
    return bn;
  };
  auto dev = make();
  testing::MoveLayer(*dev, device());
  LayerRun got = ExpectMatchesCpu(make, device(), x, dy);
  auto ref = make();
  const std::vector<double> xv = Values(x), g = Values(dy), gamma = Values(ref->weight().value),
                            beta = Values(ref->bias().value);
  std::vector<double> y(xv.size()), dx(xv.size()), dgamma(c, 0), dbeta(c, 0), rm(c), rv(c);
  for (int64_t ch = 0; ch < c; ++ch) {
    auto at = [&](int64_t s, int64_t k) { return (s * c + ch) * hw + k; };
    double mean = 0, var = 0;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t k = 0; k < hw; ++k) mean += xv[at(s, k)];
    mean /= m;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t k = 0; k < hw; ++k) var += (xv[at(s, k)] - mean) * (xv[at(s, k)] - mean);
    var /= m;
    const double inv = 1 / std::sqrt(var + eps);
    double mean_dy = 0, mean_dy_xhat = 0;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t k = 0; k < hw; ++k) {
        const double xhat = (xv[at(s, k)] - mean) * inv;
        y[at(s, k)] = gamma[ch] * xhat + beta[ch];
        dgamma[ch] += g[at(s, k)] * xhat;
        dbeta[ch] += g[at(s, k)];
        mean_dy += g[at(s, k)] / m;
        mean_dy_xhat += g[at(s, k)] * xhat / m;
      }
    for (int64_t s = 0; s < n; ++s)
      for (int64_t k = 0; k < hw; ++k) {
        const double xhat = (xv[at(s, k)] - mean) * inv;
        dx[at(s, k)] = gamma[ch] * inv * (g[at(s, k)] - mean_dy - xhat * mean_dy_xhat);
      }
    rm[ch] = momentum * mean;
    rv[ch] = (1 - momentum) + momentum * var * m / (m - 1);
  }
  ExpectNear(got.y, y, kTol, "BatchNorm2d y vs naive");
  ExpectNear(got.dx, dx, kTol, "BatchNorm2d dx vs naive");
  ExpectNear(got.grads[0], dgamma, kTol, "BatchNorm2d dgamma vs naive");
  ExpectNear(got.grads[1], dbeta, kTol, "BatchNorm2d dbeta vs naive");
  // The running statistics after one train-mode Forward, and an eval Forward that uses them.
  dev->Forward(x.To(device()), Mode::kTrain);
  ExpectNear(dev->running_mean(), rm, kTol, "BatchNorm2d running_mean vs naive");
  ExpectNear(dev->running_var(), rv, kTol, "BatchNorm2d running_var vs naive");
  std::vector<double> y_eval(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    const int64_t ch = (static_cast<int64_t>(i) / hw) % c;
    y_eval[i] = gamma[ch] * (xv[i] - rm[ch]) / std::sqrt(rv[ch] + eps) + beta[ch];
  }
  ExpectNear(dev->Forward(x.To(device()), Mode::kEval), y_eval, kTol, "BatchNorm2d eval vs naive");
}

TEST_P(LayerParity, ReLU) {
  const Tensor x = Random({3, 2, 4, 5}, 12), dy = Random({3, 2, 4, 5}, 13);
  LayerRun got = ExpectMatchesCpu([] { return std::make_unique<ReLU>(); }, device(), x, dy);
  std::vector<double> xv = Values(x), g = Values(dy), y(xv.size()), dx(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    y[i] = std::max(xv[i], 0.0);
    dx[i] = xv[i] > 0 ? g[i] : 0.0;
  }
  ExpectNear(got.y, y, 0, "ReLU y vs naive");
  ExpectNear(got.dx, dx, 0, "ReLU dx vs naive");
}

// Windows of k x k with stride s and padding p over x: [N, C, H, W].
struct NaivePool {
  std::vector<double> y, dx;
};
NaivePool Pool(Pool2d::Kind kind, int64_t k, int64_t s, int64_t p, const Shape& xs,
               const std::vector<double>& x, const std::vector<double>& dy) {
  const int64_t planes = xs[0] * xs[1], h = xs[2], w = xs[3];
  const int64_t ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
  NaivePool r;
  r.y.assign(planes * ho * wo, 0);
  r.dx.assign(x.size(), 0);
  for (int64_t q = 0; q < planes; ++q)
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j) {
        const int64_t yi = (q * ho + i) * wo + j;
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t arg = -1, valid = 0;
        for (int64_t a = i * s - p; a < i * s - p + k; ++a)
          for (int64_t b = j * s - p; b < j * s - p + k; ++b) {
            if (a < 0 || a >= h || b < 0 || b >= w) continue;
            const int64_t xi = (q * h + a) * w + b;
            ++valid;
            sum += x[xi];
            if (x[xi] > best) best = x[xi], arg = xi;
          }
        const double count = kind == Pool2d::Kind::kAvgExcludePad ? valid : k * k;
        if (kind == Pool2d::Kind::kMax) {
          r.y[yi] = best;
          r.dx[arg] += dy[yi];
          continue;
        }
        r.y[yi] = sum / count;
        for (int64_t a = std::max<int64_t>(i * s - p, 0); a < std::min(i * s - p + k, h); ++a)
          for (int64_t b = std::max<int64_t>(j * s - p, 0); b < std::min(j * s - p + k, w); ++b)
            r.dx[(q * h + a) * w + b] += dy[yi] / count;
      }
  return r;
}

TEST_P(LayerParity, Pooling) {
  const Shape xs = {2, 3, 7, 6};
  const Tensor x = Random(xs, 14);
  struct Case {
    Pool2d::Kind kind;
    int64_t k, s, p;
    std::function<std::unique_ptr<Pool2d>()> make;
  };
  const std::vector<Case> cases = {
      {Pool2d::Kind::kMax, 2, 2, 0, [] { return std::make_unique<MaxPool2d>(2); }},
      {Pool2d::Kind::kMax, 3, 2, 1, [] { return std::make_unique<MaxPool2d>(3, 2, 1); }},
      {Pool2d::Kind::kAvgIncludePad, 3, 2, 1,
       [] { return std::make_unique<AvgPool2d>(3, 2, 1, true); }},
      {Pool2d::Kind::kAvgExcludePad, 3, 2, 1,
       [] { return std::make_unique<AvgPool2d>(3, 2, 1, false); }},
  };
  for (const Case& c : cases) {
    const Tensor dy = Random(c.make()->OutputShape(xs), 15);
    LayerRun got = ExpectMatchesCpu(c.make, device(), x, dy);
    NaivePool want = Pool(c.kind, c.k, c.s, c.p, xs, Values(x), Values(dy));
    const std::string what = c.make()->Describe();
    ExpectNear(got.y, want.y, kTol, what + " y vs naive");
    ExpectNear(got.dx, want.dx, kTol, what + " dx vs naive");
  }
  // GlobalAvgPool: the mean of each plane; dx = dy / (H W) everywhere.
  const Tensor dy = Random({2, 3, 1, 1}, 16);
  LayerRun got =
      ExpectMatchesCpu([] { return std::make_unique<GlobalAvgPool>(); }, device(), x, dy);
  std::vector<double> xv = Values(x), g = Values(dy), y(6, 0), dx(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) {
    y[i / 42] += xv[i] / 42;
    dx[i] = g[i / 42] / 42;
  }
  ExpectNear(got.y, y, kTol, "GlobalAvgPool y vs naive");
  ExpectNear(got.dx, dx, kTol, "GlobalAvgPool dx vs naive");
}

// The draws of Dropout(p, seed): scale[i] = U(0,1) >= p ? 1/(1-p) : 0, one per element.
TEST_P(LayerParity, Dropout) {
  const double p = 0.3;
  const Tensor x = Random({4, 50}, 17), dy = Random({4, 50}, 18);
  LayerRun got =
      ExpectMatchesCpu([&] { return std::make_unique<Dropout>(p, 19); }, device(), x, dy);
  Rng rng(19);
  std::vector<double> xv = Values(x), g = Values(dy), y(xv.size()), dx(xv.size());
  int dropped = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double scale = rng.Uniform() >= p ? static_cast<float>(1 / (1 - p)) : 0.0;
    dropped += scale == 0;
    y[i] = static_cast<float>(xv[i] * static_cast<float>(scale));
    dx[i] = static_cast<float>(g[i] * static_cast<float>(scale));
  }
  EXPECT_GT(dropped, 30);
  EXPECT_LT(dropped, 90);
  ExpectNear(got.y, y, 1e-7, "Dropout y vs naive");
  ExpectNear(got.dx, dx, 1e-7, "Dropout dx vs naive");
  // Eval mode is the identity.
  Dropout eval(p, 19);
  ExpectNear(eval.Forward(x.To(device()), Mode::kEval), xv, 0, "Dropout eval");
}

TEST_P(LayerParity, Flatten) {
  const Tensor x = Random({3, 2, 4, 5}, 20), dy = Random({3, 40}, 21);
  LayerRun got = ExpectMatchesCpu([] { return std::make_unique<Flatten>(); }, device(), x, dy);
  EXPECT_EQ(got.y.shape(), (Shape{3, 40}));
  EXPECT_EQ(got.dx.shape(), x.shape());
  ExpectNear(got.y, Values(x), 0, "Flatten y");
  ExpectNear(got.dx, Values(dy), 0, "Flatten dx");
}

// The block is depthwise conv, BatchNorm, ReLU, pointwise conv, BatchNorm, ReLU: each part has
// its naive reference above, so the block is checked against the CPU backend only.
TEST_P(LayerParity, DepthwiseSeparableAgainstCpu) {
  const Tensor x = Random({2, 4, 6, 6}, 22), dy = Random({2, 8, 3, 3}, 23);
  auto make = [] {
    return std::make_unique<DepthwiseSeparable>(
        DepthwiseSeparableConfig{.in_channels = 4, .out_channels = 8, .stride = 2}, 24);
  };
  LayerRun got = ExpectMatchesCpu(make, device(), x, dy);
  EXPECT_EQ(got.y.shape(), (Shape{2, 8, 3, 3}));
}

INSTANTIATE_TEST_SUITE_P(Backends, LayerParity, ::testing::ValuesIn(testing::BackendKinds()),
                         testing::BackendName);

}  // namespace
}  // namespace millrace::ops
