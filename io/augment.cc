#include "io/augment.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "io/random.h"

namespace millrace::io {
namespace {

void CheckImage(const Tensor& image, const char* what) {
  MILLRACE_CHECK_ARG(
      image.defined() && image.dtype() == DType::kU8 && image.ndim() == 3 &&
          image.device().is_cpu(),
      what << " takes a u8 CPU image [C, H, W], got "
           << (image.defined() ? std::string(ToString(image.dtype())) + ToString(image.shape())
                               : std::string("an undefined tensor")));
}

}  // namespace

Tensor CropWithPadding(const Tensor& image, int64_t pad, int64_t top, int64_t left, int64_t out_h,
                       int64_t out_w, bool flip) {
  CheckImage(image, "CropWithPadding");
  const int64_t c = image.dim(0), h = image.dim(1), w = image.dim(2);
  MILLRACE_CHECK_ARG(pad >= 0 && out_h > 0 && out_w > 0,
                     "bad crop: pad " << pad << ", size " << out_h << "x" << out_w);
  MILLRACE_CHECK_ARG(
      top >= 0 && top + out_h <= h + 2 * pad && left >= 0 && left + out_w <= w + 2 * pad,
      "crop " << out_h << "x" << out_w << " at (" << top << ", " << left
              << ") outside the padded image " << h + 2 * pad << "x" << w + 2 * pad);
  Tensor out = Tensor::Empty({c, out_h, out_w}, DType::kU8);
  const uint8_t* src = image.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
  // Columns of the output that read inside the source image: padded column left + x (or
  // left + out_w - 1 - x when flipped) maps to source column that minus pad.
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t y = 0; y < out_h; ++y) {
      uint8_t* row = dst + (ch * out_h + y) * out_w;
      const int64_t sy = top + y - pad;
      if (sy < 0 || sy >= h) {
        std::memset(row, 0, static_cast<size_t>(out_w));
        continue;
      }
      const uint8_t* srow = src + (ch * h + sy) * w;
      const int64_t sx0 = left - pad;  // source column of padded column `left`
      if (!flip) {
        // out x reads source column sx0 + x.
        const int64_t x_begin = std::max<int64_t>(0, -sx0);
        const int64_t x_end = std::min<int64_t>(out_w, w - sx0);
        if (x_begin >= x_end) {
          std::memset(row, 0, static_cast<size_t>(out_w));
          continue;
        }
        std::memset(row, 0, static_cast<size_t>(x_begin));
        std::memcpy(row + x_begin, srow + sx0 + x_begin, static_cast<size_t>(x_end - x_begin));
        std::memset(row + x_end, 0, static_cast<size_t>(out_w - x_end));
      } else {
        // out x reads source column sx0 + out_w - 1 - x.
        for (int64_t x = 0; x < out_w; ++x) {
          const int64_t sx = sx0 + out_w - 1 - x;
          row[x] = (sx >= 0 && sx < w) ? srow[sx] : 0;
        }
      }
    }
  }
  return out;
}

Tensor HorizontalFlip(const Tensor& image) {
  CheckImage(image, "HorizontalFlip");
  return CropWithPadding(image, 0, 0, 0, image.dim(1), image.dim(2), /*flip=*/true);
}

AugmentDraw DrawAugment(const AugmentOptions& options, int64_t epoch, int64_t index) {
  KeyedRng rng(options.seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index));
  AugmentDraw draw;
  if (options.crop_padding > 0) {
    const uint64_t positions = static_cast<uint64_t>(2 * options.crop_padding + 1);
    draw.top = static_cast<int64_t>(rng.Below(positions));
    draw.left = static_cast<int64_t>(rng.Below(positions));
  } else {
    draw.top = draw.left = 0;
  }
  draw.flip = options.random_flip && rng.Bernoulli(options.flip_probability);
  return draw;
}

Sample Augment(Sample sample, const AugmentOptions& options, int64_t epoch) {
  MILLRACE_CHECK_ARG(options.crop_padding >= 0, "crop_padding must be >= 0");
  if (options.crop_padding == 0 && !options.random_flip) return sample;
  CheckImage(sample.image, "Augment");
  const AugmentDraw draw = DrawAugment(options, epoch, sample.index);
  if (options.crop_padding == 0 && !draw.flip) return sample;
  sample.image = CropWithPadding(sample.image, options.crop_padding, draw.top, draw.left,
                                 sample.image.dim(1), sample.image.dim(2), draw.flip);
  return sample;
}

}  // namespace millrace::io
