// Sample 2: a depthwise-separable CNN next to a plain CNN: parameters, FLOPs, and the time of
// one training step (forward + backward) on a batch, measured on this machine.
//
//   plain 3x3 conv, C_in -> C_out:           depthwise-separable block, C_in -> C_out:
//
//     x [N, C_in, H, W]                        x [N, C_in, H, W]
//        |                                        |
//     conv 3x3 (C_in x C_out x 9 weights)      depthwise 3x3 (C_in x 9: one filter per channel)
//        |                                        |  BN, ReLU
//     y [N, C_out, H, W]                       pointwise 1x1 (C_in x C_out)
//                                                 |  BN, ReLU
//                                              y [N, C_out, H, W]
//   weights: 9 * C_in * C_out                  weights: 9 * C_in + C_in * C_out  (~8x fewer)
//
// The presets "cnn" and "dwsep" (ops/models.h) are built from these. Run:
//   build/samples/sample_dwsep_vs_cnn            (--smoke: one timed step on a tiny batch)
#include <chrono>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <memory>

#include "ops/conv2d/conv2d.h"
#include "ops/dwsep/dwsep.h"
#include "ops/models.h"

using namespace millrace;

// Milliseconds per training step (forward + backward) of `model` on a batch of shape `input`.
double StepMs(ops::Sequential& model, const Shape& input, int iterations) {
  Tensor x = Tensor::Zeros(input);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) / 7.0f;
  Tensor dy = Tensor::Zeros(model.OutputShape(input));
  auto step = [&] {
    model.ZeroGrad();
    model.Forward(x, ops::Mode::kTrain);
    model.Backward(dy);
  };
  step();  // the first call creates the oneDNN primitives
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; ++i) step();
  const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - t0;
  return ms.count() / iterations;
}

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const int64_t batch = smoke ? 4 : 128;
  const int iterations = smoke ? 1 : 10;

  // One layer of each kind, 64 -> 128 channels on 14 x 14 maps.
  const Shape maps = {batch, 64, 14, 14};
  ops::Sequential plain, separable;
  plain.Add(
      "conv",
      std::make_unique<ops::Conv2d>(ops::Conv2dConfig{
          .in_channels = 64, .out_channels = 128, .kernel_h = 3, .kernel_w = 3, .padding = 1}));
  separable.Add("block", std::make_unique<ops::DepthwiseSeparable>(ops::DepthwiseSeparableConfig{
                             .in_channels = 64, .out_channels = 128}));
  std::cout << "one layer, 64 -> 128 channels, 14 x 14:\n"
            << "  plain 3x3 conv        " << std::setw(8) << plain.ParameterCount() << " params "
            << std::setw(12) << plain.ForwardFlops(maps) / batch << " FLOPs/sample\n"
            << "  depthwise-separable   " << std::setw(8) << separable.ParameterCount()
            << " params " << std::setw(12) << separable.ForwardFlops(maps) / batch
            << " FLOPs/sample\n\n";

  // The two presets, layer by layer, then side by side with a measured training step.
  std::cout << std::fixed << std::setprecision(2);
  for (const char* name : {"cnn", "dwsep"}) {
    ops::Sequential model = ops::MakeModel(name, /*seed=*/1);
    const Shape input = ops::ModelInputShape(name, batch);
    if (!smoke) std::cout << name << ":\n" << model.Summary(input) << "\n";
    std::cout << std::left << std::setw(6) << name << std::right << std::setw(9)
              << model.ParameterCount() << " params  " << std::setw(7)
              << model.ForwardFlops(input) / batch * 1e-6 << " MFLOPs/sample forward  "
              << std::setw(8) << StepMs(model, input, iterations) << " ms per step of " << batch
              << "\n";
  }
  return 0;
}
