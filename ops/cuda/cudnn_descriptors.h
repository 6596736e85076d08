// Owning cuDNN descriptors for the CUDA backend's host glue (`<op>_cuda.cc`): each handle is a
// unique_ptr with its destroy function as deleter, made and set in one checked call, so op code
// has no create/destroy pairs.
//
//   cuda::TensorDesc x = cuda::NchwDesc({128, 32, 28, 28});   // f32, plain row-major NCHW
//   cuda::FilterDesc w = cuda::KcrsDesc({64, 32, 3, 3});      // f32 filter [K, C/groups, R, S]
//
// The layers use cuDNN's legacy (v7-style) convolution and batch-normalization API: cuDNN 9
// still ships it (cudnn_cnn.h, cudnn_ops.h) and marks it deprecated only under
// CUDNN_WARN_DEPRECATED; its semantics (alpha/beta blending, NCHW strides, group count) are
// documented call by call, which the graph API's backend descriptors are not as plainly.
#pragma once

#include <cudnn.h>

#include <cstdint>
#include <memory>

#include "core/tensor.h"
#include "ops/cuda/context.h"

namespace millrace::ops::cuda {

struct TensorDescDeleter {
  void operator()(cudnnTensorStruct* d) const noexcept { cudnnDestroyTensorDescriptor(d); }
};
struct FilterDescDeleter {
  void operator()(cudnnFilterStruct* d) const noexcept { cudnnDestroyFilterDescriptor(d); }
};
struct ConvDescDeleter {
  void operator()(cudnnConvolutionStruct* d) const noexcept {
    cudnnDestroyConvolutionDescriptor(d);
  }
};
using TensorDesc = std::unique_ptr<cudnnTensorStruct, TensorDescDeleter>;
using FilterDesc = std::unique_ptr<cudnnFilterStruct, FilterDescDeleter>;
using ConvDesc = std::unique_ptr<cudnnConvolutionStruct, ConvDescDeleter>;

// cuDNN takes int dimensions: throws Error(kInvalidArgument) naming `what` for a larger one.
inline int CudnnDim(int64_t d, const char* what) {
  MILLRACE_CHECK_ARG(d >= 0 && d <= INT32_MAX,
                     what << ": dimension " << d << " exceeds cuDNN's int");
  return static_cast<int>(d);
}

// A 4-d tensor descriptor, plain NCHW (what every CUDA tensor of millrace is), f32 unless told
// (CUDNN_DATA_BFLOAT16 for the bf16 autocast's copies, ops/precision.h).
inline TensorDesc NchwDesc(const Shape& s, cudnnDataType_t type = CUDNN_DATA_FLOAT) {
  MILLRACE_CHECK_ARG(s.size() == 4, "cuDNN tensor descriptor of " << ToString(s) << ": not 4-d");
  cudnnTensorDescriptor_t d = nullptr;
  MILLRACE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d));
  TensorDesc owned(d);
  MILLRACE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(
      d, CUDNN_TENSOR_NCHW, type, CudnnDim(s[0], "NchwDesc"), CudnnDim(s[1], "NchwDesc"),
      CudnnDim(s[2], "NchwDesc"), CudnnDim(s[3], "NchwDesc")));
  return owned;
}

// A filter descriptor [K, C/groups, R, S] (KCRS = NCHW order for filters, torch's), f32 unless
// told.
inline FilterDesc KcrsDesc(const Shape& s, cudnnDataType_t type = CUDNN_DATA_FLOAT) {
  MILLRACE_CHECK_ARG(s.size() == 4, "cuDNN filter descriptor of " << ToString(s) << ": not 4-d");
  cudnnFilterDescriptor_t d = nullptr;
  MILLRACE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d));
  FilterDesc owned(d);
  MILLRACE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(
      d, type, CUDNN_TENSOR_NCHW, CudnnDim(s[0], "KcrsDesc"), CudnnDim(s[1], "KcrsDesc"),
      CudnnDim(s[2], "KcrsDesc"), CudnnDim(s[3], "KcrsDesc")));
  return owned;
}

inline ConvDesc MakeConvDesc() {
  cudnnConvolutionDescriptor_t d = nullptr;
  MILLRACE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d));
  return ConvDesc(d);
}

// The device pointer of a plain CUDA f32 tensor (raw_data refuses a backend layout).
inline float* F32Data(Tensor& t) { return static_cast<float*>(t.raw_data()); }
inline const float* F32Data(const Tensor& t) { return static_cast<const float*>(t.raw_data()); }

// cuDNN's alpha / beta blend factors for f32 data: dst = alpha * result + beta * dst.
inline constexpr float kBlendOne = 1.f;
inline constexpr float kBlendZero = 0.f;

}  // namespace millrace::ops::cuda
