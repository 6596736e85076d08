// Writing a dataset out as files, so the image paths have real data to run on: an image tree
// (root/<class>/<record>.jpg, the ImageFolder convention) and WebDataset tar shards
// (shard-000000.tar holding <record>.jpg + <record>.cls). `millrace data` calls these.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/dataset.h"
#include "io/image_codec.h"

namespace millrace::io {

struct ConvertOptions {
  ImageFormat format = ImageFormat::kJpeg;  // kJpeg or kPng
  int jpeg_quality = 95;
  int64_t samples_per_shard = 10000;  // tar shards
  int64_t limit = -1;                 // write only the first `limit` records (-1: all)
  // Write the (limited) records this many times over (>= 1), copy r of record i as record
  // r * count + i: a larger dataset of the same images, for scaling runs.
  int64_t repeat = 1;
  // Called now and then with (records written, records to write); may be empty.
  std::function<void(int64_t, int64_t)> progress;
};

// Writes root/<class>/<record>.<ext>, class directories named by the label zero-padded to a
// common width ("0".."9", or "00".."99" for 100 classes) so that their sorted order is the label
// order, and records named by their index zero-padded to 6+ digits. Returns the number of files.
// Existing files are overwritten. Throws Error(kIo) naming the file it could not write.
int64_t WriteImageTree(const IndexedDataset& dataset, const std::string& root,
                       const ConvertOptions& options = {});

// Writes dir/shard-000000.tar, ... with options.samples_per_shard records each, in record
// order (repeated options.repeat times). Returns the shard paths.
std::vector<std::string> WriteTarShards(const IndexedDataset& dataset, const std::string& dir,
                                        const ConvertOptions& options = {});

}  // namespace millrace::io
