#include "io/image_codec.h"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <cstdlib>

#include "fake_dataset.h"

namespace millrace::io {
namespace {

using testing::FakeDataset;

int MaxAbsDiff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  int worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    worst = std::max(worst, std::abs(int(a.data<uint8_t>()[i]) - int(b.data<uint8_t>()[i])));
  return worst;
}

// A smooth image (JPEG's good case): pixel = 4 * (y + x) + 40 * c.
Tensor Smooth(int64_t c, int64_t h, int64_t w) {
  Tensor t = Tensor::Empty({c, h, w}, DType::kU8);
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        t.data<uint8_t>()[(k * h + y) * w + x] = static_cast<uint8_t>(4 * (y + x) + 40 * k);
  return t;
}

TEST(ImageCodecTest, PngRoundTripsExactlyInGreyAndRgb) {
  for (int64_t c : {1, 3}) {
    Tensor img = FakeDataset(3, 2, {c, 5, 7}).Read(2).image;
    Bytes png = EncodePng(img);
    EXPECT_EQ(SniffImageFormat(png), ImageFormat::kPng);
    Tensor back = DecodeImage(png, "x.png");
    EXPECT_EQ(back.shape(), (Shape{c, 5, 7}));
    EXPECT_EQ(MaxAbsDiff(img, back), 0) << c << " channels";
  }
}

TEST(ImageCodecTest, JpegDecodesCloseToTheSourceInPlanarLayout) {
  for (int64_t c : {1, 3}) {
    Tensor img = Smooth(c, 16, 24);
    Bytes jpeg = EncodeJpeg(img, 95);
    EXPECT_EQ(SniffImageFormat(jpeg), ImageFormat::kJpeg);
    Tensor back = DecodeImage(jpeg, "x.jpg");
    ASSERT_EQ(back.shape(), (Shape{c, 16, 24}));
    EXPECT_LE(MaxAbsDiff(img, back), 6) << c << " channels";
    // Planar: channel k of pixel (5, 9) is near 4 * 14 + 40 * k.
    for (int64_t k = 0; k < c; ++k)
      EXPECT_NEAR(back.data<uint8_t>()[(k * 16 + 5) * 24 + 9], 56 + 40 * k, 6);
  }
  // Channel conversion on request.
  Tensor rgb = DecodeImage(EncodeJpeg(Smooth(1, 8, 8), 95), "g.jpg", {.channels = 3});
  EXPECT_EQ(rgb.shape(), (Shape{3, 8, 8}));
  Tensor grey = DecodeImage(EncodePng(Smooth(3, 8, 8)), "c.png", {.channels = 1});
  EXPECT_EQ(grey.shape(), (Shape{1, 8, 8}));
}

void ExpectUndecodable(const Bytes& bytes, const std::string& words,
                       const DecodeOptions& options = {}) {
  try {
    DecodeImage(bytes, "bad/img.bin", options);
    ADD_FAILURE() << "no error; expected '" << words << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_EQ(e.file(), "bad/img.bin");
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(ImageCodecTest, BadImagesAreDataErrorsNamingTheFile) {
  ExpectUndecodable(Bytes{1, 2, 3, 4, 5}, "neither JPEG nor PNG");
  ExpectUndecodable(Bytes{}, "neither JPEG nor PNG");
  Bytes jpeg = EncodeJpeg(Smooth(1, 32, 32), 90);
  jpeg.resize(jpeg.size() / 2);
  ExpectUndecodable(jpeg, "undecodable JPEG");
  Bytes png = EncodePng(Smooth(1, 32, 32));
  png.resize(png.size() / 2);
  ExpectUndecodable(png, "undecodable PNG");
  ExpectUndecodable(EncodePng(Smooth(1, 10, 10)), "refused", {.max_pixels = 50});
}

// TurboJPEG's tjDecompress2 (exact DCT, fancy upsampling), planar: the reference decoder.
Tensor TurboJpegDecode(const Bytes& jpeg, int channels) {
  tjhandle tj = tjInitDecompress();
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  EXPECT_EQ(tjDecompressHeader3(tj, jpeg.data(), jpeg.size(), &w, &h, &subsamp, &colorspace), 0);
  std::vector<uint8_t> hwc(static_cast<size_t>(w * h * channels));
  EXPECT_EQ(tjDecompress2(tj, jpeg.data(), jpeg.size(), hwc.data(), w, 0, h,
                          channels == 1 ? TJPF_GRAY : TJPF_RGB, 0),
            0);
  tjDestroy(tj);
  Tensor out = Tensor::Empty({channels, h, w}, DType::kU8);
  for (int64_t i = 0; i < int64_t{w} * h; ++i)
    for (int c = 0; c < channels; ++c)
      out.data<uint8_t>()[c * w * h + i] = hwc[static_cast<size_t>(i * channels + c)];
  return out;
}

TEST(ImageCodecTest, JpegPixelsEqualTurboJpegsByteForByte) {
  // Grey, RGB 4:4:4 (quality >= 90) and 4:2:0 (below), odd sizes, noisy content.
  for (int64_t c : {1, 3}) {
    for (int quality : {95, 75}) {
      const Tensor source = FakeDataset(4, 2, {c, 29, 35}).Read(3).image;
      const Bytes jpeg = EncodeJpeg(source, quality);
      for (int channels : {1, 3}) {
        SCOPED_TRACE(std::to_string(c) + " channels stored, q" + std::to_string(quality) +
                     ", decoded to " + std::to_string(channels));
        const Tensor ours = DecodeImage(jpeg, "x.jpg", {.channels = channels});
        EXPECT_EQ(MaxAbsDiff(ours, TurboJpegDecode(jpeg, channels)), 0);
      }
    }
  }
}

TEST(ImageCodecTest, AGoodJpegDecodesRightAfterABadOneOnTheSameThread) {
  Bytes cut_in_tables = EncodeJpeg(Smooth(1, 32, 32), 90);
  cut_in_tables.resize(cut_in_tables.size() / 2);
  Bytes cut_in_scan = EncodeJpeg(Smooth(1, 64, 64), 95);
  cut_in_scan.resize(cut_in_scan.size() * 3 / 4);
  const Bytes good = EncodeJpeg(Smooth(1, 12, 20), 95);
  for (const Bytes* bad : {&cut_in_tables, &cut_in_scan}) {
    ExpectUndecodable(*bad, "undecodable JPEG");
    Tensor image = DecodeImage(good, "good.jpg");
    ASSERT_EQ(image.shape(), (Shape{1, 12, 20}));
    EXPECT_LE(MaxAbsDiff(image, Smooth(1, 12, 20)), 6);
  }
}

TEST(ImageCodecTest, DecodeIntoReusesAMatchingTensorAndGivesDecodeImagesPixels) {
  for (int64_t c : {1, 3}) {
    const Bytes jpeg = EncodeJpeg(Smooth(c, 12, 20), 95);
    const Bytes png = EncodePng(FakeDataset(3, 2, {c, 12, 20}).Read(1).image);
    Tensor image;  // undefined: allocated by the first call
    DecodeImageInto(jpeg, "a.jpg", image);
    ASSERT_EQ(image.shape(), (Shape{c, 12, 20}));
    EXPECT_EQ(MaxAbsDiff(image, DecodeImage(jpeg, "a.jpg")), 0);
    const void* storage = image.raw_data();
    DecodeImageInto(png, "b.png", image);  // same shape: same storage, PNG's pixels
    EXPECT_EQ(image.raw_data(), storage);
    EXPECT_EQ(MaxAbsDiff(image, DecodeImage(png, "b.png")), 0);
    DecodeImageInto(jpeg, "a.jpg", image);
    EXPECT_EQ(image.raw_data(), storage);
    EXPECT_EQ(MaxAbsDiff(image, DecodeImage(jpeg, "a.jpg")), 0);
  }
  // Another shape or dtype: replaced.
  Tensor f32 = Tensor::Zeros({1, 8, 8});
  DecodeImageInto(EncodePng(Smooth(1, 8, 8)), "c.png", f32);
  EXPECT_EQ(f32.dtype(), DType::kU8);
  EXPECT_EQ(MaxAbsDiff(f32, Smooth(1, 8, 8)), 0);
  DecodeImageInto(EncodePng(Smooth(1, 4, 6)), "d.png", f32);
  EXPECT_EQ(f32.shape(), (Shape{1, 4, 6}));
  EXPECT_EQ(MaxAbsDiff(f32, Smooth(1, 4, 6)), 0);
  // Errors name the file, as DecodeImage's.
  Bytes truncated = EncodeJpeg(Smooth(1, 32, 32), 90);
  truncated.resize(truncated.size() / 2);
  try {
    DecodeImageInto(truncated, "bad/t.jpg", f32);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_EQ(e.file(), "bad/t.jpg");
    EXPECT_NE(std::string(e.what()).find("undecodable JPEG"), std::string::npos) << e.what();
  }
}

TEST(ImageCodecTest, DecodeRecordNamesTheRecordOrSkipsIt) {
  EncodedRecord bad{Bytes{9, 9, 9}, 3, 17, "shard-000001.tar", "000017.jpg"};
  try {
    DecodeRecord(bad, {});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.record(), std::optional<int64_t>(17));
    EXPECT_NE(e.file().find("shard-000001.tar"), std::string::npos) << e.what();
    EXPECT_NE(e.file().find("000017.jpg"), std::string::npos) << e.what();
  }
  SkipLog log;
  EXPECT_FALSE(DecodeRecord(bad, {}, BadInputPolicy::kSkip, &log).has_value());
  EncodedRecord good{EncodePng(Smooth(1, 4, 4)), 3, 18, "a.png", ""};
  auto sample = DecodeRecord(good, {}, BadInputPolicy::kSkip, &log);
  ASSERT_TRUE(sample.has_value());
  EXPECT_EQ(sample->label, 3);
  EXPECT_EQ(sample->index, 18);
  EXPECT_EQ(log.count(), 1);
}

}  // namespace
}  // namespace millrace::io
