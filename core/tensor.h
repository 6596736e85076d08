// Tensor: a dtype, a shape, a device and owning storage. Always contiguous (row-major).
//
//   Tensor x = Tensor::Zeros({128, 784});          // f32 on the CPU
//   float* p = x.data<float>();
//   Tensor rows = x.Slice(0, 32);                  // a view: shares x's storage
//   Tensor copy = x.Clone();                       // a deep copy
//   Tensor on_gpu = x.To(Device::Cuda(0));         // a copy on another device
//
// Tensors are move-only: a copy is always spelled out (Clone, To). Views (Reshape, Slice)
// share the storage, which lives as long as any tensor that views it. A Tensor is not
// synchronised: one thread writes it at a time.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/memory.h"

namespace millrace {

using Shape = std::vector<int64_t>;

int64_t NumElements(const Shape& shape);
std::string ToString(const Shape& shape);  // "[128, 1, 28, 28]"

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage, defined() is false
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  // Uninitialised memory.
  static Tensor Empty(Shape shape, DType dtype = DType::kF32, Device device = Device::Cpu(),
                      HostMemory host = HostMemory::kPageable);
  static Tensor Zeros(Shape shape, DType dtype = DType::kF32, Device device = Device::Cpu());
  // A CPU f32 tensor holding `values` (numel must match the shape).
  static Tensor FromVector(Shape shape, std::span<const float> values);
  static Tensor FromVector(Shape shape, std::initializer_list<float> values);

  bool defined() const noexcept { return storage_ != nullptr; }
  DType dtype() const noexcept { return dtype_; }
  Device device() const noexcept { return device_; }
  const Shape& shape() const noexcept { return shape_; }
  int64_t dim(int i) const;  // negative i counts from the end
  int ndim() const noexcept { return static_cast<int>(shape_.size()); }
  int64_t numel() const noexcept { return numel_; }
  size_t nbytes() const noexcept { return static_cast<size_t>(numel_) * SizeOf(dtype_); }
  bool pinned() const noexcept { return storage_ && storage_->pinned(); }

  // The first element's address on the tensor's device, whatever the device: for backends,
  // which know where their memory lives.
  void* raw_data() noexcept { return data_; }
  const void* raw_data() const noexcept { return data_; }
  // Typed host access, CPU tensors only: throws Error(kInvalidArgument) when T does not match
  // dtype() or when the tensor is on another device ("Tensor::data: tensor is on cuda:0; copy
  // it to the CPU first (To(Device::Cpu()))").
  template <typename T> T* data() {
    CheckHostAccess(kDTypeOf<T>);
    return static_cast<T*>(data_);
  }
  template <typename T> const T* data() const {
    CheckHostAccess(kDTypeOf<T>);
    return static_cast<const T*>(data_);
  }
  // The elements as a span (CPU tensors only, as data()).
  template <typename T> std::span<T> span() { return {data<T>(), static_cast<size_t>(numel_)}; }
  template <typename T> std::span<const T> span() const {
    return {data<T>(), static_cast<size_t>(numel_)};
  }

  Tensor Clone() const;                // same device, new storage
  Tensor To(Device device, HostMemory host = HostMemory::kPageable) const;  // copy
  void CopyFrom(const Tensor& src);    // same shape and dtype, any devices
  void Zero();                         // every byte 0
  void Fill(float value);              // f32 CPU tensors

  // Views sharing storage.
  Tensor Reshape(Shape shape) const;            // one dimension may be -1
  Tensor Slice(int64_t begin, int64_t end) const;  // rows [begin, end) of dimension 0
  Tensor View() const;                          // another handle to the same elements

  // Whether two tensors share storage.
  bool SharesStorageWith(const Tensor& other) const noexcept {
    return storage_ != nullptr && storage_ == other.storage_;
  }

 private:
  void CheckHostAccess(DType expected) const;  // a CPU tensor of dtype `expected`

  std::shared_ptr<Storage> storage_;
  void* data_ = nullptr;  // storage_->data() + view offset
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::kF32;
  Device device_ = Device::Cpu();
};

}  // namespace millrace
