// DepthwiseSeparable: the MobileNet block, a composite layer.
//   x [N, C_in, H, W] -> depthwise 3x3 conv (groups = C_in, stride s, padding 1)
//                     -> BatchNorm2d -> ReLU -> pointwise 1x1 conv (C_in -> C_out)
//                     -> BatchNorm2d -> ReLU -> y [N, C_out, H/s, W/s]
// Without batch norm the two convolutions carry biases instead. Parameters are named after
// the parts: "dw.weight", "bn1.weight", "pw.weight", "bn2.running_mean", ... (a Sequential
// that holds the block prefixes its own name: "block1.dw.weight"). The parts run on the
// input's device through their own backends; this file has no backend code.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
#include "ops/layer.h"
#include "ops/sequential.h"

namespace millrace::ops {

struct DepthwiseSeparableConfig {
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  int64_t stride = 1;
  bool batch_norm = true;
};

class DepthwiseSeparable : public Layer {
 public:
  explicit DepthwiseSeparable(const DepthwiseSeparableConfig& config, uint64_t seed = 0);
  // From parts (structured pruning builds a narrower block this way): depthwise must have
  // groups == in == out channels and a 3x3 kernel, pointwise a 1x1 kernel over the same
  // channels; the batch norms are both present or both null and match the channel counts.
  DepthwiseSeparable(std::unique_ptr<Conv2d> depthwise, std::unique_ptr<BatchNorm2d> bn1,
                     std::unique_ptr<Conv2d> pointwise, std::unique_ptr<BatchNorm2d> bn2);

  std::string_view kind() const override { return "DepthwiseSeparable"; }
  // "DepthwiseSeparable(32 -> 64, stride 2)" (", no batch norm" without).
  std::string Describe() const override;
  Tensor Forward(const Tensor& x, Mode mode) override;
  Tensor Backward(const Tensor& dy) override;
  void set_input_grad(bool needed) override {
    Layer::set_input_grad(needed);
    parts_.set_input_grad(needed);
  }
  Shape OutputShape(const Shape& input) const override;
  bool AcceptsLayouts() const override { return true; }  // its parts all do
  int64_t ForwardFlops(const Shape& input) const override { return parts_.ForwardFlops(input); }
  std::vector<Parameter*> Parameters() override { return parts_.Parameters(); }
  std::vector<std::pair<std::string, Tensor*>> Buffers() override { return parts_.Buffers(); }

  const DepthwiseSeparableConfig& config() const { return config_; }
  Conv2d& depthwise() { return static_cast<Conv2d&>(parts_.layer(0)); }
  Conv2d& pointwise() { return static_cast<Conv2d&>(parts_.layer(pointwise_index_)); }
  BatchNorm2d* bn1() {
    return config_.batch_norm ? &static_cast<BatchNorm2d&>(parts_.layer(1)) : nullptr;
  }
  BatchNorm2d* bn2() {
    return config_.batch_norm ? &static_cast<BatchNorm2d&>(parts_.layer(4)) : nullptr;
  }

 private:
  DepthwiseSeparableConfig config_;
  Sequential parts_;  // dw, [bn1], relu1, pw, [bn2], relu2
  size_t pointwise_index_ = 0;
};

}  // namespace millrace::ops
