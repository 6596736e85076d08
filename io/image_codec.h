// Decoding and encoding of JPEG (libjpeg-turbo: its libjpeg API to decode, TurboJPEG to encode)
// and PNG (libpng's simplified API). Images are u8 [C, H, W] tensors with C = 1 (grey) or 3
// (RGB). All functions are thread-safe (each thread keeps its own JPEG decoder and encoder).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/tensor.h"
#include "io/async_reader.h"
#include "io/record.h"

namespace millrace::io {

enum class ImageFormat { kUnknown, kJpeg, kPng };

// The format by its magic bytes (JPEG: FF D8 FF; PNG: 89 'P' 'N' 'G' 0D 0A 1A 0A).
ImageFormat SniffImageFormat(std::span<const uint8_t> bytes);

struct DecodeOptions {
  // Channels of the result: 0 keeps the file's (grey JPEG/PNG -> 1, colour -> 3); 1 converts to
  // grey, 3 to RGB. PNG alpha is composited onto black.
  int channels = 0;
  // Images with more pixels than this are refused (a guard against tiny files that declare
  // huge dimensions).
  int64_t max_pixels = int64_t{1} << 26;
  // The size every image must have (0: any). Datasets set it from their first image
  // (ExpectShapeOf), so that an image of another size, such as a 245 KB PNG that claims
  // 8192x8192 pixels in a 28x28 dataset, is refused at its header, naming the file, before
  // anything is allocated for its pixels.
  int64_t height = 0;
  int64_t width = 0;
};

// Sets options.height and options.width (where they are 0) to the size of the image in
// `bytes` (decoded under `options`' limits). Throws Error(kData) naming `name` for an
// undecodable image.
void ExpectShapeOf(std::span<const uint8_t> bytes, const std::string& name,
                   DecodeOptions& options);

// Decodes a JPEG or PNG held in `bytes`. Throws Error(kData) naming `name` for anything that is
// not a whole, valid image of those formats (libjpeg-turbo warnings, such as a truncated
// stream, count as errors).
Tensor DecodeImage(std::span<const uint8_t> bytes, const std::string& name,
                   const DecodeOptions& options = {});

// DecodeImage into `image`, for loops that decode many images of one size: when `image` already
// is a u8 CPU tensor of the decoded shape, its elements (and those of any view of it) are
// overwritten and nothing is allocated; otherwise it is replaced by a new tensor. The pixels are
// those DecodeImage returns. On error `image` holds unspecified pixels.
void DecodeImageInto(std::span<const uint8_t> bytes, const std::string& name, Tensor& image,
                     const DecodeOptions& options = {});

// Decodes record.bytes into a Sample (label and index from the record). Errors name the record's
// source file (and tar entry) and its index. With kSkip, a bad record returns nullopt and is
// counted in `log`.
std::optional<Sample> DecodeRecord(const EncodedRecord& record, const DecodeOptions& options,
                                   BadInputPolicy policy = BadInputPolicy::kFail,
                                   SkipLog* log = nullptr);

// Encodes u8 [C, H, W] (C = 1 or 3). JPEG quality in [1, 100]; grey images are written as
// single-component JPEGs, RGB with 4:2:0 subsampling below quality 90 and 4:4:4 from 90.
Bytes EncodeJpeg(const Tensor& image, int quality = 95);
Bytes EncodePng(const Tensor& image);

}  // namespace millrace::io
