// Physical structured pruning: the shrunk model computes what the masked model computes, and
// has fewer parameters.
#include "ops/prune/shrink.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "ops/activation/relu.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
#include "ops/flatten/flatten.h"
#include "ops/linear/linear.h"
#include "ops/models.h"
#include "ops/pooling/pooling.h"
#include "ops/prune/magnitude.h"
#include "ops/sequential.h"

namespace millrace::ops {
namespace {

Tensor Random(Shape shape, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  Tensor t = Tensor::Empty(std::move(shape));
  for (float& v : t.span<float>()) v = normal(rng);
  return t;
}

Sequential Mlp() {
  Sequential m;
  m.Add("fc1", std::make_unique<Linear>(12, 8, true, 1));
  m.Add("relu", std::make_unique<ReLU>());
  m.Add("fc2", std::make_unique<Linear>(8, 3, true, 2));
  return m;
}

Sequential Cnn() {
  Sequential m;
  m.Add("conv1", std::make_unique<Conv2d>(
                     Conv2dConfig{.in_channels = 2, .out_channels = 6, .padding = 1}, 1));
  m.Add("bn1", std::make_unique<BatchNorm2d>(6));
  m.Add("relu1", std::make_unique<ReLU>());
  m.Add("dw", std::make_unique<Conv2d>(
                  Conv2dConfig{.in_channels = 6, .out_channels = 6, .padding = 1, .groups = 6}, 2));
  m.Add("conv2",
        std::make_unique<Conv2d>(
            Conv2dConfig{.in_channels = 6, .out_channels = 4, .kernel_h = 1, .kernel_w = 1}, 3));
  m.Add("relu2", std::make_unique<ReLU>());
  m.Add("pool", std::make_unique<MaxPool2d>(2));
  m.Add("flatten", std::make_unique<Flatten>());
  m.Add("fc", std::make_unique<Linear>(4 * 3 * 3, 5, true, 4));
  return m;
}

void ExpectClose(const Tensor& a, const Tensor& b, float tolerance) {
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.numel(); ++i) {
    EXPECT_NEAR(a.data<float>()[i], b.data<float>()[i], tolerance) << i;
  }
}

// Zeroes the consumer's inputs that read the removed channels (each channel `block` inputs).
void ZeroInputs(Parameter& w, int64_t removed, int64_t block) {
  const int64_t rows = w.value.dim(0), per_row = w.value.numel() / rows;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < block; ++k)
      w.value.data<float>()[r * per_row + removed * block + k] = 0;
  }
}

TEST(Shrink, LinearOutputsMatchTheMaskedModel) {
  Sequential masked = Mlp(), shrunk = Mlp();
  // Masked: the 4 hidden units of smallest L2 norm, their rows and their outgoing weights 0.
  Parameter& w1 = *masked.FindParameter("fc1.weight");
  L2Structured(w1, PruneAmount::Fraction(0.5));
  std::vector<int64_t> expected_keep;
  for (int64_t u = 0; u < 8; ++u) {
    if (w1.mask.data<float>()[u * 12] != 0) {
      expected_keep.push_back(u);
    } else {
      ZeroInputs(*masked.FindParameter("fc2.weight"), u, 1);
    }
  }
  const std::vector<int64_t> keep = ShrinkByL2(shrunk, "fc1", PruneAmount::Fraction(0.5));
  EXPECT_EQ(keep, expected_keep);
  EXPECT_EQ(shrunk.FindParameter("fc1.weight")->value.shape(), (Shape{4, 12}));
  EXPECT_EQ(shrunk.FindParameter("fc2.weight")->value.shape(), (Shape{3, 4}));
  EXPECT_EQ(shrunk.ParameterCount(), 4 * 12 + 4 + 3 * 4 + 3);
  Tensor x = Random({5, 12}, 1);
  ExpectClose(shrunk.Forward(x, Mode::kEval), masked.Forward(x, Mode::kEval), 1e-5f);
}

TEST(Shrink, RealisesAStructuredMaskAndKeepsOtherMasks) {
  Sequential m = Mlp();
  L2Structured(*m.FindParameter("fc1.weight"), PruneAmount::Count(3));
  L1Unstructured(*m.FindParameter("fc2.weight"), PruneAmount::Count(5));
  const int64_t fc2_pruned = PrunedCount(*m.FindParameter("fc2.weight"));
  const std::vector<int64_t> keep = ShrinkMaskedOutputs(m, "fc1");
  EXPECT_EQ(keep.size(), 5u);
  EXPECT_EQ(m.FindParameter("fc1.weight")->value.shape(), (Shape{5, 12}));
  EXPECT_EQ(PrunedCount(*m.FindParameter("fc1.weight")), 0);  // the zero rows are gone
  // fc2's mask is sliced with its columns: what was pruned in the kept columns stays pruned.
  EXPECT_LE(PrunedCount(*m.FindParameter("fc2.weight")), fc2_pruned);
}

TEST(Shrink, ConvThroughBatchNormDepthwisePoolAndFlatten) {
  Tensor x = Random({2, 2, 6, 6}, 2);
  // Give BatchNorm running statistics that are not the defaults.
  Sequential masked = Cnn(), shrunk = Cnn();
  for (Sequential* m : {&masked, &shrunk}) {
    for (int i = 0; i < 3; ++i) m->Forward(x, Mode::kTrain);
  }
  // conv1: remove channels 1 and 4; they pass bn1, relu1 and the depthwise conv, and conv2
  // stops reading them. Masked equivalent: conv2's weights on those channels are 0.
  ShrinkOutputs(shrunk, "conv1", {0, 2, 3, 5});
  for (int64_t c : {1, 4}) ZeroInputs(*masked.FindParameter("conv2.weight"), c, 1);
  // conv2: remove channel 2; the Linear after pool + flatten loses its 3 x 3 block of inputs.
  ShrinkOutputs(shrunk, "conv2", {0, 1, 3});
  ZeroInputs(*masked.FindParameter("fc.weight"), 2, 9);
  EXPECT_EQ(shrunk.FindParameter("bn1.weight")->value.shape(), (Shape{4}));
  EXPECT_EQ(shrunk.FindParameter("dw.weight")->value.shape(), (Shape{4, 1, 3, 3}));
  EXPECT_EQ(shrunk.FindParameter("conv2.weight")->value.shape(), (Shape{3, 4, 1, 1}));
  EXPECT_EQ(shrunk.FindParameter("fc.weight")->value.shape(), (Shape{5, 27}));
  ExpectClose(shrunk.Forward(x, Mode::kEval), masked.Forward(x, Mode::kEval), 1e-4f);
  EXPECT_LT(shrunk.ForwardFlops({2, 2, 6, 6}), masked.ForwardFlops({2, 2, 6, 6}));
}

TEST(Shrink, DepthwiseSeparablePresetShrinksBlockByBlock) {
  Sequential masked = MakeModel("dwsep", 1), shrunk = MakeModel("dwsep", 1);
  Tensor x = Random({2, 1, 28, 28}, 3);
  for (Sequential* m : {&masked, &shrunk}) m->Forward(x, Mode::kTrain);  // running statistics
  const int64_t before = shrunk.ForwardFlops({2, 1, 28, 28});
  // conv1 -> bn1 -> relu1 -> block1 (depthwise, bn, relu, pointwise): block1.pw stops reading.
  // block1's outputs -> block2's inputs; block3's outputs -> pool, flatten -> fc.
  struct Step {
    const char* layer;
    const char* consumer;
    int64_t channels;
  };
  for (Step s : {Step{"conv1", "block1.pw.weight", 32}, Step{"block1", "block2.pw.weight", 64},
                 Step{"block3", "fc.weight", 128}}) {
    const std::vector<int64_t> keep = ShrinkByL2(shrunk, s.layer, PruneAmount::Fraction(0.25));
    EXPECT_EQ(static_cast<int64_t>(keep.size()), s.channels - s.channels / 4) << s.layer;
    for (int64_t c = 0, j = 0; c < s.channels; ++c) {
      if (j < static_cast<int64_t>(keep.size()) && keep[j] == c) {
        ++j;
      } else {
        ZeroInputs(*masked.FindParameter(s.consumer), c, 1);
      }
    }
  }
  EXPECT_EQ(shrunk.FindParameter("block1.dw.weight")->value.shape(), (Shape{24, 1, 3, 3}));
  EXPECT_EQ(shrunk.FindParameter("block1.pw.weight")->value.shape(), (Shape{48, 24, 1, 1}));
  EXPECT_EQ(shrunk.FindParameter("block2.bn1.weight")->value.shape(), (Shape{48}));
  EXPECT_EQ(shrunk.FindParameter("fc.weight")->value.shape(), (Shape{10, 96}));
  ExpectClose(shrunk.Forward(x, Mode::kEval), masked.Forward(x, Mode::kEval), 1e-4f);
  EXPECT_LT(shrunk.ForwardFlops({2, 1, 28, 28}), before);
}

TEST(Shrink, RefusesWhatItCannotShrink) {
  Sequential m = Mlp();
  EXPECT_THROW(ShrinkOutputs(m, "fc2", {0, 1}), Error);  // the model's output
  EXPECT_THROW(ShrinkOutputs(m, "relu", {0}), Error);
  EXPECT_THROW(ShrinkOutputs(m, "nope", {0}), Error);
  EXPECT_THROW(ShrinkOutputs(m, "fc1", {3, 1}), Error);  // not increasing
  EXPECT_THROW(ShrinkOutputs(m, "fc1", {}), Error);
  EXPECT_EQ(m.FindParameter("fc1.weight")->value.shape(), (Shape{8, 12}));  // unchanged
}

}  // namespace
}  // namespace millrace::ops
