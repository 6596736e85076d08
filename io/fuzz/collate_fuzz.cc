// libFuzzer target: collation and augmentation of samples whose shapes, labels and pixels come
// from the input (mixed shapes, odd channel counts, tiny and empty images). Any exception but
// millrace::Error is a bug; a batch must hold every sample.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "io/collate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using millrace::io::Sample;
  size_t at = 0;
  auto next = [&]() -> uint8_t { return at < size ? data[at++] : 0; };
  const int n = 1 + next() % 8;
  std::vector<Sample> samples;
  for (int i = 0; i < n; ++i) {
    const int64_t c = 1 + next() % 4, h = next() % 40, w = next() % 40;
    Sample s;
    s.image = millrace::Tensor::Empty({c, h, w}, millrace::DType::kU8);
    for (int64_t k = 0; k < s.image.numel(); ++k) s.image.data<uint8_t>()[k] = next();
    s.label = static_cast<int8_t>(next());
    s.index = i;
    samples.push_back(std::move(s));
  }
  millrace::io::CollateOptions options;
  options.normalize.mean = {0.5f};
  options.normalize.std = {0.25f};
  try {
    millrace::io::CollatedBatch b = millrace::io::Collate(samples, options);
    if (b.size() != n) __builtin_trap();
  } catch (const millrace::Error&) {
  }
  millrace::io::AugmentOptions augment;
  augment.crop_padding = next() % 5;
  augment.random_flip = next() & 1;
  try {
    millrace::io::CollatedBatch b = millrace::io::AugmentCollate(samples, augment, next(), options);
    if (b.size() != n) __builtin_trap();
  } catch (const millrace::Error&) {
  }
  return 0;
}
