// Sequential (with Flatten): names, parameter counts, shapes, errors, forward/backward chain.
#include "ops/sequential.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "ops/activation/relu.h"
#include "ops/flatten/flatten.h"
#include "ops/linear/linear.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

Sequential SmallMlp() {
  Sequential m;
  m.Add("flatten", std::make_unique<Flatten>());
  m.Add("fc1", std::make_unique<Linear>(12, 5, true, 1));
  m.Add("relu1", std::make_unique<ReLU>());
  m.Add("fc2", std::make_unique<Linear>(5, 3, true, 2));
  return m;
}

TEST(Sequential, NamesAndCounts) {
  Sequential m = SmallMlp();
  std::vector<std::string> names;
  for (Parameter* p : m.Parameters()) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(m.ParameterCount(), 12 * 5 + 5 + 5 * 3 + 3);
  ASSERT_NE(m.FindParameter("fc2.bias"), nullptr);
  EXPECT_EQ(m.FindParameter("fc2.bias")->value.shape(), (Shape{3}));
  EXPECT_EQ(m.FindParameter("fc3.bias"), nullptr);
  EXPECT_FALSE(m.FindParameter("fc1.bias")->decay);
  EXPECT_TRUE(m.FindParameter("fc1.weight")->decay);
  EXPECT_EQ(m.OutputShape({7, 3, 2, 2}), (Shape{7, 3}));
  EXPECT_EQ(m.ForwardFlops({7, 12}), 2 * 7 * (12 * 5 + 5 * 3));
  const std::string summary = m.Summary({7, 12});
  EXPECT_NE(summary.find("Linear(12 -> 5)"), std::string::npos);
  EXPECT_NE(summary.find("[7, 3]"), std::string::npos);
  EXPECT_EQ(m.layer_name(2), "relu1");
  EXPECT_EQ(m.layer(3).kind(), "Linear");
}

TEST(Sequential, RejectsBadNames) {
  Sequential m;
  m.Add("a", std::make_unique<ReLU>());
  EXPECT_THROW(m.Add("a", std::make_unique<ReLU>()), Error);
  EXPECT_THROW(m.Add("", std::make_unique<ReLU>()), Error);
}

TEST(Sequential, ShapeErrorNamesTheLayer) {
  Sequential m = SmallMlp();
  try {
    m.OutputShape({7, 13});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("layer 'fc1'"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("has 13 features, expected 12"), std::string::npos) << e.message();
  }
  EXPECT_THROW(m.Forward(Tensor::Zeros({7, 13}), Mode::kTrain), Error);
}

TEST(Sequential, ForwardBackwardChainsLayers) {
  Sequential m = SmallMlp();
  Tensor x = testing::RandomTensor({4, 3, 2, 2}, 5);
  Tensor y = m.Forward(x, Mode::kTrain);
  ASSERT_EQ(y.shape(), (Shape{4, 3}));
  // Same as calling the layers by hand.
  Tensor h = m.layer(0).Forward(x, Mode::kEval);
  for (size_t i = 1; i < m.size(); ++i) h = m.layer(i).Forward(h, Mode::kEval);
  EXPECT_TRUE(testing::SameBits(h, y));
  m.ZeroGrad();
  m.Forward(x, Mode::kTrain);
  Tensor dx = m.Backward(testing::RandomTensor({4, 3}, 6));
  EXPECT_EQ(dx.shape(), x.shape());
  double norm = 0;
  for (float g : m.FindParameter("fc1.weight")->grad.span<float>()) norm += std::abs(g);
  EXPECT_GT(norm, 0);
  m.ZeroGrad();
  for (Parameter* p : m.Parameters()) {
    for (float g : p->grad.span<float>()) ASSERT_EQ(g, 0.f);
  }
}

// Without the input's gradient, Backward stops at the first trained layer, which computes only
// its parameters' gradients: they are bit-identical to a full Backward's, no dx comes back,
// and the FLOP count of a step drops by that layer's backward-data.
TEST(Sequential, WithoutInputGradTheParameterGradientsAreTheSame) {
  Sequential full = SmallMlp(), lean = SmallMlp();
  lean.set_input_grad(false);
  EXPECT_TRUE(full.layer(1).input_grad());
  EXPECT_FALSE(lean.layer(1).input_grad());  // fc1, after the parameter-free flatten
  EXPECT_TRUE(lean.layer(3).input_grad());   // fc2 still passes a gradient to relu1
  Tensor x = testing::RandomTensor({4, 3, 2, 2}, 5);
  Tensor dy = testing::RandomTensor({4, 3}, 6);
  full.Forward(x, Mode::kTrain);
  lean.Forward(x, Mode::kTrain);
  EXPECT_TRUE(full.Backward(dy).defined());
  EXPECT_FALSE(lean.Backward(dy).defined());
  const std::vector<Parameter*> a = full.Parameters(), b = lean.Parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(testing::SameBits(a[i]->grad, b[i]->grad));
  const Shape in = {1, 3, 2, 2};
  EXPECT_EQ(full.TrainingFlops(in), 3 * full.ForwardFlops(in));
  EXPECT_EQ(lean.TrainingFlops(in), 3 * full.ForwardFlops(in) - 2 * 12 * 5);
  // A layer replaced in first position is told too.
  lean.Replace(1, std::make_unique<Linear>(12, 5, true, 3));
  EXPECT_FALSE(lean.layer(1).input_grad());
  lean.set_input_grad(true);
  EXPECT_TRUE(lean.layer(1).input_grad());
}

TEST(Sequential, ReplaceRenamesParameters) {
  Sequential m = SmallMlp();
  m.Replace(1, std::make_unique<Linear>(12, 4, true, 9));
  m.Replace(3, std::make_unique<Linear>(4, 3, true, 9));
  EXPECT_EQ(m.FindParameter("fc1.weight")->value.shape(), (Shape{4, 12}));
  EXPECT_EQ(m.ParameterCount(), 12 * 4 + 4 + 4 * 3 + 3);
  EXPECT_THROW(m.Replace(9, std::make_unique<ReLU>()), Error);
}

TEST(Flatten, ViewAndBackward) {
  Flatten f;
  Tensor x = testing::RandomTensor({2, 3, 4}, 1);
  Tensor y = f.Forward(x, Mode::kTrain);
  EXPECT_EQ(y.shape(), (Shape{2, 12}));
  EXPECT_TRUE(y.SharesStorageWith(x));
  Tensor dx = f.Backward(y);
  EXPECT_EQ(dx.shape(), x.shape());
  EXPECT_THROW(f.Backward(Tensor::Zeros({2, 11})), Error);
}

}  // namespace
}  // namespace millrace::ops
