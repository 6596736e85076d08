// Backend parity of whole models: each preset (models.h) trains one SGD step on every backend
// of this build, and its logits, loss, gradients and updated weights match the same model on
// the CPU backend. (Each layer's naive reference is in layers_parity_test.cc.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ops/loss/loss.h"
#include "ops/models.h"
#include "ops/optim/sgd.h"
#include "tests/ops/backend_parity.h"

namespace millrace::ops {
namespace {

using testing::BackendDevice;
using testing::ExpectNear;

struct Step {
  Tensor logits;
  double loss = 0;
  std::vector<Tensor> grads, weights;  // on the host, in parameter order
};

// One train-mode step of `model` on `device`: forward, cross-entropy, backward, SGD.
Step TrainStep(Sequential& model, Device device, const Tensor& x, const Tensor& labels) {
  for (Parameter* p : model.Parameters()) {
    p->value = p->value.To(device);
    p->grad = p->grad.To(device);
  }
  for (auto& [name, buffer] : model.Buffers()) *buffer = buffer->To(device);
  Sgd sgd(model.Parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4});
  Step s;
  Tensor logits = model.Forward(x.To(device), Mode::kTrain);
  LossResult loss = SoftmaxCrossEntropy(logits, labels.To(device));
  model.Backward(loss.grad);
  sgd.Step();
  s.logits = testing::Host(logits);
  s.loss = loss.loss;
  for (Parameter* p : model.Parameters()) {
    s.grads.push_back(testing::Host(p->grad));
    s.weights.push_back(testing::Host(p->value));
  }
  return s;
}

class ModelParity : public ::testing::TestWithParam<Device::Kind> {
 protected:
  // FP32 on CUDA: the parity with the CPU here is FP32's (TF32 and bf16: precision_test.cc).
  void SetUp() override {
    MILLRACE_SKIP_WITHOUT_DEVICE(GetParam());
    SetComputePrecision(Precision::kFp32);
  }
  void TearDown() override { SetComputePrecision(kDefaultPrecision); }
};

TEST_P(ModelParity, EveryPresetTrainsOneStepLikeTheCpu) {
  const Device device = BackendDevice(GetParam());
  for (const std::string& name : ModelNames()) {
    const Tensor x = testing::Random(ModelInputShape(name, 4), 1);
    Tensor labels = Tensor::Empty({4}, DType::kI64);
    for (int64_t i = 0; i < 4; ++i) labels.data<int64_t>()[i] = (3 * i + 1) % 10;
    Sequential cpu_model = MakeModel(name, 7);
    Sequential dev_model = MakeModel(name, 7);
    const Step want = TrainStep(cpu_model, Device::Cpu(), x, labels);
    const Step got = TrainStep(dev_model, device, x, labels);
    EXPECT_NEAR(got.loss, want.loss, 1e-5) << name;
    ExpectNear(got.logits, want.logits, 1e-4, name + " logits");
    ASSERT_EQ(got.grads.size(), want.grads.size()) << name;
    for (size_t i = 0; i < got.grads.size(); ++i) {
      ExpectNear(got.grads[i], want.grads[i], 1e-4, name + " grad " + std::to_string(i));
      ExpectNear(got.weights[i], want.weights[i], 1e-5, name + " weight " + std::to_string(i));
    }
    // The step moved the first weight on the device: w1 = w0 - lr (g + wd w0), element 0.
    Sequential fresh = MakeModel(name, 7);
    const Parameter& w0 = *fresh.Parameters()[0];
    const double g0 = got.grads[0].data<float>()[0], v0 = w0.value.data<float>()[0];
    EXPECT_NE(g0, 0.0) << name;
    EXPECT_NEAR(got.weights[0].data<float>()[0], v0 - 0.1 * (g0 + 1e-4 * v0), 1e-6) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ModelParity, ::testing::ValuesIn(testing::BackendKinds()),
                         testing::BackendName);

}  // namespace
}  // namespace millrace::ops
