// Augmentations on u8 images [C, H, W]: crop with zero padding and horizontal flip, drawn from
// a counter-based RNG keyed by (seed, epoch, sample index), so that a run is reproducible
// whatever thread handles which sample. All functions are pure and thread-safe.
#pragma once

#include <cstdint>

#include "core/tensor.h"
#include "io/record.h"

namespace millrace::io {

// The image padded with `pad` zeros on every side, then cropped to [C, out_h, out_w] at (top,
// left) of the padded image, then mirrored left-right when `flip`:
//   out[c][y][x] = padded[c][top + y][left + (flip ? out_w - 1 - x : x)]
// Requires 0 <= top <= H + 2*pad - out_h and 0 <= left <= W + 2*pad - out_w.
Tensor CropWithPadding(const Tensor& image, int64_t pad, int64_t top, int64_t left, int64_t out_h,
                       int64_t out_w, bool flip = false);

// out[c][y][x] = image[c][y][W - 1 - x]
Tensor HorizontalFlip(const Tensor& image);

struct AugmentOptions {
  uint64_t seed = 0;
  // Random crop of the input's size from the image padded by this many zeros (0: no crop).
  int64_t crop_padding = 0;
  // Mirror left-right with probability flip_probability.
  bool random_flip = false;
  double flip_probability = 0.5;
};

// What Augment does to one sample: the crop's corner in the padded image and the flip.
struct AugmentDraw {
  int64_t top = 0;
  int64_t left = 0;
  bool flip = false;
};
AugmentDraw DrawAugment(const AugmentOptions& options, int64_t epoch, int64_t index);

// Random crop with padding and random flip of sample.image (same output size), keyed by
// (options.seed, epoch, sample.index). Returns the sample with its new image.
Sample Augment(Sample sample, const AugmentOptions& options, int64_t epoch);

}  // namespace millrace::io
