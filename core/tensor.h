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
//
// Backend layouts. A compute backend may keep a tensor's elements in its own memory layout
// (oneDNN's blocked nChw8c: channels in blocks of 8, padded) so that a chain of its layers
// does not convert at every layer. Such a tensor has the same logical shape, a non-null
// layout() that only that backend interprets, and refuses every plain reading (data(), span(),
// raw_data(), Reshape, Slice, Fill): the one way back is Plain(), which converts.
//
//   Tensor y = conv.Forward(x, Mode::kTrain);  // inside a Sequential: maybe nChw8c
//   if (!y.plain()) y = y.Plain();             // row-major, readable
//
// Sequential hands plain tensors to every layer that does not take backend layouts
// (Layer::AcceptsLayouts) and returns plain ones; Parameters are always plain.
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

// A backend's memory layout of a tensor (see "Backend layouts" above). Implemented by the
// backend that makes it (ops/cpu/layout.h for oneDNN's); immutable and shared by the tensors
// that use it.
class TensorLayout {
 public:
  virtual ~TensorLayout() = default;
  // In the backend's words: "nChw8c".
  virtual std::string Name() const = 0;
  // The bytes a tensor in this layout occupies (padding included).
  virtual size_t nbytes() const = 0;
  // Writes the elements of `src`, bytes in this layout, into `dst` as plain row-major values.
  // Runs on the calling thread (for oneDNN: the compute thread).
  virtual void ToPlain(const void* src, void* dst) const = 0;
  // Whether `other` describes the same arrangement of bytes.
  virtual bool SameAs(const TensorLayout& other) const = 0;
};

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
  // Uninitialised CPU memory in a backend layout (layout non-null; layout->nbytes() bytes).
  static Tensor Empty(Shape shape, std::shared_ptr<const TensorLayout> layout,
                      DType dtype = DType::kF32);

  bool defined() const noexcept { return storage_ != nullptr; }
  DType dtype() const noexcept { return dtype_; }
  Device device() const noexcept { return device_; }
  const Shape& shape() const noexcept { return shape_; }
  int64_t dim(int i) const;  // negative i counts from the end
  int ndim() const noexcept { return static_cast<int>(shape_.size()); }
  int64_t numel() const noexcept { return numel_; }
  // The storage's bytes: numel x element size, or the backend layout's size.
  size_t nbytes() const noexcept {
    return layout_ ? layout_->nbytes() : static_cast<size_t>(numel_) * SizeOf(dtype_);
  }

  // Whether the elements are plain row-major (no backend layout).
  bool plain() const noexcept { return layout_ == nullptr; }
  // The backend layout, or nullptr for plain tensors.
  const TensorLayout* layout() const noexcept { return layout_.get(); }
  const std::shared_ptr<const TensorLayout>& shared_layout() const noexcept { return layout_; }
  // The elements as a plain row-major tensor: a view of a plain tensor, else a converted copy.
  Tensor Plain() const;
  bool pinned() const noexcept { return storage_ && storage_->pinned(); }

  // The first element's address on the tensor's device, whatever the device: for backends,
  // which know where their memory lives. Plain tensors only (throws Error(kInvalidArgument)
  // for a tensor in a backend layout).
  void* raw_data() {
    CheckPlain("raw_data");
    return data_;
  }
  const void* raw_data() const {
    CheckPlain("raw_data");
    return data_;
  }
  // The bytes whatever the layout: for the backend that interprets layout().
  void* layout_data() noexcept { return data_; }
  const void* layout_data() const noexcept { return data_; }
  // Typed host access, plain CPU tensors only: throws Error(kInvalidArgument) when T does not
  // match dtype(), when the tensor is on another device ("Tensor::data: tensor is on cuda:0;
  // copy it to the CPU first (To(Device::Cpu()))") or in a backend layout.
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

  Tensor Clone() const;  // same device and layout, new storage
  // A copy on `device`; a tensor in a backend layout copies only to the CPU (Plain() first).
  Tensor To(Device device, HostMemory host = HostMemory::kPageable) const;
  void CopyFrom(const Tensor& src);    // same shape, dtype and layout, any devices
  void Zero();  // every byte 0; on CUDA queued on the thread's stream (core/device_stream.h)
  void Fill(float value);              // plain f32 CPU tensors

  // Views sharing storage (plain tensors only; View() keeps the layout).
  Tensor Reshape(Shape shape) const;            // one dimension may be -1
  Tensor Slice(int64_t begin, int64_t end) const;  // rows [begin, end) of dimension 0
  Tensor View() const;                          // another handle to the same elements

  // Whether two tensors share storage.
  bool SharesStorageWith(const Tensor& other) const noexcept {
    return storage_ != nullptr && storage_ == other.storage_;
  }

 private:
  void CheckHostAccess(DType expected) const;  // a plain CPU tensor of dtype `expected`
  void CheckPlain(const char* what) const;     // throws for a tensor in a backend layout

  std::shared_ptr<Storage> storage_;
  void* data_ = nullptr;  // storage_->data() + view offset
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::kF32;
  Device device_ = Device::Cpu();
  std::shared_ptr<const TensorLayout> layout_;  // null: plain row-major
};

}  // namespace millrace
