// The pooling layers' CUDA kernels: one thread per output element forward, one per input
// element backward (a gather over the windows that cover it), grid-stride loops.
// pooling_cuda_kernels.h has the semantics.
#include "ops/pooling/pooling_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kPool2dThreads = 256;

int Pool2dBlocks(int64_t n) {
  const int64_t blocks = (n + kPool2dThreads - 1) / kPool2dThreads;
  return static_cast<int>(blocks < 1 ? 1 : (blocks > 4096 ? 4096 : blocks));
}

// The input rows (or columns) [lo, hi) of output position o's window: start o * stride -
// padding, clipped to [0, size).
struct Pool2dSpan {
  int64_t lo, hi;
};
__device__ Pool2dSpan Pool2dWindow(int64_t o, int64_t size, int64_t kernel, int64_t stride,
                                   int64_t padding) {
  const int64_t start = o * stride - padding;
  return {start > 0 ? start : 0, start + kernel < size ? start + kernel : size};
}

// The output positions [lo, hi] whose windows cover input position i:
// o * stride - padding <= i < o * stride - padding + kernel, 0 <= o < outputs.
__device__ Pool2dSpan Pool2dCovering(int64_t i, int64_t outputs, int64_t kernel, int64_t stride,
                                     int64_t padding) {
  const int64_t first = i + padding - kernel + 1;  // o * stride >= first
  const int64_t lo = first <= 0 ? 0 : (first + stride - 1) / stride;
  const int64_t last = (i + padding) / stride;  // o * stride <= i + padding (>= 0)
  return {lo, last < outputs - 1 ? last : outputs - 1};
}

__global__ void MaxPool2dForwardKernel(const float* x, float* y, int32_t* argmax,
                                       Pool2dCudaGeometry g) {
  const int64_t n = g.planes * g.ho * g.wo;
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < n;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = o / (g.ho * g.wo), oy = o / g.wo % g.ho, ox = o % g.wo;
    const float* xp = x + plane * g.h * g.w;
    const Pool2dSpan rows = Pool2dWindow(oy, g.h, g.kh, g.stride, g.padding);
    const Pool2dSpan cols = Pool2dWindow(ox, g.w, g.kw, g.stride, g.padding);
    float best = -__int_as_float(0x7f800000);  // -inf
    int64_t at = rows.lo * g.w + cols.lo;
    for (int64_t iy = rows.lo; iy < rows.hi; ++iy) {
      for (int64_t ix = cols.lo; ix < cols.hi; ++ix) {
        const float v = xp[iy * g.w + ix];
        if (v > best || v != v) {
          best = v;
          at = iy * g.w + ix;
        }
      }
    }
    y[o] = best;
    if (argmax != nullptr) argmax[o] = static_cast<int32_t>(at);
  }
}

__global__ void MaxPool2dBackwardKernel(const float* dy, const int32_t* argmax, float* dx,
                                        Pool2dCudaGeometry g) {
  const int64_t n = g.planes * g.h * g.w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = i / (g.h * g.w), iy = i / g.w % g.h, ix = i % g.w;
    const int64_t self = iy * g.w + ix;
    const Pool2dSpan rows = Pool2dCovering(iy, g.ho, g.kh, g.stride, g.padding);
    const Pool2dSpan cols = Pool2dCovering(ix, g.wo, g.kw, g.stride, g.padding);
    const int64_t base = plane * g.ho * g.wo;
    float sum = 0.f;
    for (int64_t oy = rows.lo; oy <= rows.hi; ++oy) {
      for (int64_t ox = cols.lo; ox <= cols.hi; ++ox) {
        const int64_t o = base + oy * g.wo + ox;
        if (argmax[o] == self) sum += dy[o];
      }
    }
    dx[i] = sum;
  }
}

// The divisor of output (oy, ox)'s mean.
__device__ float AvgPool2dDivisor(int64_t oy, int64_t ox, bool count_include_pad,
                                  const Pool2dCudaGeometry& g) {
  if (count_include_pad) return static_cast<float>(g.kh * g.kw);
  const Pool2dSpan rows = Pool2dWindow(oy, g.h, g.kh, g.stride, g.padding);
  const Pool2dSpan cols = Pool2dWindow(ox, g.w, g.kw, g.stride, g.padding);
  return static_cast<float>((rows.hi - rows.lo) * (cols.hi - cols.lo));
}

__global__ void AvgPool2dForwardKernel(const float* x, float* y, bool count_include_pad,
                                       Pool2dCudaGeometry g) {
  const int64_t n = g.planes * g.ho * g.wo;
  for (int64_t o = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; o < n;
       o += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = o / (g.ho * g.wo), oy = o / g.wo % g.ho, ox = o % g.wo;
    const float* xp = x + plane * g.h * g.w;
    const Pool2dSpan rows = Pool2dWindow(oy, g.h, g.kh, g.stride, g.padding);
    const Pool2dSpan cols = Pool2dWindow(ox, g.w, g.kw, g.stride, g.padding);
    float sum = 0.f;
    for (int64_t iy = rows.lo; iy < rows.hi; ++iy) {
      for (int64_t ix = cols.lo; ix < cols.hi; ++ix) sum += xp[iy * g.w + ix];
    }
    y[o] = sum / AvgPool2dDivisor(oy, ox, count_include_pad, g);
  }
}

__global__ void AvgPool2dBackwardKernel(const float* dy, float* dx, bool count_include_pad,
                                        Pool2dCudaGeometry g) {
  const int64_t n = g.planes * g.h * g.w;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t plane = i / (g.h * g.w), iy = i / g.w % g.h, ix = i % g.w;
    const Pool2dSpan rows = Pool2dCovering(iy, g.ho, g.kh, g.stride, g.padding);
    const Pool2dSpan cols = Pool2dCovering(ix, g.wo, g.kw, g.stride, g.padding);
    const float* dyp = dy + plane * g.ho * g.wo;
    float sum = 0.f;
    for (int64_t oy = rows.lo; oy <= rows.hi; ++oy) {
      for (int64_t ox = cols.lo; ox <= cols.hi; ++ox) {
        sum += dyp[oy * g.wo + ox] / AvgPool2dDivisor(oy, ox, count_include_pad, g);
      }
    }
    dx[i] = sum;
  }
}

}  // namespace

void LaunchMaxPool2dForward(const float* x, float* y, int32_t* argmax, const Pool2dCudaGeometry& g,
                            cudaStream_t stream) {
  const int64_t n = g.planes * g.ho * g.wo;
  if (n <= 0) return;
  MaxPool2dForwardKernel<<<Pool2dBlocks(n), kPool2dThreads, 0, stream>>>(x, y, argmax, g);
}

void LaunchMaxPool2dBackward(const float* dy, const int32_t* argmax, float* dx,
                             const Pool2dCudaGeometry& g, cudaStream_t stream) {
  const int64_t n = g.planes * g.h * g.w;
  if (n <= 0) return;
  MaxPool2dBackwardKernel<<<Pool2dBlocks(n), kPool2dThreads, 0, stream>>>(dy, argmax, dx, g);
}

void LaunchAvgPool2dForward(const float* x, float* y, bool count_include_pad,
                            const Pool2dCudaGeometry& g, cudaStream_t stream) {
  const int64_t n = g.planes * g.ho * g.wo;
  if (n <= 0) return;
  AvgPool2dForwardKernel<<<Pool2dBlocks(n), kPool2dThreads, 0, stream>>>(x, y, count_include_pad,
                                                                         g);
}

void LaunchAvgPool2dBackward(const float* dy, float* dx, bool count_include_pad,
                             const Pool2dCudaGeometry& g, cudaStream_t stream) {
  const int64_t n = g.planes * g.h * g.w;
  if (n <= 0) return;
  AvgPool2dBackwardKernel<<<Pool2dBlocks(n), kPool2dThreads, 0, stream>>>(dy, dx, count_include_pad,
                                                                          g);
}

}  // namespace millrace::ops::cuda
