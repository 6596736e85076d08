// Backend parity of the layers' behaviours that layers_parity_test.cc's one-layer runs do not
// reach, on every backend of this build against the CPU backend: fused ReLUs (Conv2d + ReLU,
// BatchNorm2d + ReLU inside a Sequential), eval after train at another batch size (a second
// cached shape), gradients accumulating over two backward passes (cuDNN's beta = 1), a first
// layer without input gradient, and max pooling's ties, NaN and -inf. The CPU row checks the
// tests themselves; the CUDA row is what they are for. Its rows are the backends that have
// kernels for Conv2d, BatchNorm2d and the pooling layers (every op of the nets below: the ReLUs
// are fused), not CompiledBackends(), which lists CUDA only once every op has CUDA kernels: a
// machine with a GPU checks these layers before the rest of the CUDA backend is there.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ops/activation/relu.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
#include "ops/dwsep/dwsep.h"
#include "ops/pooling/pooling.h"
#include "ops/sequential.h"
#include "tests/ops/backend_parity.h"

namespace millrace::ops {
namespace {

using testing::BackendDevice;
using testing::ExpectNear;
using testing::Random;

constexpr double kBehaviourTol = 1e-4;

// The CPU, and CUDA where this build registers CUDA kernels for these layers.
std::vector<Device::Kind> BehaviourBackendKinds() {
  constexpr Device::Kind kCuda = Device::Kind::kCuda;
  std::vector<Device::Kind> kinds = {Device::Kind::kCpu};
  if (Conv2d::Kernels().Has(kCuda) && BatchNorm2d::Kernels().Has(kCuda) &&
      Pool2d::Kernels().Has(kCuda)) {
    kinds.push_back(kCuda);
  }
  return kinds;
}

class LayerBehaviourParity : public ::testing::TestWithParam<Device::Kind> {
 protected:
  // FP32 on CUDA: the parity with the CPU here is FP32's (TF32 and bf16: precision_test.cc).
  void SetUp() override {
    MILLRACE_SKIP_WITHOUT_DEVICE(GetParam());
    SetComputePrecision(Precision::kFp32);
  }
  void TearDown() override { SetComputePrecision(kDefaultPrecision); }
  Device device() const { return BackendDevice(GetParam()); }
};

// conv (bias) + ReLU, depthwise conv (no bias) + BN + ReLU, pointwise conv + BN + ReLU, max
// pool, average pool with padding: both fusions and every CUDA op of this folder's layers.
Sequential MakeBehaviourNet() {
  Sequential net;
  net.Add("conv1", std::make_unique<Conv2d>(
                       Conv2dConfig{.in_channels = 3, .out_channels = 4, .padding = 1}, 31));
  net.Add("relu1", std::make_unique<ReLU>());
  net.Add("block", std::make_unique<DepthwiseSeparable>(
                       DepthwiseSeparableConfig{.in_channels = 4, .out_channels = 6}, 32));
  net.Add("pool1", std::make_unique<MaxPool2d>(2));
  net.Add("pool2", std::make_unique<AvgPool2d>(3, 1, 1, false));
  return net;
}

void MoveNet(Sequential& net, Device device) {
  for (Parameter* p : net.Parameters()) {
    p->value = p->value.To(device);
    p->grad = p->grad.To(device);
  }
  for (auto& [name, buffer] : net.Buffers()) *buffer = buffer->To(device);
}

TEST_P(LayerBehaviourParity, FusedReluNetTrainsAndEvaluatesLikeTheCpu) {
  Sequential cpu_net = MakeBehaviourNet(), dev_net = MakeBehaviourNet();
  ASSERT_TRUE(dev_net.fused(1));  // conv1 absorbs relu1
  MoveNet(dev_net, device());
  const Tensor x = Random({2, 3, 8, 8}, 33), dy = Random({2, 6, 4, 4}, 34);
  const Tensor x_eval = Random({3, 3, 8, 8}, 35);
  for (int step = 0; step < 2; ++step) {
    const std::string what = "step " + std::to_string(step) + " on " + device().ToString();
    Tensor want_y = cpu_net.Forward(x, Mode::kTrain);
    Tensor want_dx = cpu_net.Backward(dy);
    Tensor got_y = dev_net.Forward(x.To(device()), Mode::kTrain);
    Tensor got_dx = dev_net.Backward(dy.To(device()));
    ExpectNear(got_y, want_y, kBehaviourTol, what + " y");
    ExpectNear(got_dx, want_dx, kBehaviourTol, what + " dx");
    // Another batch size in eval mode between the steps: a second cached shape, and the
    // running statistics the training forward left.
    ExpectNear(dev_net.Forward(x_eval.To(device()), Mode::kEval),
               cpu_net.Forward(x_eval, Mode::kEval), kBehaviourTol, what + " eval y");
  }
  // The grads of both steps, added up; the running statistics of both steps.
  const std::vector<Parameter*> want = cpu_net.Parameters(), got = dev_net.Parameters();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ExpectNear(got[i]->grad, want[i]->grad, kBehaviourTol, "grad of " + got[i]->name);
  }
  auto want_buffers = cpu_net.Buffers(), got_buffers = dev_net.Buffers();
  ASSERT_EQ(got_buffers.size(), want_buffers.size());
  for (size_t i = 0; i < got_buffers.size(); ++i) {
    ExpectNear(*got_buffers[i].second, *want_buffers[i].second, kBehaviourTol,
               got_buffers[i].first);
  }
}

// The convolution's options one at a time and together (stride, padding, dilation, groups,
// depthwise, no bias, a non-square kernel), forward and backward against the CPU.
TEST_P(LayerBehaviourParity, ConvOptionsMatchTheCpu) {
  const std::vector<Conv2dConfig> configs = {
      {.in_channels = 3, .out_channels = 8, .kernel_h = 3, .kernel_w = 3, .stride = 2},
      {.in_channels = 4,
       .out_channels = 6,
       .kernel_h = 3,
       .kernel_w = 3,
       .padding = 2,
       .dilation = 2},
      {.in_channels = 4,
       .out_channels = 8,
       .kernel_h = 1,
       .kernel_w = 3,
       .padding = 1,
       .groups = 2,
       .bias = false},
      {.in_channels = 6,
       .out_channels = 6,
       .kernel_h = 3,
       .kernel_w = 3,
       .stride = 2,
       .padding = 1,
       .groups = 6},
      {.in_channels = 6,
       .out_channels = 12,
       .kernel_h = 3,
       .kernel_w = 3,
       .stride = 1,
       .padding = 1,
       .groups = 6,
       .bias = false},  // depthwise with a multiplier of 2
  };
  for (const Conv2dConfig& c : configs) {
    Conv2d cpu_conv(c, 45), dev_conv(c, 45);
    testing::MoveLayer(dev_conv, device());
    const Tensor x = Random({3, c.in_channels, 9, 8}, 46);
    const Tensor dy = Random(cpu_conv.OutputShape(x.shape()), 47);
    const std::string what = cpu_conv.Describe() + " on " + device().ToString();
    ExpectNear(dev_conv.Forward(x.To(device()), Mode::kTrain), cpu_conv.Forward(x, Mode::kTrain),
               kBehaviourTol, what + " y");
    ExpectNear(dev_conv.Backward(dy.To(device())), cpu_conv.Backward(dy), kBehaviourTol,
               what + " dx");
    ExpectNear(dev_conv.weight().grad, cpu_conv.weight().grad, kBehaviourTol, what + " dW");
    if (c.bias)
      ExpectNear(dev_conv.bias()->grad, cpu_conv.bias()->grad, kBehaviourTol, what + " db");
  }
}

// Every pooling layer and window kind, forward and backward against the CPU.
TEST_P(LayerBehaviourParity, PoolingMatchesTheCpu) {
  const std::vector<std::function<std::unique_ptr<Pool2d>()>> makes = {
      [] { return std::make_unique<MaxPool2d>(2); },
      [] { return std::make_unique<MaxPool2d>(3, 2, 1); },
      [] { return std::make_unique<MaxPool2d>(3, 1, 0); },
      [] { return std::make_unique<AvgPool2d>(2); },
      [] { return std::make_unique<AvgPool2d>(3, 2, 1, true); },
      [] { return std::make_unique<AvgPool2d>(3, 2, 1, false); },
      [] { return std::make_unique<GlobalAvgPool>(); },
  };
  const Tensor x = Random({2, 3, 9, 7}, 48);
  for (const auto& make : makes) {
    auto cpu_pool = make(), dev_pool = make();
    const Tensor dy = Random(cpu_pool->OutputShape(x.shape()), 49);
    const std::string what = cpu_pool->Describe() + " on " + device().ToString();
    ExpectNear(dev_pool->Forward(x.To(device()), Mode::kTrain), cpu_pool->Forward(x, Mode::kTrain),
               kBehaviourTol, what + " y");
    ExpectNear(dev_pool->Backward(dy.To(device())), cpu_pool->Backward(dy), kBehaviourTol,
               what + " dx");
    ExpectNear(dev_pool->Forward(x.To(device()), Mode::kEval), cpu_pool->Forward(x, Mode::kEval),
               kBehaviourTol, what + " eval y");
  }
}

// Backward adds into Parameter::grad: two passes give twice one pass.
TEST_P(LayerBehaviourParity, GradientsAccumulateOverBackwardPasses) {
  auto conv = std::make_unique<Conv2d>(
      Conv2dConfig{.in_channels = 2, .out_channels = 4, .stride = 2, .padding = 1}, 36);
  auto bn = std::make_unique<BatchNorm2d>(4);
  testing::MoveLayer(*conv, device());
  testing::MoveLayer(*bn, device());
  const Tensor x = Random({2, 2, 7, 7}, 37).To(device());
  const Tensor dy = Random({2, 4, 4, 4}, 38).To(device());
  std::vector<Layer*> layers = {conv.get(), bn.get()};
  for (Layer* layer : layers) {
    const Tensor& in = layer == conv.get() ? x : dy;  // BN takes a [2, 4, 4, 4] input
    layer->Forward(in, Mode::kTrain);
    layer->Backward(dy);
    std::vector<std::vector<double>> once;
    for (Parameter* p : layer->Parameters()) once.push_back(testing::Values(p->grad));
    layer->Forward(in, Mode::kTrain);
    layer->Backward(dy);
    const std::vector<Parameter*> params = layer->Parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      std::vector<double> twice = once[i];
      for (double& v : twice) v *= 2;
      ExpectNear(params[i]->grad, twice, 1e-5, layer->Describe() + " grad " + std::to_string(i));
    }
  }
}

// A first layer told that its input needs no gradient returns none and computes the same
// parameter gradients.
TEST_P(LayerBehaviourParity, ConvWithoutInputGradientKeepsItsParameterGradients) {
  const Conv2dConfig c{.in_channels = 3, .out_channels = 5, .kernel_h = 3, .kernel_w = 2};
  Conv2d with(c, 39), without(c, 39);
  testing::MoveLayer(with, device());
  testing::MoveLayer(without, device());
  without.set_input_grad(false);
  const Tensor x = Random({2, 3, 6, 5}, 40).To(device());
  const Tensor dy = Random(with.OutputShape(x.shape()), 41).To(device());
  with.Forward(x, Mode::kTrain);
  EXPECT_TRUE(with.Backward(dy).defined());
  without.Forward(x, Mode::kTrain);
  EXPECT_FALSE(without.Backward(dy).defined());
  ExpectNear(without.weight().grad, with.weight().grad, 0, "weight grad");
  ExpectNear(without.bias()->grad, with.bias()->grad, 0, "bias grad");
}

// Bit patterns, so that NaN == NaN and -0 != 0 show.
std::vector<uint32_t> Bits(const Tensor& t) {
  Tensor h = testing::Host(t);
  std::vector<uint32_t> bits(static_cast<size_t>(h.numel()));
  std::memcpy(bits.data(), h.data<float>(), bits.size() * sizeof(float));
  return bits;
}

// torch's max pooling: the first maximum of a window (row-major) wins a tie and takes the
// gradient, a NaN wins over any number, a window of -inf gives -inf; padding never wins.
TEST_P(LayerBehaviourParity, MaxPoolTiesNanAndInfinity) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  // [1, 1, 2, 6]: windows {1, 3 | 3, 2}, {3, 0 | nan, 5}, {-inf, -inf | -inf, -inf}.
  const Tensor x = Tensor::FromVector({1, 1, 2, 6}, {1, 3, 3, 0, -inf, -inf,  //
                                                     3, 2, nan, 5, -inf, -inf});
  const Tensor dy = Tensor::FromVector({1, 1, 1, 3}, {10, 20, 30});
  MaxPool2d pool(2);
  const Tensor y = pool.Forward(x.To(device()), Mode::kTrain);
  const Tensor dx = pool.Backward(dy.To(device()));
  const std::vector<float> want_y = {3, nan, -inf};
  const std::vector<float> want_dx = {0, 10, 0,  0, 30, 0,  //
                                      0, 0,  20, 0, 0,  0};
  auto bits_of = [](const std::vector<float>& v) {
    std::vector<uint32_t> bits(v.size());
    std::memcpy(bits.data(), v.data(), v.size() * sizeof(float));
    return bits;
  };
  EXPECT_EQ(Bits(y), bits_of(want_y));
  EXPECT_EQ(Bits(dx), bits_of(want_dx));
  // Overlapping windows with padding (3x3, stride 2, padding 1): the same as the CPU's, bit for
  // bit, with ties everywhere (a constant image) and a NaN.
  Tensor flat = Tensor::Empty({1, 2, 5, 5});
  for (int64_t i = 0; i < flat.numel(); ++i) flat.data<float>()[i] = i < 25 ? 1.f : 2.f;
  flat.data<float>()[37] = nan;
  MaxPool2d cpu_pool(3, 2, 1), dev_pool(3, 2, 1);
  const Tensor g = Random({1, 2, 3, 3}, 42);
  const Tensor want_flat_y = cpu_pool.Forward(flat, Mode::kTrain);
  const Tensor want_flat_dx = cpu_pool.Backward(g);
  EXPECT_EQ(Bits(dev_pool.Forward(flat.To(device()), Mode::kTrain)), Bits(want_flat_y));
  EXPECT_EQ(Bits(dev_pool.Backward(g.To(device()))), Bits(want_flat_dx));
}

// On a device, parameters left on another device are one clear error, not a fault.
TEST_P(LayerBehaviourParity, ParametersOnAnotherDeviceAreAnError) {
  if (GetParam() == Device::Kind::kCpu) GTEST_SKIP() << "the CPU backend reads host parameters";
  Conv2d conv(Conv2dConfig{.in_channels = 1, .out_channels = 2}, 43);  // parameters on the CPU
  const Tensor x = Random({1, 1, 4, 4}, 44).To(device());
  try {
    conv.Forward(x, Mode::kEval);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.message()).find("weight on cpu"), std::string::npos) << e.message();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, LayerBehaviourParity,
                         ::testing::ValuesIn(BehaviourBackendKinds()), testing::BackendName);

}  // namespace
}  // namespace millrace::ops
