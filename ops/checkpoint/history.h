// A run's checkpoints in one directory: the last few as step-numbered files, and
// last.safetensors, the newest, which --resume reads.
//
//   dir/step-0000000128.safetensors   the checkpoint of step 128 (the newest `keep` are kept)
//   dir/last.safetensors              the same file (a hard link; a copy where links fail)
//
// A killed write leaves only a temporary file (SaveCheckpoint writes "<name>.tmp.<pid>" and
// renames it), never a torn checkpoint; RemoveStaleTemporaries clears those of dead processes.
// Used by the thread that owns the model.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "ops/checkpoint/checkpoint.h"

namespace millrace::ops {

// Writes the checkpoint of state.step as dir/step-<step>.safetensors, makes last.safetensors
// that file (atomically: the link is renamed over the old one), then removes the oldest
// step files beyond `keep` (>= 1). Creates `dir`. Throws Error(kIo) naming the file, and
// Error(kData) for non-finite weights (nothing is written then). Returns the step file.
std::filesystem::path SaveCheckpointInHistory(const std::filesystem::path& dir, int keep,
                                              const ModelTensors& model,
                                              const Optimizer* optimizer,
                                              const TrainingState& state);

// The step files of `dir`, oldest step first.
std::vector<std::filesystem::path> StepCheckpoints(const std::filesystem::path& dir);

// Removes "*.tmp.<pid>" files in `dir` left by writes whose process is gone (killed during a
// checkpoint write). Returns how many were removed.
int RemoveStaleTemporaries(const std::filesystem::path& dir);

}  // namespace millrace::ops
