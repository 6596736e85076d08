// Backend parity of the kernels that are not layers: the losses (value and gradient), the
// optimizer updates, MaskMultiply, the pruning scores and the classification counts, on every
// backend of this build, against the CPU backend and a naive reference in double.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <thread>
#include <vector>

#include "core/error.h"
#include "ops/compute_thread.h"
#include "ops/loss/loss.h"
#include "ops/metrics/classification.h"
#include "ops/optim/finite.h"
#include "ops/optim/update.h"
#include "ops/prune/mask.h"
#include "ops/prune/ranking.h"
#include "tests/ops/backend_parity.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

using testing::BackendDevice;
using testing::ExpectNear;
using testing::Random;
using testing::Values;

constexpr double kLossTol = 1e-5;

class KernelParity : public ::testing::TestWithParam<Device::Kind> {
 protected:
  void SetUp() override { MILLRACE_SKIP_WITHOUT_DEVICE(GetParam()); }
  Device device() const { return BackendDevice(GetParam()); }
};

Tensor Labels(std::vector<int64_t> values, DType dtype = DType::kI64) {
  Tensor t = Tensor::Empty({static_cast<int64_t>(values.size())}, dtype);
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kI64) {
      t.data<int64_t>()[i] = values[i];
    } else {
      t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
    }
  }
  return t;
}

// log_softmax(z / t) of each row of [B, C], in double.
std::vector<double> LogSoftmax(const std::vector<double>& z, int64_t rows, int64_t classes,
                               double t = 1.0) {
  std::vector<double> out(z.size());
  for (int64_t b = 0; b < rows; ++b) {
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[b * classes + c] / t);
    for (int64_t c = 0; c < classes; ++c)
      out[b * classes + c] = z[b * classes + c] / t - std::log(sum);
  }
  return out;
}

TEST_P(KernelParity, SoftmaxCrossEntropy) {
  const int64_t batch = 6, classes = 5;
  const Tensor logits = Random({batch, classes}, 1, -4, 4);
  const std::vector<int64_t> label_values = {0, 4, 2, 2, 1, 3};
  for (DType dtype : {DType::kI64, DType::kI32}) {
    for (double smooth : {0.0, 0.1}) {
      const Tensor labels = Labels(label_values, dtype);
      LossResult cpu = SoftmaxCrossEntropy(logits, labels, smooth);
      LossResult got = SoftmaxCrossEntropy(logits.To(device()), labels.To(device()), smooth);
      EXPECT_EQ(got.grad.device(), device());
      EXPECT_NEAR(got.loss, cpu.loss, kLossTol);
      ExpectNear(got.grad, cpu.grad, kLossTol, "cross-entropy grad vs cpu");
      // Naive: q = (1 - e) onehot + e / C; loss = -mean_b sum_c q log p; grad = (p - q) / B.
      const std::vector<double> lp = LogSoftmax(Values(logits), batch, classes);
      double loss = 0;
      std::vector<double> grad(lp.size());
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t c = 0; c < classes; ++c) {
          const double q = (c == label_values[b] ? 1 - smooth : 0) + smooth / classes;
          loss -= q * lp[b * classes + c] / batch;
          grad[b * classes + c] = (std::exp(lp[b * classes + c]) - q) / batch;
        }
      }
      EXPECT_NEAR(got.loss, loss, kLossTol) << "smoothing " << smooth;
      ExpectNear(got.grad, grad, kLossTol, "cross-entropy grad vs naive");
    }
  }
  // A label out of range is a data error, whichever backend reads it.
  try {
    SoftmaxCrossEntropy(logits.To(device()), Labels({0, 1, 5, 0, 0, 0}).To(device()));
    ADD_FAILURE() << "no error for label 5 of 5 classes";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_NE(e.message().find("batch index 2 is 5"), std::string::npos) << e.message();
  }
}

TEST_P(KernelParity, MseLoss) {
  const Tensor p = Random({4, 3, 2}, 2), t = Random({4, 3, 2}, 3);
  LossResult cpu = MseLoss(p, t);
  LossResult got = MseLoss(p.To(device()), t.To(device()));
  EXPECT_NEAR(got.loss, cpu.loss, kLossTol);
  ExpectNear(got.grad, cpu.grad, kLossTol, "mse grad vs cpu");
  const std::vector<double> pv = Values(p), tv = Values(t);
  double loss = 0;
  std::vector<double> grad(pv.size());
  for (size_t i = 0; i < pv.size(); ++i) {
    loss += (pv[i] - tv[i]) * (pv[i] - tv[i]) / pv.size();
    grad[i] = 2 * (pv[i] - tv[i]) / pv.size();
  }
  EXPECT_NEAR(got.loss, loss, kLossTol);
  ExpectNear(got.grad, grad, kLossTol, "mse grad vs naive");
}

TEST_P(KernelParity, DistillationLoss) {
  const int64_t batch = 5, classes = 4;
  const Tensor s = Random({batch, classes}, 4, -3, 3), t = Random({batch, classes}, 5, -3, 3);
  const std::vector<int64_t> label_values = {3, 0, 1, 1, 2};
  const Tensor labels = Labels(label_values);
  const DistillationOptions o{.alpha = 0.7, .temperature = 3.0, .label_smoothing = 0.05};
  LossResult cpu = DistillationLoss(s, t, labels, o);
  LossResult got = DistillationLoss(s.To(device()), t.To(device()), labels.To(device()), o);
  EXPECT_NEAR(got.loss, cpu.loss, kLossTol);
  ExpectNear(got.grad, cpu.grad, kLossTol, "distillation grad vs cpu");
  // Naive: alpha T^2 KL(pt_T || ps_T) + (1 - alpha) CE(smoothed labels), both batch means.
  const std::vector<double> ls_t = LogSoftmax(Values(s), batch, classes, o.temperature),
                            lt_t = LogSoftmax(Values(t), batch, classes, o.temperature),
                            ls = LogSoftmax(Values(s), batch, classes);
  double kl = 0, ce = 0;
  std::vector<double> grad(ls.size());
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t c = 0; c < classes; ++c) {
      const int64_t i = b * classes + c;
      const double q =
          (c == label_values[b] ? 1 - o.label_smoothing : 0) + o.label_smoothing / classes;
      kl += std::exp(lt_t[i]) * (lt_t[i] - ls_t[i]);
      ce -= q * ls[i];
      grad[i] = (o.alpha * o.temperature * (std::exp(ls_t[i]) - std::exp(lt_t[i])) +
                 (1 - o.alpha) * (std::exp(ls[i]) - q)) /
                batch;
    }
  }
  const double loss = (o.alpha * o.temperature * o.temperature * kl + (1 - o.alpha) * ce) / batch;
  EXPECT_NEAR(got.loss, loss, kLossTol);
  ExpectNear(got.grad, grad, kLossTol, "distillation grad vs naive");
}

// The SGD formulas of update.h, per element in f32.
std::vector<double> NaiveSgd(std::vector<float> w, const std::vector<float>& g,
                             std::vector<float>& buf, const SgdUpdateConfig& c) {
  std::vector<double> out(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const float d = g[i] + c.weight_decay * w[i];
    if (c.momentum == 0) {
      out[i] = w[i] - c.lr * d;
      continue;
    }
    buf[i] = c.first_step ? d : c.momentum * buf[i] + c.damp * d;
    out[i] = w[i] - c.lr * (c.nesterov ? d + c.momentum * buf[i] : buf[i]);
  }
  return out;
}

std::vector<float> Floats(const Tensor& t) {
  std::vector<float> v(t.numel());
  Tensor h = testing::Host(t);
  std::copy(h.data<float>(), h.data<float>() + h.numel(), v.begin());
  return v;
}

TEST_P(KernelParity, SgdUpdate) {
  std::vector<SgdUpdateConfig> configs = {
      {.lr = 0.1f, .weight_decay = 0.01f},
      {.lr = 0.1f, .weight_decay = 0.0f, .momentum = 0.9f, .first_step = true},
      {.lr = 0.05f, .weight_decay = 0.001f, .momentum = 0.9f, .damp = 0.8f},
      {.lr = 0.05f, .weight_decay = 0.001f, .momentum = 0.9f, .nesterov = true},
  };
  for (const SgdUpdateConfig& c : configs) {
    const Tensor w0 = Random({7, 3}, 6), g = Random({7, 3}, 7), b0 = Random({7, 3}, 8);
    Tensor w_cpu = w0.Clone(), b_cpu = b0.Clone();
    SgdUpdate(w_cpu, g, b_cpu, c);
    Tensor w = w0.To(device()), b = b0.To(device());
    SgdUpdate(w, g.To(device()), b, c);
    ExpectNear(w, w_cpu, 1e-6, "sgd weights vs cpu");
    ExpectNear(b, b_cpu, 1e-6, "sgd momentum vs cpu");
    std::vector<float> buf = Floats(b0);
    const std::vector<double> want = NaiveSgd(Floats(w0), Floats(g), buf, c);
    ExpectNear(w, want, 1e-6, "sgd weights vs naive");
    ExpectNear(b, std::vector<double>(buf.begin(), buf.end()), 1e-6, "sgd momentum vs naive");
  }
}

// Above the size where the update splits across the compute thread's team, 3 threads give the
// same bits as 1 (each element is updated alone), and both match the formulas.
TEST(OptimizerUpdate, ATeamUpdatesLargeTensorsToTheSameBitsAsOneThread) {
  const SgdUpdateConfig c{.lr = 0.05f, .weight_decay = 0.001f, .momentum = 0.9f, .nesterov = true};
  const Shape shape = {300, 1001};  // 300,300 elements
  const Tensor w0 = Random(shape, 21), g = Random(shape, 22), b0 = Random(shape, 23);
  auto update_with = [&](int threads, Tensor& w, Tensor& b) {
    std::thread([&] {
      InitComputeThread(Device::Cpu(), threads);
      SgdUpdate(w, g, b, c);
    }).join();
  };
  Tensor w1 = w0.Clone(), b1 = b0.Clone(), w3 = w0.Clone(), b3 = b0.Clone();
  update_with(1, w1, b1);
  update_with(3, w3, b3);
  EXPECT_TRUE(testing::SameBits(w1, w3));
  EXPECT_TRUE(testing::SameBits(b1, b3));
  std::vector<float> buf = Floats(b0);
  ExpectNear(w3, NaiveSgd(Floats(w0), Floats(g), buf, c), 1e-6, "sgd weights vs naive");
}

// The multi-tensor updates: tensors of odd sizes (shares of the team cut through them), some
// with a pruning mask, updated in one call by a team of 3 give the bits of one tensor at a time
// by a team of 1 with the mask applied before and after (MaskMultiply), for SGD and AdamW.
TEST(OptimizerUpdate, AllParametersInOnePassGiveTheBitsOfOneAtATime) {
  const std::vector<Shape> shapes = {{7}, {300, 333}, {1}, {64, 129}, {5000}};
  std::vector<Tensor> w0, g0, s0, masks;
  for (size_t i = 0; i < shapes.size(); ++i) {
    w0.push_back(Random(shapes[i], 30 + i));
    g0.push_back(Random(shapes[i], 40 + i));
    s0.push_back(Random(shapes[i], 50 + i));
    Tensor m = Tensor::Empty(shapes[i]);
    for (int64_t j = 0; j < m.numel(); ++j) m.data<float>()[j] = (j * 7 + i) % 3 == 0 ? 0.f : 1.f;
    masks.push_back(i % 2 == 1 ? std::move(m) : Tensor());
  }
  auto clones = [](const std::vector<Tensor>& v) {
    std::vector<Tensor> out;
    for (const Tensor& t : v) out.push_back(t.Clone());
    return out;
  };
  auto on_team = [](int threads, const std::function<void()>& body) {
    std::thread([&] {
      InitComputeThread(Device::Cpu(), threads);
      body();
    }).join();
  };
  {
    const SgdUpdateConfig c{.lr = 0.05f, .weight_decay = 0.01f, .momentum = 0.9f, .nesterov = true};
    std::vector<Tensor> w1 = clones(w0), g1 = clones(g0), b1 = clones(s0);
    std::vector<Tensor> w3 = clones(w0), g3 = clones(g0), b3 = clones(s0);
    on_team(1, [&] {
      for (size_t i = 0; i < shapes.size(); ++i) {
        if (masks[i].defined()) MaskMultiply(g1[i], masks[i]);
        SgdUpdate(w1[i], g1[i], b1[i], c);
        if (masks[i].defined()) MaskMultiply(w1[i], masks[i]);
      }
    });
    on_team(3, [&] {
      std::vector<SgdUpdateTask> tasks;
      for (size_t i = 0; i < shapes.size(); ++i)
        tasks.push_back({&w3[i], &g3[i], &b3[i], masks[i].defined() ? &masks[i] : nullptr, c});
      SgdUpdateAll(tasks);
    });
    for (size_t i = 0; i < shapes.size(); ++i) {
      EXPECT_TRUE(testing::SameBits(w1[i], w3[i])) << "sgd weights " << i;
      EXPECT_TRUE(testing::SameBits(b1[i], b3[i])) << "sgd momentum " << i;
      EXPECT_TRUE(testing::SameBits(g1[i], g3[i])) << "sgd masked gradient " << i;
      EXPECT_FALSE(testing::SameBits(w0[i], w3[i])) << "sgd weights " << i << " not updated";
    }
  }
  {
    const AdamWUpdateConfig c{.decay = 0.999f, .step_size = 0.01f, .inv_sqrt_c2 = 1.2f};
    std::vector<Tensor> w1 = clones(w0), g1 = clones(g0), m1 = clones(s0), v1 = clones(s0);
    std::vector<Tensor> w3 = clones(w0), g3 = clones(g0), m3 = clones(s0), v3 = clones(s0);
    for (std::vector<Tensor>* v : {&v1, &v3})
      for (Tensor& t : *v)
        for (float& x : t.span<float>()) x = x * x;  // second moments are >= 0
    on_team(1, [&] {
      for (size_t i = 0; i < shapes.size(); ++i) {
        if (masks[i].defined()) MaskMultiply(g1[i], masks[i]);
        AdamWUpdate(w1[i], g1[i], m1[i], v1[i], c);
        if (masks[i].defined()) MaskMultiply(w1[i], masks[i]);
      }
    });
    on_team(3, [&] {
      std::vector<AdamWUpdateTask> tasks;
      for (size_t i = 0; i < shapes.size(); ++i)
        tasks.push_back(
            {&w3[i], &g3[i], &m3[i], &v3[i], masks[i].defined() ? &masks[i] : nullptr, c});
      AdamWUpdateAll(tasks);
    });
    for (size_t i = 0; i < shapes.size(); ++i) {
      EXPECT_TRUE(testing::SameBits(w1[i], w3[i])) << "adamw weights " << i;
      EXPECT_TRUE(testing::SameBits(m1[i], m3[i])) << "adamw m " << i;
      EXPECT_TRUE(testing::SameBits(v1[i], v3[i])) << "adamw v " << i;
    }
  }
}

TEST_P(KernelParity, AdamWUpdate) {
  const AdamWUpdateConfig c{.decay = 0.999f,
                            .beta1 = 0.9f,
                            .beta2 = 0.99f,
                            .step_size = 0.01f,
                            .inv_sqrt_c2 = 3.0f,
                            .eps = 1e-8f};
  const Tensor w0 = Random({5, 4}, 9), g = Random({5, 4}, 10), m0 = Random({5, 4}, 11),
               v0 = Random({5, 4}, 12, 0.0, 0.1);
  Tensor w_cpu = w0.Clone(), m_cpu = m0.Clone(), v_cpu = v0.Clone();
  AdamWUpdate(w_cpu, g, m_cpu, v_cpu, c);
  Tensor w = w0.To(device()), m = m0.To(device()), v = v0.To(device());
  AdamWUpdate(w, g.To(device()), m, v, c);
  ExpectNear(w, w_cpu, 1e-6, "adamw weights vs cpu");
  ExpectNear(m, m_cpu, 1e-6, "adamw m vs cpu");
  ExpectNear(v, v_cpu, 1e-6, "adamw v vs cpu");
  const std::vector<double> wv = Values(w0), gv = Values(g), mv = Values(m0), vv = Values(v0);
  std::vector<double> w_want(wv.size()), m_want(wv.size()), v_want(wv.size());
  for (size_t i = 0; i < wv.size(); ++i) {
    m_want[i] = c.beta1 * mv[i] + (1 - c.beta1) * gv[i];
    v_want[i] = c.beta2 * vv[i] + (1 - c.beta2) * gv[i] * gv[i];
    w_want[i] =
        wv[i] * c.decay - c.step_size * m_want[i] / (std::sqrt(v_want[i]) * c.inv_sqrt_c2 + c.eps);
  }
  ExpectNear(w, w_want, 1e-5, "adamw weights vs naive");
  ExpectNear(m, m_want, 1e-6, "adamw m vs naive");
  ExpectNear(v, v_want, 1e-6, "adamw v vs naive");
}

// A 0/1 mask of `shape` with about `zeros` of it 0.
Tensor Mask(const Shape& shape, uint64_t seed, double zeros) {
  Tensor m = Random(shape, seed, 0, 1);
  for (float& x : m.span<float>()) x = x < zeros ? 0.0f : 1.0f;
  return m;
}

TEST_P(KernelParity, MaskMultiply) {
  const Tensor x0 = Random({6, 5}, 13), mask = Mask({6, 5}, 14, 0.4);
  Tensor x = x0.To(device());
  MaskMultiply(x, mask.To(device()));
  const std::vector<double> xv = Values(x0), mv = Values(mask);
  std::vector<double> want(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) want[i] = xv[i] * mv[i];
  ExpectNear(x, want, 0, "MaskMultiply vs naive");
}

TEST_P(KernelParity, CountZeros) {
  const Tensor mask = Mask({9, 7}, 25, 0.4);
  int64_t want = 0;
  for (double v : Values(mask)) want += v == 0.0;
  EXPECT_GT(want, 0);
  EXPECT_EQ(CountZeros(mask.To(device())), want);
  EXPECT_EQ(CountZeros(mask.To(device())), CountZeros(mask));
}

// Finite, then one NaN, +Inf or -Inf at a time, in the first, a middle and the last element of
// the second tensor (past a vector width, so a tail loop is covered), and a denormal and the
// largest float, which are finite.
TEST_P(KernelParity, AllFinite) {
  const Tensor a = Random({3, 5}, 31), b = Random({1000}, 32);
  for (const float odd : {std::nanf(""), INFINITY, -INFINITY, 1e-40f, 3.4028235e38f}) {
    for (const int64_t at : {int64_t{0}, int64_t{517}, int64_t{999}}) {
      Tensor bad = b.Clone();
      bad.data<float>()[at] = odd;
      const Tensor da = a.To(device()), db = bad.To(device());
      const std::vector<const Tensor*> both = {&da, &db};
      const bool want = std::isfinite(odd);
      EXPECT_EQ(AllFinite(both), want) << odd << " at " << at;
      const std::vector<const Tensor*> first = {&da};
      EXPECT_TRUE(AllFinite(first));
    }
  }
  EXPECT_TRUE(AllFinite(std::vector<const Tensor*>{}));
}

TEST_P(KernelParity, PruningScores) {
  const Tensor w = Random({4, 2, 3}, 15), mask = Mask({4, 2, 3}, 16, 0.3);
  Tensor channel_mask = Tensor::Empty({4, 2, 3});
  channel_mask.Fill(1.0f);
  std::fill_n(channel_mask.data<float>() + 6, 6, 0.0f);  // channel 1 pruned
  for (const Tensor* m : {&mask, static_cast<const Tensor*>(nullptr)}) {
    const Tensor no_mask;
    const Tensor& mk = m ? *m : no_mask;
    std::vector<float> scores, cpu_scores;
    std::vector<int64_t> index, cpu_index;
    L1Scores(w, mk, cpu_scores, cpu_index);
    L1Scores(w.To(device()), m ? mk.To(device()) : Tensor(), scores, index);
    EXPECT_EQ(scores, cpu_scores);
    EXPECT_EQ(index, cpu_index);
    std::vector<float> want_scores;
    std::vector<int64_t> want_index;
    const std::vector<double> wv = Values(w);
    for (int64_t i = 0; i < w.numel(); ++i) {
      if (m && mk.data<float>()[i] == 0.0f) continue;
      want_scores.push_back(static_cast<float>(std::fabs(wv[i])));
      want_index.push_back(i);
    }
    EXPECT_EQ(scores, want_scores);
    EXPECT_EQ(index, want_index);
  }
  std::vector<int64_t> alive;
  std::vector<float> norms;
  ChannelL2Norms(w.To(device()), channel_mask.To(device()), alive, norms);
  EXPECT_EQ(alive, (std::vector<int64_t>{0, 2, 3}));
  const std::vector<double> wv = Values(w);
  ASSERT_EQ(norms.size(), 3u);
  for (size_t j = 0; j < alive.size(); ++j) {
    double sum = 0;
    for (int64_t i = alive[j] * 6; i < alive[j] * 6 + 6; ++i) sum += wv[i] * wv[i];
    EXPECT_NEAR(norms[j], std::sqrt(sum), 1e-6);
  }
}

TEST_P(KernelParity, ClassificationCounts) {
  const int64_t n = 40, c = 4;
  const Tensor logits = Random({n, c}, 17, -2, 2);
  std::vector<int64_t> label_values(n);
  for (int64_t i = 0; i < n; ++i) label_values[i] = (i * 7) % c;
  const Tensor labels = Labels(label_values, DType::kI32);
  std::vector<int64_t> confusion(c * c, 0);
  int64_t correct = 0;
  double loss_sum = 0;
  ClassificationCounts(logits.To(device()), labels.To(device()), {confusion, &correct, &loss_sum});
  std::vector<int64_t> want(c * c, 0);
  int64_t want_correct = 0;
  double want_loss = 0;
  const std::vector<double> z = Values(logits);
  const std::vector<double> lp = LogSoftmax(z, n, c);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t best = std::max_element(z.begin() + i * c, z.begin() + (i + 1) * c) -
                         (z.begin() + i * c);  // the first largest
    ++want[label_values[i] * c + best];
    want_correct += best == label_values[i];
    want_loss -= lp[i * c + label_values[i]];
  }
  EXPECT_EQ(confusion, want);
  EXPECT_EQ(correct, want_correct);
  EXPECT_NEAR(loss_sum, want_loss, 1e-9 * n);
  EXPECT_GT(want_correct, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, KernelParity, ::testing::ValuesIn(testing::BackendKinds()),
                         testing::BackendName);

}  // namespace
}  // namespace millrace::ops
