#include "io/collate.h"

#include <gtest/gtest.h>

namespace millrace::io {
namespace {

Tensor Image(Shape shape, std::vector<int> values) {
  Tensor t = Tensor::Empty(std::move(shape), DType::kU8);
  for (size_t i = 0; i < values.size(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
  return t;
}

TEST(NormalizeTest, MatchesTheFormulaPerChannel) {
  Tensor img = Image({2, 1, 3}, {0, 128, 255, 51, 102, 204});
  Tensor out = Normalize(img, {{0.5f, 0.25f}, {0.5f, 2.0f}});
  ASSERT_EQ(out.shape(), (Shape{2, 1, 3}));
  const float* o = out.data<float>();
  const double expected[6] = {(0 / 255.0 - 0.5) / 0.5,    (128 / 255.0 - 0.5) / 0.5,
                              (255 / 255.0 - 0.5) / 0.5,  (51 / 255.0 - 0.25) / 2.0,
                              (102 / 255.0 - 0.25) / 2.0, (204 / 255.0 - 0.25) / 2.0};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(o[i], expected[i], 1e-6) << i;
  // No statistics: x / 255.
  Tensor plain = Normalize(img, {});
  EXPECT_NEAR(plain.data<float>()[1], 128 / 255.0, 1e-7);
  EXPECT_THROW(Normalize(img, {{0.1f, 0.2f, 0.3f}, {1, 1, 1}}), Error);  // 3 values, 2 channels
  EXPECT_THROW(Normalize(img, {{0.1f}, {0.0f}}), Error);                 // std 0
}

TEST(CollateTest, LaysOutBatchChannelRowColumn) {
  std::vector<Sample> samples;
  // Sample b, channel c, pixel p holds 100*b + 10*c + p.
  for (int b = 0; b < 3; ++b) {
    std::vector<int> v;
    for (int c = 0; c < 2; ++c)
      for (int p = 0; p < 4; ++p) v.push_back(100 * b + 10 * c + p);
    samples.push_back({Image({2, 2, 2}, v), 7 - b, 40 + b});
  }
  Batch batch = Collate(samples);  // x / 255
  ASSERT_EQ(batch.images.shape(), (Shape{3, 2, 2, 2}));
  EXPECT_EQ(batch.images.dtype(), DType::kF32);
  ASSERT_EQ(batch.labels.shape(), (Shape{3}));
  EXPECT_EQ(batch.labels.dtype(), DType::kI64);
  EXPECT_EQ(batch.size(), 3);
  const float* x = batch.images.data<float>();
  for (int b = 0; b < 3; ++b) {
    EXPECT_EQ(batch.labels.data<int64_t>()[b], 7 - b);
    EXPECT_EQ(batch.indices.data<int64_t>()[b], 40 + b);
    for (int c = 0; c < 2; ++c)
      for (int y = 0; y < 2; ++y)
        for (int xx = 0; xx < 2; ++xx) {
          const int p = y * 2 + xx;
          EXPECT_FLOAT_EQ(x[((b * 2 + c) * 2 + y) * 2 + xx], (100 * b + 10 * c + p) / 255.0f);
        }
  }
}

TEST(CollateTest, PinnedRequestGivesAUsableBatchAndMixedShapesThrow) {
  std::vector<Sample> samples;
  samples.push_back({Image({1, 1, 2}, {0, 255}), 1, 0});
  Batch pinned =
      Collate(samples, {.normalize = FashionMnistNormalization(), .host = HostMemory::kPinned});
  EXPECT_NEAR(pinned.images.data<float>()[1], (1.0 - 0.2860) / 0.3530, 1e-5);
  if (CudaDeviceCount() > 0) {
    EXPECT_TRUE(pinned.images.pinned());  // pinned needs CUDA
  }
  samples.push_back({Image({1, 2, 1}, {0, 0}), 1, 1});
  EXPECT_THROW(Collate(samples), Error);
  EXPECT_THROW(Collate(std::vector<Sample>{}), Error);
}

}  // namespace
}  // namespace millrace::io
