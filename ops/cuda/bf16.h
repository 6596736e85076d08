// Host side of the bf16 autocast (ops/precision.h) for the CUDA ops' glue (`<op>_cuda.cc`, C++20):
// buffers kept by a layer while a shape holds, and the f32 -> bf16 copies queued into them.
//
//   const void* w16 = cuda::Bf16Copy(weight_.value, state.weight_bf16);  // queued on the stream
//
// Buffers are made again only when the shape or device changes (the first step of a shape), so
// the hot path neither allocates nor waits and can be captured as a CUDA Graph.
#pragma once

#include "core/tensor.h"

namespace millrace::ops::cuda {

// `buffer`, made anew as Empty(shape, dtype, device) unless it already is one of those.
Tensor& ReuseBuffer(Tensor& buffer, const Shape& shape, DType dtype, Device device);

// Queues buffer = bf16(f32) (round to nearest even) on the thread's stream of f32's device, with
// `buffer` reused as above; returns its device pointer. f32: a plain f32 CUDA tensor.
void* Bf16Copy(const Tensor& f32, Tensor& buffer);

// Queues f32 = f32(bf16), or f32 += f32(bf16) when accumulate (a bf16 gradient added into an f32
// one); same shapes.
void Bf16ToF32(const Tensor& bf16, Tensor& f32, bool accumulate);

}  // namespace millrace::ops::cuda
