#include "io/image_codec.h"

#include <png.h>
#include <turbojpeg.h>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"

namespace millrace::io {
namespace {

struct TjDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using TjHandle = std::unique_ptr<void, TjDeleter>;

// One compressor per thread (TurboJPEG), created on first use.
tjhandle Compressor() {
  thread_local TjHandle handle(tjInitCompress());
  if (!handle) MILLRACE_THROW(ErrorKind::kInternal, "tjInitCompress failed: " << tjGetErrorStr());
  return handle.get();
}

void CheckPixels(int64_t width, int64_t height, const DecodeOptions& options,
                 const std::string& name) {
  if (width <= 0 || height <= 0 || width * height > options.max_pixels) {
    throw DataError(name, std::nullopt,
                    "image of " + std::to_string(width) + "x" + std::to_string(height) +
                        " pixels refused (limit " + std::to_string(options.max_pixels) +
                        " pixels)");
  }
  if ((options.width > 0 && width != options.width) ||
      (options.height > 0 && height != options.height)) {
    throw DataError(name, std::nullopt,
                    "image of " + std::to_string(width) + "x" + std::to_string(height) +
                        " pixels, but the dataset's images are " + std::to_string(options.width) +
                        "x" + std::to_string(options.height) + " (its first image's size)");
  }
}

// [H, W, C] interleaved -> [C, H, W] planar.
void Deinterleave(const uint8_t* hwc, int64_t h, int64_t w, int64_t c, uint8_t* chw) {
  const int64_t plane = h * w;
  for (int64_t i = 0; i < plane; ++i)
    for (int64_t k = 0; k < c; ++k) chw[k * plane + i] = hwc[i * c + k];
}
void Interleave(const uint8_t* chw, int64_t h, int64_t w, int64_t c, uint8_t* hwc) {
  const int64_t plane = h * w;
  for (int64_t i = 0; i < plane; ++i)
    for (int64_t k = 0; k < c; ++k) hwc[i * c + k] = chw[k * plane + i];
}

// `image` as a u8 CPU tensor of `shape`: kept when it already is one, else a new one.
void ReuseOrAllocate(Tensor& image, const Shape& shape) {
  if (image.defined() && image.dtype() == DType::kU8 && image.device().is_cpu() &&
      image.shape() == shape)
    return;
  image = Tensor::Empty(shape, DType::kU8);
}

// A per-thread buffer for interleaved pixels (RGB before the planar copy); grows, never shrinks.
uint8_t* InterleavedScratch(size_t bytes) {
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < bytes) scratch.resize(bytes);
  return scratch.data();
}

// JPEG decoding goes through libjpeg-turbo's libjpeg API rather than TurboJPEG's
// tjDecompressHeader3 + tjDecompress2, which parse the headers twice (~5% of the decode of a
// 28x28 image). Output is the same: islow DCT, fancy upsampling (TurboJPEG's defaults), and
// warnings (a truncated stream, corrupt data) are errors, as with TJFLAG_STOPONWARNING.
struct JpegErrors {
  jpeg_error_mgr manager;  // first: libjpeg hands back a pointer to it
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void JpegFail(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}
void JpegMessage(j_common_ptr cinfo, int level) {
  if (level < 0) JpegFail(cinfo);  // a warning: corrupt or truncated data
}

// One decompressor per thread, reused from image to image.
struct JpegDecoder {
  jpeg_decompress_struct cinfo{};
  JpegErrors errors{};
  JpegDecoder() {
    cinfo.err = jpeg_std_error(&errors.manager);
    errors.manager.error_exit = JpegFail;
    errors.manager.emit_message = JpegMessage;
    jpeg_create_decompress(&cinfo);
  }
  ~JpegDecoder() { jpeg_destroy_decompress(&cinfo); }
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;
};

JpegDecoder& ThreadJpegDecoder() {
  thread_local JpegDecoder decoder;
  return decoder;
}

// The two steps that run libjpeg code, which reports errors by longjmp back here: they hold only
// trivially destructible locals. On error they reset the decoder and return false, with the
// message in decoder.errors.message.
bool ReadJpegHeader(JpegDecoder& decoder, const uint8_t* data, size_t size) {
  if (setjmp(decoder.errors.jump) != 0) {
    jpeg_abort_decompress(&decoder.cinfo);
    return false;
  }
  jpeg_mem_src(&decoder.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&decoder.cinfo, TRUE);
  return true;
}
// Decodes the image whose header was read into rows of `row_bytes` at `dst`.
bool ReadJpegPixels(JpegDecoder& decoder, J_COLOR_SPACE space, uint8_t* dst, size_t row_bytes) {
  if (setjmp(decoder.errors.jump) != 0) {
    jpeg_abort_decompress(&decoder.cinfo);
    return false;
  }
  jpeg_decompress_struct& cinfo = decoder.cinfo;
  cinfo.out_color_space = space;
  jpeg_start_decompress(&cinfo);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = dst + static_cast<size_t>(cinfo.output_scanline) * row_bytes;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  return true;
}

void DecodeJpeg(std::span<const uint8_t> bytes, const std::string& name,
                const DecodeOptions& options, Tensor& image) {
  JpegDecoder& decoder = ThreadJpegDecoder();
  auto undecodable = [&] {
    return DataError(name, std::nullopt,
                     std::string("undecodable JPEG: ") + decoder.errors.message);
  };
  if (!ReadJpegHeader(decoder, bytes.data(), bytes.size())) throw undecodable();
  const int64_t width = decoder.cinfo.image_width, height = decoder.cinfo.image_height;
  const int channels = options.channels != 0
                           ? options.channels
                           : (decoder.cinfo.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3);
  try {
    CheckPixels(width, height, options, name);
    ReuseOrAllocate(image, {channels, height, width});
  } catch (...) {
    jpeg_abort_decompress(&decoder.cinfo);
    throw;
  }
  if (channels == 1) {
    if (!ReadJpegPixels(decoder, JCS_GRAYSCALE, image.data<uint8_t>(), static_cast<size_t>(width)))
      throw undecodable();
  } else {
    uint8_t* hwc = InterleavedScratch(static_cast<size_t>(width * height * 3));
    if (!ReadJpegPixels(decoder, JCS_RGB, hwc, static_cast<size_t>(width * 3))) throw undecodable();
    Deinterleave(hwc, height, width, 3, image.data<uint8_t>());
  }
}

struct PngImage {
  png_image image{};
  PngImage() { image.version = PNG_IMAGE_VERSION; }
  ~PngImage() { png_image_free(&image); }
};

void DecodePng(std::span<const uint8_t> bytes, const std::string& name,
               const DecodeOptions& options, Tensor& image) {
  PngImage png;
  if (!png_image_begin_read_from_memory(&png.image, bytes.data(), bytes.size()))
    throw DataError(name, std::nullopt, std::string("undecodable PNG: ") + png.image.message);
  CheckPixels(png.image.width, png.image.height, options, name);
  const bool colour = (png.image.format & PNG_FORMAT_FLAG_COLOR) != 0;
  const int channels = options.channels != 0 ? options.channels : (colour ? 3 : 1);
  png.image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  const int64_t h = png.image.height, w = png.image.width;
  ReuseOrAllocate(image, {channels, h, w});
  png_color black{0, 0, 0};
  uint8_t* dst =
      channels == 3 ? InterleavedScratch(static_cast<size_t>(h * w * 3)) : image.data<uint8_t>();
  if (!png_image_finish_read(&png.image, &black, dst, 0, nullptr))
    throw DataError(name, std::nullopt, std::string("undecodable PNG: ") + png.image.message);
  if (channels == 3) Deinterleave(dst, h, w, 3, image.data<uint8_t>());
}

void CheckEncodable(const Tensor& image) {
  MILLRACE_CHECK_ARG(
      image.defined() && image.dtype() == DType::kU8 && image.ndim() == 3 &&
          (image.dim(0) == 1 || image.dim(0) == 3) && image.device().is_cpu(),
      "images are encoded from u8 CPU [1 or 3, H, W], got "
          << (image.defined() ? std::string(ToString(image.dtype())) + ToString(image.shape())
                              : std::string("an undefined tensor")));
}

}  // namespace

ImageFormat SniffImageFormat(std::span<const uint8_t> bytes) {
  static constexpr uint8_t kPng[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff)
    return ImageFormat::kJpeg;
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

void ExpectShapeOf(std::span<const uint8_t> bytes, const std::string& name,
                   DecodeOptions& options) {
  if (options.height > 0 && options.width > 0) return;
  const Tensor first = DecodeImage(bytes, name, options);
  if (options.height == 0) options.height = first.dim(1);
  if (options.width == 0) options.width = first.dim(2);
}

Tensor DecodeImage(std::span<const uint8_t> bytes, const std::string& name,
                   const DecodeOptions& options) {
  Tensor image;
  DecodeImageInto(bytes, name, image, options);
  return image;
}

void DecodeImageInto(std::span<const uint8_t> bytes, const std::string& name, Tensor& image,
                     const DecodeOptions& options) {
  MILLRACE_CHECK_ARG(options.channels == 0 || options.channels == 1 || options.channels == 3,
                     "decode channels must be 0 (as stored), 1 or 3, got " << options.channels);
  switch (SniffImageFormat(bytes)) {
    case ImageFormat::kJpeg: return DecodeJpeg(bytes, name, options, image);
    case ImageFormat::kPng: return DecodePng(bytes, name, options, image);
    case ImageFormat::kUnknown: break;
  }
  throw DataError(
      name, std::nullopt,
      "undecodable image: neither JPEG nor PNG (" + std::to_string(bytes.size()) + " bytes)");
}

std::optional<Sample> DecodeRecord(const EncodedRecord& record, const DecodeOptions& options,
                                   BadInputPolicy policy, SkipLog* log) {
  try {
    Sample sample;
    sample.image = DecodeImage(record.bytes, record.source, options);
    sample.label = record.label;
    sample.index = record.index;
    return sample;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kData) throw;
    const std::string where =
        record.entry.empty() ? record.source : record.source + " [entry " + record.entry + "]";
    HandleBadRecord(DataError(where, record.index, e.message()), policy, log);
    return std::nullopt;
  }
}

Bytes EncodeJpeg(const Tensor& image, int quality) {
  CheckEncodable(image);
  MILLRACE_CHECK_ARG(quality >= 1 && quality <= 100,
                     "JPEG quality " << quality << " outside [1, 100]");
  const int c = static_cast<int>(image.dim(0)), h = static_cast<int>(image.dim(1)),
            w = static_cast<int>(image.dim(2));
  std::unique_ptr<uint8_t[]> hwc;
  const uint8_t* src = image.data<uint8_t>();
  if (c == 3) {
    hwc.reset(new uint8_t[static_cast<size_t>(h) * w * 3]);
    Interleave(src, h, w, 3, hwc.get());
    src = hwc.get();
  }
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const int subsamp = c == 1 ? TJSAMP_GRAY : (quality >= 90 ? TJSAMP_444 : TJSAMP_420);
  tjhandle tj = Compressor();
  if (tjCompress2(tj, src, w, 0, h, c == 1 ? TJPF_GRAY : TJPF_RGB, &jpeg, &size, subsamp, quality,
                  0) != 0) {
    tjFree(jpeg);
    MILLRACE_THROW(ErrorKind::kInternal, "tjCompress2 failed: " << tjGetErrorStr2(tj));
  }
  Bytes out(jpeg, jpeg + size);
  tjFree(jpeg);
  return out;
}

Bytes EncodePng(const Tensor& image) {
  CheckEncodable(image);
  const int64_t c = image.dim(0), h = image.dim(1), w = image.dim(2);
  PngImage png;
  png.image.width = static_cast<png_uint_32>(w);
  png.image.height = static_cast<png_uint_32>(h);
  png.image.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  std::unique_ptr<uint8_t[]> hwc;
  const uint8_t* src = image.data<uint8_t>();
  if (c == 3) {
    hwc.reset(new uint8_t[static_cast<size_t>(h * w * 3)]);
    Interleave(src, h, w, 3, hwc.get());
    src = hwc.get();
  }
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&png.image, nullptr, &size, 0, src, 0, nullptr))
    MILLRACE_THROW(ErrorKind::kInternal, "PNG encoding failed: " << png.image.message);
  Bytes out(size);
  if (!png_image_write_to_memory(&png.image, out.data(), &size, 0, src, 0, nullptr))
    MILLRACE_THROW(ErrorKind::kInternal, "PNG encoding failed: " << png.image.message);
  out.resize(size);
  return out;
}

}  // namespace millrace::io
