# Sources of millrace_io, relative to io/.
set(MILLRACE_IO_SOURCES
  record.cc
  async_reader.cc
  prefetcher.cc
  gzip.cc
  idx_format.cc
  idx.cc
  sampler.cc
  augment.cc
  collate.cc
  image_codec.cc
  image_folder.cc
  tar_format.cc
  tar_shards.cc
  tar_dataset.cc
  convert.cc
)
