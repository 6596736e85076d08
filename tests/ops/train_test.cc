// A tiny model trained on synthetic, linearly separable data: the loss must fall by 10x, with
// SGD (momentum) and with AdamW, and with half its weights pruned and masked throughout.
#include <gtest/gtest.h>

#include <random>

#include "ops/activation/relu.h"
#include "ops/linear/linear.h"
#include "ops/loss/loss.h"
#include "ops/optim/adamw.h"
#include "ops/optim/sgd.h"
#include "ops/prune/magnitude.h"
#include "ops/sequential.h"

namespace millrace::ops {
namespace {

// 3 classes in 8 dimensions: class c is a Gaussian blob around 3 * e_c.
struct Data {
  Tensor x;
  Tensor labels;
};
Data MakeData(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 0.5f);
  Data d{Tensor::Empty({n, 8}), Tensor::Empty({n}, DType::kI64)};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 3;
    d.labels.data<int64_t>()[i] = c;
    for (int64_t j = 0; j < 8; ++j) d.x.data<float>()[i * 8 + j] = noise(rng) + (j == c ? 3.0f : 0);
  }
  return d;
}

Sequential Model() {
  Sequential m;
  m.Add("fc1", std::make_unique<Linear>(8, 16, true, 11));
  m.Add("relu", std::make_unique<ReLU>());
  m.Add("fc2", std::make_unique<Linear>(16, 3, true, 12));
  return m;
}

// Full-batch training; returns {initial loss, final loss}.
std::pair<double, double> Train(Sequential& model, Optimizer& opt, const Data& d, int steps) {
  double first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    model.ZeroGrad();
    LossResult r = SoftmaxCrossEntropy(model.Forward(d.x, Mode::kTrain), d.labels);
    model.Backward(r.grad);
    opt.Step();
    if (step == 0) first = r.loss;
    last = r.loss;
  }
  return {first, last};
}

TEST(Training, SgdDrivesTheLossDown) {
  Data d = MakeData(96, 1);
  Sequential m = Model();
  Sgd sgd(m.Parameters(), {.lr = 0.1, .momentum = 0.9});
  auto [first, last] = Train(m, sgd, d, 60);
  EXPECT_GT(first, 0.5);  // about log(3) at the start
  EXPECT_LT(last, 0.1 * first) << "first " << first << " last " << last;
}

TEST(Training, AdamWDrivesTheLossDown) {
  Data d = MakeData(96, 2);
  Sequential m = Model();
  AdamW adamw(m.Parameters(), {.lr = 0.02});
  auto [first, last] = Train(m, adamw, d, 80);
  EXPECT_LT(last, 0.1 * first) << "first " << first << " last " << last;
}

TEST(Training, PrunedModelStillLearnsAndStaysSparse) {
  Data d = MakeData(96, 3);
  Sequential m = Model();
  GlobalL1Unstructured({m.FindParameter("fc1.weight"), m.FindParameter("fc2.weight")},
                       PruneAmount::Fraction(0.5));
  Sgd sgd(m.Parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4});
  auto [first, last] = Train(m, sgd, d, 80);
  EXPECT_LT(last, 0.1 * first) << "first " << first << " last " << last;
  int64_t zeros = 0;
  for (const char* name : {"fc1.weight", "fc2.weight"}) {
    for (float w : m.FindParameter(name)->value.span<float>()) zeros += w == 0.0f;
  }
  EXPECT_GE(zeros, (8 * 16 + 16 * 3) / 2);  // round(0.5 * 176) = 88 held at 0
}

}  // namespace
}  // namespace millrace::ops
