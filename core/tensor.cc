#include "core/tensor.h"

#include <algorithm>
#include <cstring>

namespace millrace {

int64_t NumElements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    MILLRACE_CHECK_ARG(d >= 0, "negative dimension in shape " << ToString(shape));
    n *= d;
  }
  return n;
}

std::string ToString(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Tensor Tensor::Empty(Shape shape, DType dtype, Device device, HostMemory host) {
  Tensor t;
  t.numel_ = NumElements(shape);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.device_ = device;
  t.storage_ = Storage::Allocate(t.nbytes(), device, host);
  t.data_ = t.storage_->data();
  return t;
}

Tensor Tensor::Zeros(Shape shape, DType dtype, Device device) {
  Tensor t = Empty(std::move(shape), dtype, device);
  t.Zero();
  return t;
}

Tensor Tensor::FromVector(Shape shape, std::span<const float> values) {
  Tensor t = Empty(std::move(shape));
  MILLRACE_CHECK_ARG(static_cast<int64_t>(values.size()) == t.numel(),
                     values.size() << " values for shape " << ToString(t.shape()));
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

Tensor Tensor::FromVector(Shape shape, std::initializer_list<float> values) {
  return FromVector(std::move(shape), std::span<const float>(values.begin(), values.size()));
}

Tensor Tensor::Empty(Shape shape, std::shared_ptr<const TensorLayout> layout, DType dtype) {
  MILLRACE_CHECK_ARG(layout != nullptr, "Tensor::Empty: a null layout (use the plain Empty)");
  Tensor t;
  t.numel_ = NumElements(shape);
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.layout_ = std::move(layout);
  t.storage_ = Storage::Allocate(t.nbytes(), t.device_, HostMemory::kPageable);
  t.data_ = t.storage_->data();
  return t;
}

Tensor Tensor::Plain() const {
  MILLRACE_CHECK_ARG(defined(), "Plain() on an undefined tensor");
  if (!layout_) return View();
  Tensor t = Empty(shape_, dtype_, device_);
  layout_->ToPlain(data_, t.data_);
  return t;
}

void Tensor::CheckPlain(const char* what) const {
  MILLRACE_CHECK_ARG(layout_ == nullptr,
                     "Tensor::" << what << ": the tensor " << ToString(shape_)
                                << " is in the backend layout " << layout_->Name()
                                << ", not plain row-major; convert it with Plain() first");
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  const int j = i < 0 ? i + n : i;
  MILLRACE_CHECK_ARG(j >= 0 && j < n, "dimension " << i << " of a tensor of shape " << ToString(shape_));
  return shape_[j];
}

void Tensor::CheckHostAccess(DType expected) const {
  CheckPlain("data");
  MILLRACE_CHECK_ARG(device_.is_cpu(), "Tensor::data: tensor is on "
                                           << device_.ToString()
                                           << "; copy it to the CPU first (To(Device::Cpu()))");
  MILLRACE_CHECK_ARG(dtype_ == expected, "tensor of dtype " << ToString(dtype_) << " read as "
                                                             << ToString(expected));
}

Tensor Tensor::Clone() const { return To(device_, pinned() ? HostMemory::kPinned : HostMemory::kPageable); }

Tensor Tensor::To(Device device, HostMemory host) const {
  MILLRACE_CHECK_ARG(defined(), "To() on an undefined tensor");
  if (layout_) {
    MILLRACE_CHECK_ARG(device.is_cpu() && device_.is_cpu(),
                       "To(" << device.ToString() << "): the tensor is in the CPU backend's layout "
                             << layout_->Name() << "; convert it with Plain() first");
    Tensor t = Empty(shape_, layout_, dtype_);
    CopyBytes(t.data_, device, data_, device_, nbytes());
    return t;
  }
  Tensor t = Empty(shape_, dtype_, device, host);
  CopyBytes(t.data_, device, data_, device_, nbytes());
  return t;
}

void Tensor::CopyFrom(const Tensor& src) {
  MILLRACE_CHECK_ARG(src.shape_ == shape_ && src.dtype_ == dtype_,
                     "CopyFrom: " << ToString(src.dtype_) << ToString(src.shape_) << " into "
                                  << ToString(dtype_) << ToString(shape_));
  MILLRACE_CHECK_ARG((layout_ == nullptr) == (src.layout_ == nullptr) &&
                         (layout_ == nullptr || layout_->SameAs(*src.layout_)),
                     "CopyFrom: the layouts differ ("
                         << (src.layout_ ? src.layout_->Name() : "plain") << " into "
                         << (layout_ ? layout_->Name() : "plain")
                         << "); convert with Plain() first");
  CopyBytes(data_, device_, src.data_, src.device_, nbytes());
}

void Tensor::Zero() {
  if (nbytes() == 0) return;
  if (device_.is_cpu()) {
    std::memset(data_, 0, nbytes());
  } else {
    detail::CudaZeroAsync(data_, nbytes(), device_.index);  // stream-ordered: no host wait
  }
}

void Tensor::Fill(float value) {
  MILLRACE_CHECK_ARG(device_.is_cpu(), "Fill() on a " << device_.ToString() << " tensor");
  std::span<float> s = span<float>();
  std::fill(s.begin(), s.end(), value);
}

Tensor Tensor::Reshape(Shape shape) const {
  CheckPlain("Reshape");
  int64_t known = 1;
  int inferred = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      MILLRACE_CHECK_ARG(inferred < 0, "Reshape: more than one -1 in " << ToString(shape));
      inferred = static_cast<int>(i);
    } else {
      known *= shape[i];
    }
  }
  if (inferred >= 0) {
    MILLRACE_CHECK_ARG(known > 0 && numel_ % known == 0,
                       "Reshape " << ToString(shape_) << " to " << ToString(shape));
    shape[inferred] = numel_ / known;
  }
  MILLRACE_CHECK_ARG(NumElements(shape) == numel_,
                     "Reshape " << ToString(shape_) << " to " << ToString(shape));
  Tensor t = View();
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::Slice(int64_t begin, int64_t end) const {
  CheckPlain("Slice");
  MILLRACE_CHECK_ARG(ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
                     "Slice [" << begin << ", " << end << ") of shape " << ToString(shape_));
  const int64_t row = shape_[0] == 0 ? 0 : numel_ / shape_[0];
  Tensor t = View();
  t.shape_[0] = end - begin;
  t.numel_ = row * (end - begin);
  t.data_ = static_cast<char*>(data_) + begin * row * static_cast<int64_t>(SizeOf(dtype_));
  return t;
}

Tensor Tensor::View() const {
  Tensor t;
  t.storage_ = storage_;
  t.data_ = data_;
  t.shape_ = shape_;
  t.numel_ = numel_;
  t.dtype_ = dtype_;
  t.device_ = device_;
  t.layout_ = layout_;
  return t;
}

}  // namespace millrace
