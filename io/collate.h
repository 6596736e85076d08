// u8 -> f32 with normalisation, and collation of samples into one contiguous batch.
//
//   Batch batch = Collate(samples, {.normalize = FashionMnistNormalization(),
//                                   .host = HostMemory::kPinned});   // pinned: for a GPU copy
//   batch.images   // f32 [B, C, H, W]
//   batch.labels   // i64 [B]
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "io/record.h"

namespace millrace::io {

// Per-channel mean and standard deviation in [0, 1] units: out = (x / 255 - mean[c]) / std[c].
// One value applies to every channel; both empty means out = x / 255.
struct Normalization {
  std::vector<float> mean;
  std::vector<float> std;
};

// Fashion-MNIST's training-set statistics (mean 0.2860, std 0.3530).
Normalization FashionMnistNormalization();

// Converts u8 pixels to normalised f32 through a 256-entry table per channel, built once.
// Immutable after construction; Apply is thread-safe.
class Normalizer {
 public:
  // channels: C of the images it will see. Throws Error(kInvalidArgument) when mean/std have
  // neither 1 nor C entries, or a std is not > 0.
  Normalizer(const Normalization& normalization, int64_t channels);
  // image: u8 [C, H, W] (C as constructed); out: C*H*W floats.
  void Apply(const Tensor& image, float* out) const;
  Tensor Apply(const Tensor& image) const;  // f32 [C, H, W]

 private:
  int64_t channels_;
  std::vector<std::array<float, 256>> tables_;
};

// u8 [C, H, W] -> f32 [C, H, W], normalised.
Tensor Normalize(const Tensor& image, const Normalization& normalization);

// A batch: images f32 [B, C, H, W] (normalised), labels i64 [B], indices i64 [B] (the samples'
// dataset indices, for tracing results back to records).
struct Batch {
  Tensor images;
  Tensor labels;
  Tensor indices;
  int64_t size() const { return labels.defined() ? labels.dim(0) : 0; }
};

struct CollateOptions {
  Normalization normalize;
  // kPinned for a batch that is copied to a GPU (falls back to pageable without CUDA).
  HostMemory host = HostMemory::kPageable;
};

// Collates samples (same image shape, at least one) into one contiguous batch, in the given
// order. Throws Error(kInvalidArgument) for an empty list or mixed shapes. Thread-safe; the
// pixels are converted with oneTBB's parallel_for in the calling thread's arena (run it inside a
// task_arena to bound its threads).
Batch Collate(std::span<const Sample> samples, const CollateOptions& options = {});

}  // namespace millrace::io
