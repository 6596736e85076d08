// Optimizers against steps computed here from the published formulas (in double), masks, and
// the export/import of their state.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/optim/adamw.h"
#include "ops/optim/sgd.h"

namespace millrace::ops {
namespace {

Parameter Param(std::string name, std::vector<float> values, bool decay = true) {
  Parameter p;
  p.name = std::move(name);
  const int64_t n = static_cast<int64_t>(values.size());
  p.value = Tensor::FromVector({n}, values);
  p.grad = Tensor::Zeros({n});
  p.decay = decay;
  return p;
}

void SetGrad(Parameter& p, const std::vector<float>& g) {
  for (size_t i = 0; i < g.size(); ++i) p.grad.data<float>()[i] = g[i];
}

// The gradients fed at steps 1, 2, 3.
const std::vector<std::vector<float>> kGrads = {{0.5f, -1.0f}, {0.25f, 2.0f}, {-0.75f, 0.5f}};

// torch.optim.SGD, element by element, in double.
std::vector<double> ReferenceSgd(std::vector<double> w, double lr, double momentum,
                                 double dampening, double wd, bool nesterov) {
  std::vector<double> buf(w.size(), 0);
  for (size_t t = 0; t < kGrads.size(); ++t) {
    for (size_t i = 0; i < w.size(); ++i) {
      double g = kGrads[t][i] + wd * w[i];
      if (momentum != 0) {
        buf[i] = t == 0 ? g : momentum * buf[i] + (1 - dampening) * g;
        g = nesterov ? g + momentum * buf[i] : buf[i];
      }
      w[i] -= lr * g;
    }
  }
  return w;
}

void RunSgd(const SgdOptions& options, bool decay = true) {
  Parameter p = Param("w", {1.0f, -2.0f}, decay);
  Sgd sgd({&p}, options);
  for (const auto& g : kGrads) {
    SetGrad(p, g);
    sgd.Step();
  }
  const std::vector<double> expected =
      ReferenceSgd({1.0, -2.0}, options.lr, options.momentum, options.dampening,
                   decay ? options.weight_decay : 0.0, options.nesterov);
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(p.value.data<float>()[i], expected[i], 1e-6) << i;
  EXPECT_EQ(sgd.steps(), 3);
}

TEST(Sgd, PlainStepIsLrTimesGradient) {
  Parameter p = Param("w", {1.0f, -2.0f});
  Sgd sgd({&p}, {.lr = 0.1});
  SetGrad(p, {0.5f, -1.0f});
  sgd.Step();
  EXPECT_FLOAT_EQ(p.value.data<float>()[0], 1.0f - 0.05f);
  EXPECT_FLOAT_EQ(p.value.data<float>()[1], -2.0f + 0.1f);
}

TEST(Sgd, MomentumMatchesHandComputedSteps) {
  // Step 1: b = g = 0.5, w = 1 - 0.1 * 0.5 = 0.95. Step 2: b = 0.9 * 0.5 + 0.25 = 0.7,
  // w = 0.95 - 0.07 = 0.88. Step 3: b = 0.9 * 0.7 - 0.75 = -0.12, w = 0.88 + 0.012 = 0.892.
  Parameter p = Param("w", {1.0f, -2.0f});
  Sgd sgd({&p}, {.lr = 0.1, .momentum = 0.9});
  for (const auto& g : kGrads) {
    SetGrad(p, g);
    sgd.Step();
  }
  EXPECT_NEAR(p.value.data<float>()[0], 0.892, 1e-6);
  RunSgd({.lr = 0.1, .momentum = 0.9});
}

TEST(Sgd, NesterovMatchesFormula) {
  // Step 1 by hand: b = 0.5, g = 0.5 + 0.9 * 0.5 = 0.95, w = 1 - 0.095 = 0.905.
  Parameter p = Param("w", {1.0f, -2.0f});
  Sgd sgd({&p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  SetGrad(p, kGrads[0]);
  sgd.Step();
  EXPECT_NEAR(p.value.data<float>()[0], 0.905, 1e-6);
  RunSgd({.lr = 0.1, .momentum = 0.9, .nesterov = true});
}

TEST(Sgd, WeightDecayAndDampening) {
  // Step 1 by hand with decay 0.1: g = 0.5 + 0.1 * 1 = 0.6, w = 1 - 0.5 * 0.6 = 0.7.
  Parameter p = Param("w", {1.0f, -2.0f});
  Sgd sgd({&p}, {.lr = 0.5, .weight_decay = 0.1});
  SetGrad(p, kGrads[0]);
  sgd.Step();
  EXPECT_NEAR(p.value.data<float>()[0], 0.7, 1e-7);
  RunSgd({.lr = 0.05, .momentum = 0.8, .weight_decay = 0.01, .nesterov = true});
  RunSgd({.lr = 0.05, .momentum = 0.8, .dampening = 0.3, .weight_decay = 0.02});
  RunSgd({.lr = 0.05, .momentum = 0.8, .weight_decay = 0.5}, /*decay=*/false);
}

TEST(Sgd, RejectsNesterovWithoutMomentum) {
  Parameter p = Param("w", {1.0f});
  EXPECT_THROW(Sgd({&p}, {.lr = 0.1, .nesterov = true}), Error);
  EXPECT_THROW(Sgd({&p}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}), Error);
}

TEST(AdamW, MatchesFormulaOverThreeSteps) {
  const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  Parameter p = Param("w", {1.0f, -2.0f});
  Parameter bias = Param("b", {0.5f, 0.25f}, /*decay=*/false);
  AdamW adamw({&p, &bias}, {.lr = lr, .beta1 = b1, .beta2 = b2, .eps = eps, .weight_decay = wd});
  for (const auto& g : kGrads) {
    SetGrad(p, g);
    SetGrad(bias, g);
    adamw.Step();
  }
  auto reference = [&](std::vector<double> w, double decay) {
    std::vector<double> m(w.size(), 0), v(w.size(), 0);
    for (size_t t = 1; t <= kGrads.size(); ++t) {
      for (size_t i = 0; i < w.size(); ++i) {
        const double g = kGrads[t - 1][i];
        w[i] *= 1 - lr * decay;
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        const double m_hat = m[i] / (1 - std::pow(b1, t));
        const double v_hat = v[i] / (1 - std::pow(b2, t));
        w[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
      }
    }
    return w;
  };
  const auto expected = reference({1.0, -2.0}, wd);
  const auto expected_bias = reference({0.5, 0.25}, 0);
  for (int i = 0; i < 2; ++i) {
    EXPECT_NEAR(p.value.data<float>()[i], expected[i], 1e-6);
    EXPECT_NEAR(bias.value.data<float>()[i], expected_bias[i], 1e-6);
  }
  // Step 1 by hand: m_hat = g, v_hat = g^2, so the step is lr * sign(g) (eps aside):
  // w0 = 1 * (1 - 0.001) - 0.01 = 0.989 after one step.
  Parameter q = Param("q", {1.0f});
  AdamW one({&q}, {.lr = lr, .weight_decay = wd});
  SetGrad(q, {0.5f});
  one.Step();
  EXPECT_NEAR(q.value.data<float>()[0], 0.989, 1e-6);
}

TEST(Optimizer, MaskedWeightsStayExactlyZero) {
  Parameter p = Param("w", {1.0f, -2.0f, 3.0f, 0.5f});
  p.mask = Tensor::FromVector({4}, {1, 0, 1, 0});
  p.value.data<float>()[1] = 0;
  p.value.data<float>()[3] = 0;
  Sgd sgd({&p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
  Parameter q = Param("q", {1.0f, -2.0f, 3.0f, 0.5f});
  q.mask = p.mask.Clone();
  AdamW adamw({&q}, {.lr = 0.1});
  for (int step = 0; step < 5; ++step) {
    for (Parameter* x : {&p, &q}) {
      for (int i = 0; i < 4; ++i) x->grad.data<float>()[i] = 0.3f * (i + 1) * (step % 2 ? 1 : -1);
    }
    sgd.Step();
    adamw.Step();
    for (Parameter* x : {&p, &q}) {
      EXPECT_EQ(x->value.data<float>()[1], 0.0f);
      EXPECT_EQ(x->value.data<float>()[3], 0.0f);
      EXPECT_NE(x->value.data<float>()[0], 0.0f);
      EXPECT_EQ(x->grad.data<float>()[1], 0.0f);  // the gradient was masked too
    }
  }
}

TEST(Optimizer, StateRoundTripContinuesBitExactly) {
  for (int kind = 0; kind < 2; ++kind) {
    Parameter a = Param("fc.weight", {1.0f, -2.0f});
    auto make = [&](Parameter* p) -> std::unique_ptr<Optimizer> {
      if (kind == 0)
        return std::make_unique<Sgd>(std::vector<Parameter*>{p},
                                     SgdOptions{.lr = 0.1, .momentum = 0.9});
      return std::make_unique<AdamW>(std::vector<Parameter*>{p}, AdamWOptions{.lr = 0.1});
    };
    auto opt = make(&a);
    for (int t = 0; t < 2; ++t) {
      SetGrad(a, kGrads[t]);
      opt->Step();
    }
    OptimizerState state = opt->ExportState();
    EXPECT_EQ(state.scalars.at("step"), "2");
    Parameter b = Param("fc.weight", {0, 0});
    b.value.CopyFrom(a.value);
    auto restored = make(&b);
    restored->ImportState(state);
    EXPECT_EQ(restored->steps(), 2);
    SetGrad(a, kGrads[2]);
    SetGrad(b, kGrads[2]);
    opt->Step();
    restored->Step();
    for (int i = 0; i < 2; ++i) EXPECT_EQ(a.value.data<float>()[i], b.value.data<float>()[i]);
  }
}

TEST(Optimizer, ImportRejectsMismatchedState) {
  Parameter a = Param("fc.weight", {1.0f, -2.0f});
  Sgd sgd({&a}, {.lr = 0.1, .momentum = 0.9});
  OptimizerState state = sgd.ExportState();
  state.tensors[0].second = Tensor::Zeros({3});
  try {
    sgd.ImportState(state);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("fc.weight.momentum_buffer"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("[3]"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("[2]"), std::string::npos) << e.what();
  }
  OptimizerState adam_state = AdamW({&a}, {}).ExportState();
  EXPECT_THROW(sgd.ImportState(adam_state), Error);
}

}  // namespace
}  // namespace millrace::ops
