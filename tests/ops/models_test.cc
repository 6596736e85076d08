// Model presets: shapes, parameter counts worked out by hand, errors, determinism.
#include "ops/models.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/compute_thread.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

TEST(Models, ParameterCountsByHand) {
  EXPECT_EQ(MakeModel("mlp").ParameterCount(), 784 * 500 + 500 + 500 * 10 + 10);  // 397510
  EXPECT_EQ(MakeModel("mlp-small").ParameterCount(), 784 * 64 + 64 + 64 * 10 + 10);
  // conv1 (no bias), bn1, conv2 (no bias), bn2, fc1, fc2
  EXPECT_EQ(MakeModel("cnn").ParameterCount(),
            32 * 9 + 2 * 32 + 64 * 32 * 9 + 2 * 64 + 3136 * 128 + 128 + 128 * 10 + 10);
  // conv1, bn1; each block: dw 3x3, bn, pw 1x1, bn; fc
  const int64_t block1 = 32 * 9 + 2 * 32 + 32 * 64 + 2 * 64;
  const int64_t block2 = 64 * 9 + 2 * 64 + 64 * 128 + 2 * 128;
  const int64_t block3 = 128 * 9 + 2 * 128 + 128 * 128 + 2 * 128;
  EXPECT_EQ(MakeModel("dwsep").ParameterCount(),
            32 * 9 + 2 * 32 + block1 + block2 + block3 + 128 * 10 + 10);
}

TEST(Models, ShapesAndFlops) {
  for (const std::string& name : ModelNames()) {
    Sequential m = MakeModel(name, 1);
    EXPECT_EQ(m.OutputShape(ModelInputShape(name, 16)), (Shape{16, 10})) << name;
    Tensor x = testing::RandomTensor(ModelInputShape(name, 4), 2);
    Tensor y = m.Forward(x, Mode::kTrain);
    EXPECT_EQ(y.shape(), (Shape{4, 10})) << name;
    EXPECT_FALSE(m.input_grad()) << name;  // presets are trained on data
    EXPECT_FALSE(m.Backward(testing::RandomTensor({4, 10}, 3)).defined()) << name;
    m.set_input_grad(true);
    m.Forward(x, Mode::kTrain);
    Tensor dx = m.Backward(testing::RandomTensor({4, 10}, 3));
    EXPECT_EQ(dx.shape(), x.shape()) << name;
  }
  EXPECT_EQ(MakeModel("mlp").ForwardFlops({128, 784}), 2LL * 128 * (784 * 500 + 500 * 10));
  EXPECT_EQ(MakeModel("mlp").OutputShape({3, 784}), (Shape{3, 10}));
  EXPECT_NE(MakeModel("dwsep").FindParameter("block2.pw.weight"), nullptr);
  EXPECT_EQ(MakeModel("dwsep").Buffers().size(), 2u + 3 * 4);
  EXPECT_NE(MakeModel("cnn").Summary({8, 1, 28, 28}).find("MaxPool2d(2)"), std::string::npos);
}

TEST(Models, UnknownNameListsTheKnownOnes) {
  try {
    MakeModel("resnet");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_EQ(e.message(), "unknown model 'resnet'; known models: mlp, mlp-small, cnn, dwsep");
  }
  EXPECT_THROW(ModelInputShape("resnet", 1), Error);
}

// Two forward+backward runs from the same seed and inputs give the same bits, for one and two
// compute threads.
void ExpectDeterministic(const std::string& name, int threads) {
  InitComputeThread(Device::Cpu(), threads);
  std::vector<std::vector<float>> runs;
  for (int run = 0; run < 2; ++run) {
    Sequential m = MakeModel(name, 7);
    std::vector<float> bits;
    for (int step = 0; step < 2; ++step) {
      Tensor x = testing::RandomTensor(ModelInputShape(name, 8), 10 + step);
      m.ZeroGrad();
      Tensor y = m.Forward(x, Mode::kTrain);
      Tensor dx = m.Backward(testing::RandomTensor({8, 10}, 20 + step));
      bits.insert(bits.end(), y.span<float>().begin(), y.span<float>().end());
      bits.insert(bits.end(), dx.span<float>().begin(), dx.span<float>().end());
      for (Parameter* p : m.Parameters()) {
        bits.insert(bits.end(), p->grad.span<float>().begin(), p->grad.span<float>().end());
      }
    }
    for (auto& [buffer, tensor] : m.Buffers()) {
      bits.insert(bits.end(), tensor->span<float>().begin(), tensor->span<float>().end());
    }
    runs.push_back(std::move(bits));
  }
  InitComputeThread(Device::Cpu(), 1);
  ASSERT_EQ(runs[0].size(), runs[1].size());
  EXPECT_EQ(0, std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(float)))
      << name << " with " << threads << " threads";
}

TEST(Models, DeterministicOneThread) {
  for (const std::string& name : ModelNames()) ExpectDeterministic(name, 1);
}

TEST(Models, DeterministicTwoThreads) {
  // Two of the four (a team of two is slow to meet at barriers on a loaded 2-core machine).
  for (const std::string name : {"mlp", "dwsep"}) ExpectDeterministic(name, 2);
}

TEST(Models, NoPrimitiveCreatedAfterTheFirstStep) {
  for (const std::string& name : ModelNames()) {
    Sequential m = MakeModel(name, 1);
    Tensor x = testing::RandomTensor(ModelInputShape(name, 4), 2);
    Tensor dy = testing::RandomTensor({4, 10}, 3);
    auto step = [&] {
      m.ZeroGrad();
      m.Forward(x, Mode::kTrain);
      m.Backward(dy);
      m.Forward(x, Mode::kEval);
    };
    const int64_t before = cpu::PrimitiveCacheMisses();
    step();
    const int64_t after_first = cpu::PrimitiveCacheMisses();
    EXPECT_GT(after_first, before) << name;
    step();
    step();
    EXPECT_EQ(cpu::PrimitiveCacheMisses(), after_first) << name;
  }
}

TEST(Models, SameSeedSameWeights) {
  Sequential a = MakeModel("cnn", 3), b = MakeModel("cnn", 3), c = MakeModel("cnn", 4);
  for (size_t i = 0; i < a.Parameters().size(); ++i) {
    EXPECT_TRUE(testing::SameBits(a.Parameters()[i]->value, b.Parameters()[i]->value));
  }
  EXPECT_FALSE(testing::SameBits(a.FindParameter("fc1.weight")->value,
                                 c.FindParameter("fc1.weight")->value));
}

}  // namespace
}  // namespace millrace::ops
