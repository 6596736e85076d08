// u8 -> f32 with normalisation, and collation of samples into one contiguous batch.
//
//   CollatedBatch batch = Collate(samples, {.normalize = FashionMnistNormalization(),
//                                   .host = HostMemory::kPinned});   // pinned: for a GPU copy
//   batch.images   // f32 [B, C, H, W]
//   batch.labels   // i64 [B]
//
// Augment and collate in one pass, each sample written straight into its slot of the batch (the
// same bytes as Augment of every sample, then Collate):
//
//   BatchBuilder builder(256, {1, 28, 28}, {.normalize = FashionMnistNormalization()},
//                        {.seed = 1, .crop_padding = 4, .random_flip = true}, epoch);
//   tbb::parallel_for(0, 256, [&](int64_t slot) {            // any thread, one slot each
//     builder.Set(slot, decoded_image(slot), label(slot), index(slot));
//   });
//   CollatedBatch batch = builder.Finish();
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "io/augment.h"
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
  // Augment then Apply in one pass: out = Apply(CropWithPadding(image, pad, draw.top, draw.left,
  // H, W, draw.flip)) for image u8 [C, H, W] (C as constructed), element for element.
  void ApplyCropped(const Tensor& image, int64_t pad, const AugmentDraw& draw, float* out) const;

 private:
  void CheckImage(const Tensor& image) const;  // u8, CPU, [channels_, H, W]

  int64_t channels_;
  std::vector<std::array<float, 256>> tables_;
};

// u8 [C, H, W] -> f32 [C, H, W], normalised.
Tensor Normalize(const Tensor& image, const Normalization& normalization);

// What Collate makes of a group of samples: images f32 [B, C, H, W] (normalised), labels i64
// [B], indices i64 [B] (the samples' dataset indices, for tracing results back to records).
struct CollatedBatch {
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
CollatedBatch Collate(std::span<const Sample> samples, const CollateOptions& options = {});

// Fills a batch slot by slot: each Set augments one u8 image as Augment does (draws keyed by
// (augment.seed, epoch, index)) and writes it normalised into the batch, in one pass, with no
// intermediate image. Finish gives exactly the bytes of Collate(Augment of each sample).
// Set is thread-safe for distinct slots; construction and Finish are not.
class BatchBuilder {
 public:
  // A batch of `size` (>= 1) images of `image_shape` [C, H, W].
  BatchBuilder(int64_t size, const Shape& image_shape, const CollateOptions& collate = {},
               const AugmentOptions& augment = {}, int64_t epoch = 0);

  int64_t size() const { return size_; }

  // Slot `slot` in [0, size) receives the image u8 [C, H, W] (the builder's shape; throws
  // Error(kInvalidArgument) naming the record otherwise), augmented and normalised, and its
  // label and dataset index. A slot set twice keeps the last.
  void Set(int64_t slot, const Tensor& image, int64_t label, int64_t index);
  void Set(int64_t slot, const Sample& sample) {
    Set(slot, sample.image, sample.label, sample.index);
  }

  // The batch; throws Error(kInvalidArgument) if a slot was never set. The builder is spent.
  CollatedBatch Finish();

 private:
  int64_t size_;
  Shape shape_;
  AugmentOptions augment_;
  int64_t epoch_;
  Normalizer normalizer_;
  CollatedBatch batch_;
  std::vector<uint8_t> set_;  // one byte per slot: written by distinct threads without a race
};

// Augment of every sample, then Collate, through BatchBuilder (parallel over samples with oneTBB
// in the calling thread's arena): the same bytes, without the intermediate images.
CollatedBatch AugmentCollate(std::span<const Sample> samples, const AugmentOptions& augment, int64_t epoch,
                     const CollateOptions& collate = {});

}  // namespace millrace::io
