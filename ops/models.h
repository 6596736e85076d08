// Model presets used by the pipelines and the command line, all for 1 x 28 x 28 images
// (MNIST / Fashion-MNIST) and 10 classes. Every preset accepts [N, 1, 28, 28] (the MLPs also
// [N, 784]) and returns logits [N, 10].
//
//   "mlp"        flatten, Linear 784 -> 500, ReLU, Linear 500 -> 10          (397,510 params)
//   "mlp-small"  flatten, Linear 784 -> 64, ReLU, Linear 64 -> 10            (50,890 params)
//   "cnn"        conv 3x3 1->32, BN, ReLU, maxpool 2, conv 3x3 32->64, BN, ReLU, maxpool 2,
//                flatten, Linear 3136 -> 128, ReLU, Linear 128 -> 10       (421,738 params)
//   "dwsep"      conv 3x3 1->32, BN, ReLU, then MobileNet blocks 32->64 /2, 64->128 /2,
//                128->128, global average pool, flatten, Linear 128 -> 10
//
// A preset does not compute the gradient of its input (Sequential::set_input_grad(false)).
//
//   Sequential model = MakeModel("cnn", /*seed=*/1);
//   std::cout << model.Summary(ModelInputShape("cnn", 128));
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ops/sequential.h"

namespace millrace::ops {

// The preset names, in the order above.
std::vector<std::string> ModelNames();

// A freshly initialised preset; layer i is initialised from DeriveSeed(seed, i), so the same
// (name, seed) gives the same bits. Throws Error(kInvalidArgument) listing the known names.
Sequential MakeModel(std::string_view name, uint64_t seed = 0);

// The input shape of a batch for a preset: [batch, 1, 28, 28].
Shape ModelInputShape(std::string_view name, int64_t batch);

}  // namespace millrace::ops
