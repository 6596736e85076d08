#include "io/collate.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>

#include "core/error.h"

namespace millrace::io {

Normalization FashionMnistNormalization() { return {{0.2860f}, {0.3530f}}; }

Normalizer::Normalizer(const Normalization& normalization, int64_t channels) : channels_(channels) {
  MILLRACE_CHECK_ARG(channels >= 1, "channels must be >= 1, got " << channels);
  const auto& mean = normalization.mean;
  const auto& stdev = normalization.std;
  MILLRACE_CHECK_ARG(mean.size() == stdev.size(), "normalisation has "
                                                      << mean.size() << " means but "
                                                      << stdev.size() << " standard deviations");
  MILLRACE_CHECK_ARG(
      mean.empty() || mean.size() == 1 || static_cast<int64_t>(mean.size()) == channels,
      "normalisation has " << mean.size() << " values for " << channels << " channels");
  tables_.resize(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    float m = 0.0f, s = 1.0f;
    if (!mean.empty()) {
      const size_t k = mean.size() == 1 ? 0 : static_cast<size_t>(c);
      m = mean[k];
      s = stdev[k];
      MILLRACE_CHECK_ARG(s > 0.0f,
                         "standard deviation " << s << " of channel " << c << " must be > 0");
    }
    for (int v = 0; v < 256; ++v)
      tables_[static_cast<size_t>(c)][static_cast<size_t>(v)] =
          (static_cast<float>(v) / 255.0f - m) / s;
  }
}

void Normalizer::CheckImage(const Tensor& image) const {
  MILLRACE_CHECK_ARG(image.dtype() == DType::kU8 && image.ndim() == 3 &&
                         image.dim(0) == channels_ && image.device().is_cpu(),
                     "Normalize takes a u8 CPU image [" << channels_ << ", H, W], got "
                                                        << ToString(image.dtype())
                                                        << ToString(image.shape()));
}

void Normalizer::Apply(const Tensor& image, float* out) const {
  CheckImage(image);
  const uint8_t* src = image.data<uint8_t>();
  const int64_t plane = image.dim(1) * image.dim(2);
  for (int64_t c = 0; c < channels_; ++c) {
    const float* table = tables_[static_cast<size_t>(c)].data();
    const uint8_t* s = src + c * plane;
    float* o = out + c * plane;
    for (int64_t i = 0; i < plane; ++i) o[i] = table[s[i]];
  }
}

void Normalizer::ApplyCropped(const Tensor& image, int64_t pad, const AugmentDraw& draw,
                              float* out) const {
  CheckImage(image);
  const int64_t h = image.dim(1), w = image.dim(2);
  MILLRACE_CHECK_ARG(
      pad >= 0 && draw.top >= 0 && draw.top <= 2 * pad && draw.left >= 0 && draw.left <= 2 * pad,
      "crop at (" << draw.top << ", " << draw.left << ") outside the image padded by " << pad);
  const uint8_t* src = image.data<uint8_t>();
  // Output (y, x) reads padded (top + y, left + x'), x' = flip ? w - 1 - x : x, i.e. source row
  // sy = top + y - pad and column sx0 + x' with sx0 = left - pad; outside the source it is a
  // padding zero, normalised like any 0 pixel.
  const int64_t sx0 = draw.left - pad;
  // The output columns that read inside the source, [x_begin, x_end) (the same with a flip).
  const int64_t x_begin = std::clamp<int64_t>(draw.flip ? sx0 : -sx0, 0, w);
  const int64_t x_end = std::clamp<int64_t>(draw.flip ? w + sx0 : w - sx0, x_begin, w);
  for (int64_t c = 0; c < channels_; ++c) {
    const float* table = tables_[static_cast<size_t>(c)].data();
    const float zero = table[0];
    for (int64_t y = 0; y < h; ++y) {
      float* row = out + (c * h + y) * w;
      const int64_t sy = draw.top + y - pad;
      if (sy < 0 || sy >= h) {
        std::fill(row, row + w, zero);
        continue;
      }
      const uint8_t* srow = src + (c * h + sy) * w;
      std::fill(row, row + x_begin, zero);
      if (!draw.flip) {
        for (int64_t x = x_begin; x < x_end; ++x) row[x] = table[srow[sx0 + x]];
      } else {
        const int64_t last = sx0 + w - 1;  // the source column of output column 0
        for (int64_t x = x_begin; x < x_end; ++x) row[x] = table[srow[last - x]];
      }
      std::fill(row + x_end, row + w, zero);
    }
  }
}

Tensor Normalizer::Apply(const Tensor& image) const {
  Tensor out = Tensor::Empty(image.shape(), DType::kF32);
  Apply(image, out.data<float>());
  return out;
}

Tensor Normalize(const Tensor& image, const Normalization& normalization) {
  MILLRACE_CHECK_ARG(image.defined() && image.ndim() == 3, "Normalize takes an image [C, H, W]");
  return Normalizer(normalization, image.dim(0)).Apply(image);
}

CollatedBatch Collate(std::span<const Sample> samples, const CollateOptions& options) {
  MILLRACE_CHECK_ARG(!samples.empty(), "Collate of an empty list of samples");
  const Tensor& first = samples.front().image;
  MILLRACE_CHECK_ARG(first.defined() && first.ndim() == 3, "Collate takes images [C, H, W]");
  const Shape shape = first.shape();
  const int64_t b = static_cast<int64_t>(samples.size());
  const int64_t per_image = NumElements(shape);
  Normalizer normalizer(options.normalize, shape[0]);

  CollatedBatch batch;
  batch.images =
      Tensor::Empty({b, shape[0], shape[1], shape[2]}, DType::kF32, Device::Cpu(), options.host);
  batch.labels = Tensor::Empty({b}, DType::kI64, Device::Cpu(), options.host);
  batch.indices = Tensor::Empty({b}, DType::kI64);
  float* images = batch.images.data<float>();
  int64_t* labels = batch.labels.data<int64_t>();
  int64_t* indices = batch.indices.data<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    const Sample& s = samples[static_cast<size_t>(i)];
    MILLRACE_CHECK_ARG(s.image.defined() && s.image.shape() == shape,
                       "Collate: sample " << i << " (record " << s.index << ") has shape "
                                          << (s.image.defined() ? ToString(s.image.shape())
                                                                : std::string("undefined"))
                                          << ", the first has " << ToString(shape));
    labels[i] = s.label;
    indices[i] = s.index;
  }
  // The pixels, in parallel on the calling thread's oneTBB arena (serial for small batches).
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, b, 32), [&](const tbb::blocked_range<int64_t>& r) {
        for (int64_t i = r.begin(); i < r.end(); ++i)
          normalizer.Apply(samples[static_cast<size_t>(i)].image, images + i * per_image);
      });
  return batch;
}

BatchBuilder::BatchBuilder(int64_t size, const Shape& image_shape, const CollateOptions& collate,
                           const AugmentOptions& augment, int64_t epoch)
    : size_(size),
      shape_(image_shape),
      augment_(augment),
      epoch_(epoch),
      normalizer_(collate.normalize, image_shape.empty() ? 0 : image_shape[0]) {
  MILLRACE_CHECK_ARG(size >= 1, "BatchBuilder of " << size << " samples");
  MILLRACE_CHECK_ARG(image_shape.size() == 3 && image_shape[1] > 0 && image_shape[2] > 0,
                     "BatchBuilder takes images [C, H, W], got " << ToString(image_shape));
  MILLRACE_CHECK_ARG(augment.crop_padding >= 0, "crop_padding must be >= 0");
  batch_.images = Tensor::Empty({size, shape_[0], shape_[1], shape_[2]}, DType::kF32, Device::Cpu(),
                                collate.host);
  batch_.labels = Tensor::Empty({size}, DType::kI64, Device::Cpu(), collate.host);
  batch_.indices = Tensor::Empty({size}, DType::kI64);
  set_.assign(static_cast<size_t>(size), 0);
}

void BatchBuilder::Set(int64_t slot, const Tensor& image, int64_t label, int64_t index) {
  MILLRACE_CHECK_ARG(batch_.images.defined(), "BatchBuilder::Set after Finish");
  MILLRACE_CHECK_ARG(slot >= 0 && slot < size_,
                     "BatchBuilder: slot " << slot << " outside [0, " << size_ << ")");
  MILLRACE_CHECK_ARG(image.defined() && image.shape() == shape_,
                     "BatchBuilder: record "
                         << index << " has shape "
                         << (image.defined() ? ToString(image.shape()) : std::string("undefined"))
                         << ", the batch takes " << ToString(shape_));
  // As Augment: no draw at all when it changes nothing.
  AugmentDraw draw{augment_.crop_padding, augment_.crop_padding, false};
  if (augment_.crop_padding > 0 || augment_.random_flip)
    draw = DrawAugment(augment_, epoch_, index);
  const int64_t per_image = shape_[0] * shape_[1] * shape_[2];
  normalizer_.ApplyCropped(image, augment_.crop_padding, draw,
                           batch_.images.data<float>() + slot * per_image);
  batch_.labels.data<int64_t>()[slot] = label;
  batch_.indices.data<int64_t>()[slot] = index;
  set_[static_cast<size_t>(slot)] = 1;
}

CollatedBatch BatchBuilder::Finish() {
  MILLRACE_CHECK_ARG(batch_.images.defined(), "BatchBuilder::Finish called twice");
  const auto unset = std::find(set_.begin(), set_.end(), uint8_t{0});
  MILLRACE_CHECK_ARG(unset == set_.end(), "BatchBuilder::Finish: slot " << (unset - set_.begin())
                                                                        << " of " << size_
                                                                        << " was never set");
  return std::move(batch_);
}

CollatedBatch AugmentCollate(std::span<const Sample> samples, const AugmentOptions& augment, int64_t epoch,
                     const CollateOptions& collate) {
  MILLRACE_CHECK_ARG(!samples.empty(), "Collate of an empty list of samples");
  const Tensor& first = samples.front().image;
  MILLRACE_CHECK_ARG(first.defined() && first.ndim() == 3, "Collate takes images [C, H, W]");
  BatchBuilder builder(static_cast<int64_t>(samples.size()), first.shape(), collate, augment,
                       epoch);
  tbb::parallel_for(tbb::blocked_range<int64_t>(0, builder.size(), 32),
                    [&](const tbb::blocked_range<int64_t>& r) {
                      for (int64_t i = r.begin(); i < r.end(); ++i)
                        builder.Set(i, samples[static_cast<size_t>(i)]);
                    });
  return builder.Finish();
}

}  // namespace millrace::io
