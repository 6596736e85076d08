// Training checkpoints in the safetensors format (ops/checkpoint/safetensors.h).
//
//   SaveCheckpoint("run/step-1000.safetensors", model, &sgd, {.step = 1000, .rng_state = ...});
//   TrainingState state = LoadCheckpoint("run/step-1000.safetensors", model, &sgd);
//
// What the file holds:
//   "<parameter name>"              each parameter's value (f32), e.g. "fc1.weight": PyTorch's
//                                   state_dict names, so safetensors.torch.load_file(...) gives a
//                                   dict that load_state_dict(strict=False) takes
//   "<buffer name>"                 each buffer ("bn1.running_mean")
//   "mask/<parameter name>"         each pruning mask (f32 0/1), where one is defined
//   "optimizer/<param>.<slot>"      the optimizer's state ("optimizer/fc1.weight.momentum_buffer")
//   __metadata__                    "format": "millrace-checkpoint", "step", "rng_state",
//                                   "optimizer" (its kind), "optimizer.step", "optimizer.lr",
//                                   and the caller's entries as "user.<key>"
// The file is written atomically (temporary file, fsync, rename, directory fsync).
//
// Loading checks everything before changing anything: a truncated file, an unknown dtype, a
// parameter or buffer that is missing, unexpected or of another shape (the error names the
// tensor and both shapes) throw millrace::Error naming the file, and leave the model, masks and
// optimizer as they were. Used by the thread that owns the model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ops/layer.h"
#include "ops/optim/optimizer.h"
#include "ops/sequential.h"

namespace millrace::ops {

struct TrainingState {
  int64_t step = 0;
  std::string rng_state{};                        // opaque; see SaveRngState
  std::map<std::string, std::string> metadata{};  // the caller's own entries
};

// What a checkpoint covers: the model's parameters (with their masks) and buffers.
struct ModelTensors {
  std::vector<Parameter*> parameters;
  std::vector<std::pair<std::string, Tensor*>> buffers;
};
inline ModelTensors TensorsOf(Sequential& model) { return {model.Parameters(), model.Buffers()}; }

// optimizer may be null (then no optimizer state is written).
void SaveCheckpoint(const std::filesystem::path& path, const ModelTensors& model,
                    const Optimizer* optimizer, const TrainingState& state);
// optimizer may be null (its state in the file, if any, is then ignored); when it is not, the
// file must hold state for an optimizer of the same kind and parameters.
TrainingState LoadCheckpoint(const std::filesystem::path& path, const ModelTensors& model,
                             Optimizer* optimizer);

inline void SaveCheckpoint(const std::filesystem::path& path, Sequential& model,
                           const Optimizer* optimizer, const TrainingState& state) {
  SaveCheckpoint(path, TensorsOf(model), optimizer, state);
}
inline TrainingState LoadCheckpoint(const std::filesystem::path& path, Sequential& model,
                                    Optimizer* optimizer) {
  return LoadCheckpoint(path, TensorsOf(model), optimizer);
}

// A std::mt19937_64's state as text (the standard's operator<<), and back.
std::string SaveRngState(const std::mt19937_64& engine);
void LoadRngState(const std::string& text, std::mt19937_64& engine);

}  // namespace millrace::ops
