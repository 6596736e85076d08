#include "io/collate.h"

#include <gtest/gtest.h>
#include <tbb/parallel_for.h>

#include <cstring>
#include <random>

namespace millrace::io {
namespace {

Tensor U8Image(Shape shape, std::vector<int> values) {
  Tensor t = Tensor::Empty(std::move(shape), DType::kU8);
  for (size_t i = 0; i < values.size(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
  return t;
}

TEST(NormalizeTest, MatchesTheFormulaPerChannel) {
  Tensor img = U8Image({2, 1, 3}, {0, 128, 255, 51, 102, 204});
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
    samples.push_back({U8Image({2, 2, 2}, v), 7 - b, 40 + b});
  }
  CollatedBatch batch = Collate(samples);  // x / 255
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
  samples.push_back({U8Image({1, 1, 2}, {0, 255}), 1, 0});
  CollatedBatch pinned =
      Collate(samples, {.normalize = FashionMnistNormalization(), .host = HostMemory::kPinned});
  EXPECT_NEAR(pinned.images.data<float>()[1], (1.0 - 0.2860) / 0.3530, 1e-5);
  if (CudaDeviceCount() > 0) {
    EXPECT_TRUE(pinned.images.pinned());  // pinned needs CUDA
  }
  samples.push_back({U8Image({1, 2, 1}, {0, 0}), 1, 1});
  EXPECT_THROW(Collate(samples), Error);
  EXPECT_THROW(Collate(std::vector<Sample>{}), Error);
}

// Samples of random pixels (every value 0..255 likely) with scattered dataset indices.
std::vector<Sample> RandomSamples(int64_t n, const Shape& shape, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<Sample> samples;
  for (int64_t i = 0; i < n; ++i) {
    Tensor t = Tensor::Empty(shape, DType::kU8);
    for (uint8_t& v : t.span<uint8_t>()) v = static_cast<uint8_t>(gen());
    samples.push_back(
        {std::move(t), static_cast<int64_t>(gen() % 10), static_cast<int64_t>(gen() % 100000)});
  }
  return samples;
}

// Collate of Augment of each sample: the two-pass reference.
CollatedBatch AugmentThenCollate(const std::vector<Sample>& samples, const AugmentOptions& augment,
                         int64_t epoch, const CollateOptions& collate) {
  std::vector<Sample> augmented;
  for (const Sample& s : samples) {
    Sample copy{s.image.Clone(), s.label, s.index};
    augmented.push_back(Augment(std::move(copy), augment, epoch));
  }
  return Collate(augmented, collate);
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

void ExpectSameBatch(const CollatedBatch& a, const CollatedBatch& b) {
  EXPECT_TRUE(SameBytes(a.images, b.images));
  EXPECT_TRUE(SameBytes(a.labels, b.labels));
  EXPECT_TRUE(SameBytes(a.indices, b.indices));
}

TEST(AugmentCollateTest, EqualsAugmentThenCollateByteForByte) {
  struct Case {
    Shape shape;
    AugmentOptions augment;
    Normalization normalize;
  };
  const std::vector<Case> cases = {
      {{1, 28, 28},
       {.seed = 7, .crop_padding = 4, .random_flip = true},
       FashionMnistNormalization()},
      {{3, 5, 7},
       {.seed = 1, .crop_padding = 2, .random_flip = true},
       {{0.4f, 0.5f, 0.6f}, {0.2f, 0.3f, 0.4f}}},
      // Padding larger than the image: some crops lie wholly in the padding.
      {{2, 5, 7}, {.seed = 2, .crop_padding = 8, .random_flip = true}, {}},
      {{1, 6, 6}, {.seed = 3, .crop_padding = 3, .random_flip = false}, {}},
      {{1, 6, 9}, {.seed = 4, .crop_padding = 0, .random_flip = true}, FashionMnistNormalization()},
      {{3, 4, 4}, {.seed = 5}, {{0.5f}, {0.25f}}},  // no augmentation: plain Collate
  };
  for (const Case& c : cases) {
    const auto samples = RandomSamples(200, c.shape, 11);
    for (int64_t epoch : {0, 3}) {
      SCOPED_TRACE(ToString(c.shape) + " pad " + std::to_string(c.augment.crop_padding) +
                   " epoch " + std::to_string(epoch));
      const CollateOptions collate{.normalize = c.normalize};
      const CollatedBatch reference = AugmentThenCollate(samples, c.augment, epoch, collate);
      ExpectSameBatch(AugmentCollate(samples, c.augment, epoch, collate), reference);
      // Slots filled in any order, from several threads.
      BatchBuilder builder(200, c.shape, collate, c.augment, epoch);
      tbb::parallel_for(int64_t{0}, int64_t{200}, [&](int64_t i) {
        const int64_t slot = 199 - i;
        builder.Set(slot, samples[static_cast<size_t>(slot)]);
      });
      ExpectSameBatch(builder.Finish(), reference);
    }
  }
}

TEST(AugmentCollateTest, SameSeedSameBytesOtherEpochOtherBytes) {
  const auto samples = RandomSamples(64, {1, 28, 28}, 5);
  const AugmentOptions augment{.seed = 9, .crop_padding = 4, .random_flip = true};
  const CollateOptions collate{.normalize = FashionMnistNormalization()};
  const CollatedBatch a = AugmentCollate(samples, augment, 2, collate);
  ExpectSameBatch(AugmentCollate(samples, augment, 2, collate), a);
  EXPECT_FALSE(SameBytes(AugmentCollate(samples, augment, 3, collate).images, a.images));
  AugmentOptions other_seed = augment;
  other_seed.seed = 10;
  EXPECT_FALSE(SameBytes(AugmentCollate(samples, other_seed, 2, collate).images, a.images));
}

TEST(AugmentCollateTest, BuilderRefusesWrongShapesSlotsAndUnsetSlots) {
  const auto samples = RandomSamples(3, {1, 4, 4}, 1);
  BatchBuilder builder(3, {1, 4, 4}, {}, {.crop_padding = 1});
  builder.Set(0, samples[0]);
  builder.Set(2, samples[2]);
  EXPECT_THROW(builder.Set(3, samples[1]), Error);
  EXPECT_THROW(builder.Set(-1, samples[1]), Error);
  const auto wrong = RandomSamples(1, {1, 4, 5}, 2);
  try {
    builder.Set(1, wrong[0]);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("record " + std::to_string(wrong[0].index)),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(builder.Finish(), Error);  // slot 1 never set
  builder.Set(1, samples[1]);
  EXPECT_EQ(builder.Finish().size(), 3);
  EXPECT_THROW(BatchBuilder(0, {1, 4, 4}), Error);
  EXPECT_THROW(BatchBuilder(2, {4, 4}), Error);
}

}  // namespace
}  // namespace millrace::io
