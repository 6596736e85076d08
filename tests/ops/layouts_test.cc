// Backend layouts kept between layers (ops/cpu/layout.h) and the fused BatchNorm + ReLU:
// a chain of layers in oneDNN's blocked layouts gives the results of the same layers run one by
// one on plain tensors, up to floating-point reassociation; a blocked tensor is never read as
// plain.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "ops/activation/relu.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/cpu/layout.h"
#include "ops/dwsep/dwsep.h"
#include "ops/flatten/flatten.h"
#include "ops/linear/linear.h"
#include "ops/pooling/pooling.h"
#include "ops/sequential.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

using testing::AllClose;
using testing::RandomTensor;

// A small convnet with every layer that takes layouts, a DepthwiseSeparable block and layers
// that do not (Flatten, Linear). The same seeds give the same weights on every call.
std::vector<std::pair<std::string, std::unique_ptr<Layer>>> Layers() {
  std::vector<std::pair<std::string, std::unique_ptr<Layer>>> l;
  auto add = [&](std::string name, std::unique_ptr<Layer> layer) {
    l.emplace_back(std::move(name), std::move(layer));
  };
  add("conv1",
      std::make_unique<Conv2d>(
          Conv2dConfig{.in_channels = 3, .out_channels = 16, .padding = 1, .bias = false}, 1));
  add("bn1", std::make_unique<BatchNorm2d>(16));
  add("relu1", std::make_unique<ReLU>());
  add("pool1", std::make_unique<MaxPool2d>(2));
  add("block",
      std::make_unique<DepthwiseSeparable>(
          DepthwiseSeparableConfig{.in_channels = 16, .out_channels = 24, .stride = 2}, 2));
  add("conv2",
      std::make_unique<Conv2d>(
          Conv2dConfig{.in_channels = 24, .out_channels = 8, .kernel_h = 1, .kernel_w = 1}, 3));
  add("relu2", std::make_unique<ReLU>());
  add("pool2", std::make_unique<GlobalAvgPool>());
  add("flatten", std::make_unique<Flatten>());
  add("fc", std::make_unique<Linear>(8, 5, true, 4));
  return l;
}

TEST(Layouts, ChainInBlockedLayoutsMatchesPlainLayerByLayer) {
  Sequential model;
  for (auto& [name, layer] : Layers()) model.Add(name, std::move(layer));
  auto by_hand = Layers();  // the same layers, called one at a time: plain tensors, no fusion

  const Tensor x = RandomTensor({4, 3, 12, 12}, 5);
  const Tensor dy = RandomTensor({4, 5}, 6);
  for (int step = 0; step < 2; ++step) {  // the second step runs on cached primitives
    model.ZeroGrad();
    for (auto& [name, layer] : by_hand) {
      for (Parameter* p : layer->Parameters()) p->grad.Zero();
    }
    const Tensor y = model.Forward(x, Mode::kTrain);
    ASSERT_TRUE(y.plain());
    const Tensor dx = model.Backward(dy);
    ASSERT_TRUE(dx.plain());

    Tensor h = x.View();
    for (auto& [name, layer] : by_hand) {
      h = layer->Forward(h, Mode::kTrain);
      ASSERT_TRUE(h.plain()) << name;  // called directly, a layer returns plain tensors
    }
    EXPECT_TRUE(AllClose(y, h, 1e-5, 1e-4)) << "forward, step " << step;
    Tensor g = dy.View();
    for (size_t i = by_hand.size(); i-- > 0;) g = by_hand[i].second->Backward(g);
    EXPECT_TRUE(AllClose(dx, g, 1e-5, 1e-4)) << "input gradient, step " << step;

    std::vector<Parameter*> ref;
    for (auto& [name, layer] : by_hand) {
      for (Parameter* p : layer->Parameters()) ref.push_back(p);
    }
    const std::vector<Parameter*> params = model.Parameters();
    ASSERT_EQ(params.size(), ref.size());
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(AllClose(params[i]->grad, ref[i]->grad, 1e-5, 1e-4))
          << params[i]->name << ", step " << step;
    }
  }
  // Inference too (running statistics, fused ReLU in the eval primitive).
  Tensor h = x.View();
  for (auto& [name, layer] : by_hand) h = layer->Forward(h, Mode::kEval);
  EXPECT_TRUE(AllClose(model.Forward(x, Mode::kEval), h, 1e-5, 1e-4));
}

TEST(Layouts, BlockedTensorIsNotReadAsPlain) {
  Conv2d conv({.in_channels = 8, .out_channels = 16, .padding = 1}, 1);
  const Tensor x = RandomTensor({2, 8, 6, 6}, 2);
  Tensor y;
  {
    const LayoutScope scope(true);  // as inside a Sequential
    y = conv.Forward(x, Mode::kEval);
  }
  if (y.plain()) GTEST_SKIP() << "oneDNN chose a plain layout for this convolution on this CPU";
  EXPECT_NE(y.layout()->Name(), "");
  EXPECT_THROW(y.data<float>(), Error);
  EXPECT_THROW(y.span<float>(), Error);
  EXPECT_THROW(y.raw_data(), Error);
  EXPECT_THROW(y.Reshape({2, -1}), Error);
  EXPECT_THROW(y.Slice(0, 1), Error);
  EXPECT_THROW(y.Fill(0.f), Error);
  EXPECT_THROW(cpu::Wrap(cpu::PlainDesc(y.shape()), y), Error);
  Tensor plain = Tensor::Empty(y.shape());
  EXPECT_THROW(plain.CopyFrom(y), Error);
  try {
    y.data<float>();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("Plain()"), std::string::npos) << e.message();
  }
  // The one way back: Plain(), equal to what the layer returns when called directly.
  const Tensor direct = conv.Forward(x, Mode::kEval);
  ASSERT_TRUE(direct.plain());
  EXPECT_TRUE(testing::SameBits(y.Plain(), direct));
  // A clone keeps the layout; a layer that does not take layouts refuses it.
  EXPECT_FALSE(y.Clone().plain());
  Linear fc(16 * 6 * 6, 3, true, 3);
  Flatten flatten;
  EXPECT_THROW(flatten.Forward(y, Mode::kEval), Error);
}

TEST(Layouts, SequentialGivesPlainTensorsToLayersThatDoNotTakeLayouts) {
  Sequential model;
  model.Add("conv", std::make_unique<Conv2d>(
                        Conv2dConfig{.in_channels = 8, .out_channels = 8, .padding = 1}, 1));
  model.Add("flatten", std::make_unique<Flatten>());  // reshapes: needs plain data
  const Tensor x = RandomTensor({2, 8, 5, 5}, 2);
  Conv2d alone({.in_channels = 8, .out_channels = 8, .padding = 1}, 1);
  const Tensor y = model.Forward(x, Mode::kEval);
  EXPECT_TRUE(testing::SameBits(y, alone.Forward(x, Mode::kEval).Reshape({2, -1})));
}

TEST(FusedBatchNormRelu, MatchesBatchNormThenRelu) {
  BatchNorm2d fused(6), bn(6);
  ReLU relu;
  ASSERT_TRUE(fused.FuseNext(&relu));
  ASSERT_TRUE(fused.fused_relu());
  for (BatchNorm2d* b : {&fused, &bn}) {  // a non-trivial affine
    Rng rng(3);
    UniformFill(b->weight().value, 0.5, 1.5, rng);
    UniformFill(b->bias().value, -0.5, 0.5, rng);
  }
  const Tensor x = RandomTensor({4, 6, 5, 5}, 4);
  const Tensor dy = RandomTensor({4, 6, 5, 5}, 5);
  const Tensor y_fused = fused.Forward(x, Mode::kTrain);
  const Tensor y = relu.Forward(bn.Forward(x, Mode::kTrain), Mode::kTrain);
  EXPECT_TRUE(AllClose(y_fused, y, 1e-6, 1e-5));
  const Tensor dx_fused = fused.Backward(dy);
  const Tensor dx = bn.Backward(relu.Backward(dy));
  EXPECT_TRUE(AllClose(dx_fused, dx, 1e-6, 1e-5));
  EXPECT_TRUE(AllClose(fused.weight().grad, bn.weight().grad, 1e-5, 1e-5));
  EXPECT_TRUE(AllClose(fused.bias().grad, bn.bias().grad, 1e-5, 1e-5));
  EXPECT_TRUE(AllClose(fused.running_mean(), bn.running_mean(), 1e-7, 1e-6));
  EXPECT_TRUE(AllClose(fused.running_var(), bn.running_var(), 1e-7, 1e-6));
  EXPECT_TRUE(AllClose(fused.Forward(x, Mode::kEval),
                       relu.Forward(bn.Forward(x, Mode::kEval), Mode::kEval), 1e-6, 1e-5));
  EXPECT_FALSE(fused.FuseNext(nullptr));
  EXPECT_FALSE(fused.fused_relu());
}

TEST(FusedConvRelu, MatchesConvThenRelu) {
  const Conv2dConfig config{.in_channels = 8,
                            .out_channels = 8,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .padding = 1,
                            .groups = 8};  // depthwise, with bias
  Conv2d fused(config, 1), conv(config, 1);
  ReLU relu;
  ASSERT_TRUE(fused.FuseNext(&relu));
  const Tensor x = RandomTensor({2, 8, 6, 6}, 2);
  const Tensor dy = RandomTensor({2, 8, 6, 6}, 3);
  EXPECT_TRUE(AllClose(fused.Forward(x, Mode::kTrain),
                       relu.Forward(conv.Forward(x, Mode::kTrain), Mode::kTrain), 1e-6, 1e-5));
  EXPECT_TRUE(AllClose(fused.Backward(dy), conv.Backward(relu.Backward(dy)), 1e-6, 1e-5));
  EXPECT_TRUE(AllClose(fused.weight().grad, conv.weight().grad, 1e-5, 1e-5));
  EXPECT_TRUE(AllClose(fused.bias()->grad, conv.bias()->grad, 1e-5, 1e-5));
  // In a Sequential: the ReLU is skipped, its name stays.
  Sequential model;
  model.Add("conv", std::make_unique<Conv2d>(config, 1));
  model.Add("relu", std::make_unique<ReLU>());
  EXPECT_TRUE(model.fused(1));
  EXPECT_EQ(model.layer_name(1), "relu");
}

TEST(FusedBatchNormRelu, SequentialFusesAndKeepsNames) {
  Sequential model;
  model.Add("bn", std::make_unique<BatchNorm2d>(4));
  model.Add("relu", std::make_unique<ReLU>());
  model.Add("flatten", std::make_unique<Flatten>());
  EXPECT_TRUE(model.fused(1));
  EXPECT_TRUE(static_cast<BatchNorm2d&>(model.layer(0)).fused_relu());
  std::vector<std::string> names;
  for (Parameter* p : model.Parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"bn.weight", "bn.bias"}));
  EXPECT_EQ(model.Buffers()[0].first, "bn.running_mean");
  // Replacing the ReLU undoes the fusion.
  model.Replace(1, std::make_unique<Flatten>());
  EXPECT_FALSE(model.fused(1));
  EXPECT_FALSE(static_cast<BatchNorm2d&>(model.layer(0)).fused_relu());
}

}  // namespace
}  // namespace millrace::ops
