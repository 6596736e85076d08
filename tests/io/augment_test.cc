#include "io/augment.h"

#include <gtest/gtest.h>

#include <set>

namespace millrace::io {
namespace {

// A u8 image [C, H, W] from values listed channel by channel, row by row.
Tensor Image(Shape shape, std::vector<int> values) {
  Tensor t = Tensor::Empty(std::move(shape), DType::kU8);
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel());
  for (size_t i = 0; i < values.size(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
  return t;
}

std::vector<int> Values(const Tensor& t) {
  std::vector<int> v;
  for (uint8_t x : t.span<uint8_t>()) v.push_back(x);
  return v;
}

// 1 2 3 / 4 5 6 / 7 8 9; padded by 1 it is a 5x5 frame of zeros around it.
Tensor Nine() { return Image({1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9}); }

TEST(AugmentTest, CropWithPaddingMatchesHandWorkedCrops) {
  EXPECT_EQ(Values(CropWithPadding(Nine(), 1, 0, 0, 3, 3)),
            (std::vector<int>{0, 0, 0, 0, 1, 2, 0, 4, 5}));
  EXPECT_EQ(Values(CropWithPadding(Nine(), 1, 2, 1, 3, 3)),
            (std::vector<int>{4, 5, 6, 7, 8, 9, 0, 0, 0}));
  EXPECT_EQ(Values(CropWithPadding(Nine(), 1, 1, 1, 3, 3)), Values(Nine()));  // centre: identity
  // Rows 1..3, columns 2..4 of the padded image are 2 3 0 / 5 6 0 / 8 9 0; flipped:
  EXPECT_EQ(Values(CropWithPadding(Nine(), 1, 1, 2, 3, 3, /*flip=*/true)),
            (std::vector<int>{0, 3, 2, 0, 6, 5, 0, 9, 8}));
  EXPECT_EQ(Values(CropWithPadding(Nine(), 1, 0, 0, 3, 3, /*flip=*/true)),
            (std::vector<int>{0, 0, 0, 2, 1, 0, 5, 4, 0}));
  // A smaller crop (2x2) at the far corner of the padded image: 9 0 / 0 0.
  EXPECT_EQ(Values(CropWithPadding(Nine(), 1, 3, 3, 2, 2)), (std::vector<int>{9, 0, 0, 0}));
  // Entirely in the padding.
  EXPECT_EQ(Values(CropWithPadding(Nine(), 3, 0, 0, 2, 2)), (std::vector<int>{0, 0, 0, 0}));
}

TEST(AugmentTest, CropAndFlipWorkPerChannel) {
  Tensor two = Image({2, 2, 3}, {1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60});
  EXPECT_EQ(Values(HorizontalFlip(two)),
            (std::vector<int>{3, 2, 1, 6, 5, 4, 30, 20, 10, 60, 50, 40}));
  EXPECT_EQ(Values(CropWithPadding(two, 1, 0, 1, 2, 3)),
            (std::vector<int>{0, 0, 0, 1, 2, 3, 0, 0, 0, 10, 20, 30}));
}

TEST(AugmentTest, OutOfRangeCropsAndWrongTypesThrow) {
  EXPECT_THROW(CropWithPadding(Nine(), 1, 3, 0, 3, 3), Error);
  EXPECT_THROW(CropWithPadding(Nine(), 0, 0, -1, 3, 3), Error);
  EXPECT_THROW(HorizontalFlip(Tensor::Zeros({1, 3, 3})), Error);  // f32, not u8
}

TEST(AugmentTest, DrawsAreSeededPerSampleAndCoverTheirRange) {
  const AugmentOptions options{.seed = 42, .crop_padding = 2, .random_flip = true};
  std::set<int64_t> tops, lefts;
  int flips = 0, epoch_differs = 0;
  for (int64_t index = 0; index < 400; ++index) {
    const AugmentDraw d = DrawAugment(options, 3, index);
    const AugmentDraw again = DrawAugment(options, 3, index);
    EXPECT_EQ(d.top, again.top);
    EXPECT_EQ(d.left, again.left);
    EXPECT_EQ(d.flip, again.flip);
    ASSERT_GE(d.top, 0);
    ASSERT_LE(d.top, 4);
    ASSERT_GE(d.left, 0);
    ASSERT_LE(d.left, 4);
    tops.insert(d.top);
    lefts.insert(d.left);
    flips += d.flip;
    const AugmentDraw other = DrawAugment(options, 4, index);
    epoch_differs += other.top != d.top || other.left != d.left || other.flip != d.flip;
  }
  EXPECT_EQ(tops.size(), 5u);
  EXPECT_EQ(lefts.size(), 5u);
  EXPECT_GT(flips, 150);  // about 200 of 400
  EXPECT_LT(flips, 250);
  EXPECT_GT(epoch_differs, 300);
}

TEST(AugmentTest, AugmentAppliesItsDraw) {
  const AugmentOptions options{.seed = 9, .crop_padding = 1, .random_flip = true};
  for (int64_t index = 0; index < 20; ++index) {
    Sample s{Nine(), 1, index};
    const AugmentDraw d = DrawAugment(options, 0, index);
    Sample out = Augment(std::move(s), options, 0);
    EXPECT_EQ(Values(out.image), Values(CropWithPadding(Nine(), 1, d.top, d.left, 3, 3, d.flip)));
    EXPECT_EQ(out.index, index);
    EXPECT_EQ(out.label, 1);
  }
  // No augmentation: the image comes back untouched.
  Sample plain = Augment(Sample{Nine(), 0, 0}, AugmentOptions{}, 0);
  EXPECT_EQ(Values(plain.image), Values(Nine()));
}

}  // namespace
}  // namespace millrace::io
