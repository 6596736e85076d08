#include "io/collate.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

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

void Normalizer::Apply(const Tensor& image, float* out) const {
  MILLRACE_CHECK_ARG(image.dtype() == DType::kU8 && image.ndim() == 3 &&
                         image.dim(0) == channels_ && image.device().is_cpu(),
                     "Normalize takes a u8 CPU image [" << channels_ << ", H, W], got "
                                                        << ToString(image.dtype())
                                                        << ToString(image.shape()));
  const uint8_t* src = image.data<uint8_t>();
  const int64_t plane = image.dim(1) * image.dim(2);
  for (int64_t c = 0; c < channels_; ++c) {
    const float* table = tables_[static_cast<size_t>(c)].data();
    const uint8_t* s = src + c * plane;
    float* o = out + c * plane;
    for (int64_t i = 0; i < plane; ++i) o[i] = table[s[i]];
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

Batch Collate(std::span<const Sample> samples, const CollateOptions& options) {
  MILLRACE_CHECK_ARG(!samples.empty(), "Collate of an empty list of samples");
  const Tensor& first = samples.front().image;
  MILLRACE_CHECK_ARG(first.defined() && first.ndim() == 3, "Collate takes images [C, H, W]");
  const Shape shape = first.shape();
  const int64_t b = static_cast<int64_t>(samples.size());
  const int64_t per_image = NumElements(shape);
  Normalizer normalizer(options.normalize, shape[0]);

  Batch batch;
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

}  // namespace millrace::io
