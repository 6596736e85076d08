#include "ops/models.h"

#include <memory>

#include "ops/activation/relu.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
#include "ops/dwsep/dwsep.h"
#include "ops/flatten/flatten.h"
#include "ops/init.h"
#include "ops/linear/linear.h"
#include "ops/pooling/pooling.h"

namespace millrace::ops {

namespace {

// Adds layers with per-layer seeds derived from the model's seed.
class Builder {
 public:
  explicit Builder(uint64_t seed) : seed_(seed) {}
  uint64_t NextSeed() { return DeriveSeed(seed_, index_++); }
  template <typename L>
  void Add(std::string name, std::unique_ptr<L> layer) {
    model_.Add(std::move(name), std::move(layer));
  }
  Sequential Take() { return std::move(model_); }

 private:
  uint64_t seed_;
  uint64_t index_ = 0;
  Sequential model_;
};

Sequential Mlp(int64_t hidden, uint64_t seed) {
  Builder b(seed);
  b.Add("flatten", std::make_unique<Flatten>());
  b.Add("fc1", std::make_unique<Linear>(784, hidden, true, b.NextSeed()));
  b.Add("relu1", std::make_unique<ReLU>());
  b.Add("fc2", std::make_unique<Linear>(hidden, 10, true, b.NextSeed()));
  return b.Take();
}

Conv2dConfig Conv3x3(int64_t in, int64_t out) {
  return {.in_channels = in,
          .out_channels = out,
          .kernel_h = 3,
          .kernel_w = 3,
          .padding = 1,
          .bias = false};  // a BatchNorm follows
}

Sequential Cnn(uint64_t seed) {
  Builder b(seed);
  b.Add("conv1", std::make_unique<Conv2d>(Conv3x3(1, 32), b.NextSeed()));
  b.Add("bn1", std::make_unique<BatchNorm2d>(32));
  b.Add("relu1", std::make_unique<ReLU>());
  b.Add("pool1", std::make_unique<MaxPool2d>(2));
  b.Add("conv2", std::make_unique<Conv2d>(Conv3x3(32, 64), b.NextSeed()));
  b.Add("bn2", std::make_unique<BatchNorm2d>(64));
  b.Add("relu2", std::make_unique<ReLU>());
  b.Add("pool2", std::make_unique<MaxPool2d>(2));
  b.Add("flatten", std::make_unique<Flatten>());
  b.Add("fc1", std::make_unique<Linear>(64 * 7 * 7, 128, true, b.NextSeed()));
  b.Add("relu3", std::make_unique<ReLU>());
  b.Add("fc2", std::make_unique<Linear>(128, 10, true, b.NextSeed()));
  return b.Take();
}

Sequential DwSep(uint64_t seed) {
  Builder b(seed);
  b.Add("conv1", std::make_unique<Conv2d>(Conv3x3(1, 32), b.NextSeed()));
  b.Add("bn1", std::make_unique<BatchNorm2d>(32));
  b.Add("relu1", std::make_unique<ReLU>());
  b.Add("block1", std::make_unique<DepthwiseSeparable>(
                      DepthwiseSeparableConfig{.in_channels = 32, .out_channels = 64, .stride = 2},
                      b.NextSeed()));
  b.Add("block2", std::make_unique<DepthwiseSeparable>(
                      DepthwiseSeparableConfig{.in_channels = 64, .out_channels = 128, .stride = 2},
                      b.NextSeed()));
  b.Add("block3",
        std::make_unique<DepthwiseSeparable>(
            DepthwiseSeparableConfig{.in_channels = 128, .out_channels = 128}, b.NextSeed()));
  b.Add("pool", std::make_unique<GlobalAvgPool>());
  b.Add("flatten", std::make_unique<Flatten>());
  b.Add("fc", std::make_unique<Linear>(128, 10, true, b.NextSeed()));
  return b.Take();
}

}  // namespace

std::vector<std::string> ModelNames() { return {"mlp", "mlp-small", "cnn", "dwsep"}; }

namespace {
Sequential Preset(std::string_view name, uint64_t seed) {
  if (name == "mlp") return Mlp(500, seed);
  if (name == "mlp-small") return Mlp(64, seed);
  if (name == "cnn") return Cnn(seed);
  if (name == "dwsep") return DwSep(seed);
  return Sequential();
}
}  // namespace

Sequential MakeModel(std::string_view name, uint64_t seed) {
  Sequential model = Preset(name, seed);
  if (model.size() > 0) {
    model.set_input_grad(false);  // trained on data: no gradient of the images
    return model;
  }
  std::string known;
  for (const std::string& n : ModelNames()) known += (known.empty() ? "" : ", ") + n;
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "unknown model '" << name << "'; known models: " << known);
}

Shape ModelInputShape(std::string_view name, int64_t batch) {
  bool known = false;
  for (const std::string& n : ModelNames()) known = known || n == name;
  if (!known) MakeModel(name);  // throws, listing the known names
  return {batch, 1, 28, 28};
}

}  // namespace millrace::ops
