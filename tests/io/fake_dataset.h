// A small in-memory IndexedDataset for io tests: record i is a [C, H, W] image with pixel
// (c, y, x) = (i * 37 + c * 101 + y * 11 + x * 3) % 256 and label i % classes.
#pragma once

#include "io/dataset.h"

namespace millrace::io::testing {

class FakeDataset final : public IndexedDataset {
 public:
  FakeDataset(int64_t n, int64_t classes, Shape shape = {1, 8, 8})
      : n_(n), classes_(classes), shape_(std::move(shape)) {}
  int64_t size() const override { return n_; }
  int64_t num_classes() const override { return classes_; }
  static uint8_t Pixel(int64_t i, int64_t c, int64_t y, int64_t x) {
    return static_cast<uint8_t>((i * 37 + c * 101 + y * 11 + x * 3) % 256);
  }
  Sample Read(int64_t index) const override {
    Sample s;
    s.image = Tensor::Empty(shape_, DType::kU8);
    uint8_t* p = s.image.data<uint8_t>();
    for (int64_t c = 0; c < shape_[0]; ++c)
      for (int64_t y = 0; y < shape_[1]; ++y)
        for (int64_t x = 0; x < shape_[2]; ++x) *p++ = Pixel(index, c, y, x);
    s.label = index % classes_;
    s.index = index;
    return s;
  }

 private:
  int64_t n_, classes_;
  Shape shape_;
};

}  // namespace millrace::io::testing
