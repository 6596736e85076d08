#include "ops/pooling/max_pool_cpu.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace millrace::ops::cpu {

int64_t ActivationGeometry::PlaneExtent() const {
  return (h - 1) * row_stride + (w - 1) * col_stride + block;
}

std::optional<ActivationGeometry> GeometryOf(const dnnl::memory::desc& desc) {
  const dnnl_memory_desc_t& d = desc.data;
  if (d.ndims != 4 || d.data_type != dnnl_f32 || d.format_kind != dnnl_blocked || d.offset0 != 0)
    return std::nullopt;
  if (d.padded_dims[0] != d.dims[0] || d.padded_dims[2] != d.dims[2] ||
      d.padded_dims[3] != d.dims[3])
    return std::nullopt;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  ActivationGeometry g;
  g.n = d.dims[0];
  g.h = d.dims[2];
  g.w = d.dims[3];
  g.n_stride = b.strides[0];
  g.row_stride = b.strides[2];
  g.col_stride = b.strides[3];
  const int64_t channels = d.padded_dims[1];
  if (b.inner_nblks == 0 && b.strides[1] == 1 && channels == d.dims[1]) {
    g.block = channels;  // channels innermost (nhwc): one block of them all
    g.blocks = 1;
  } else if (b.inner_nblks == 0) {
    g.block = 1;
    g.blocks = channels;
    g.block_stride = b.strides[1];
  } else if (b.inner_nblks == 1 && b.inner_idxs[0] == 1) {
    g.block = b.inner_blks[0];
    g.blocks = channels / g.block;
    g.block_stride = b.strides[1];
  } else {
    return std::nullopt;
  }
  if (g.n <= 0 || g.h <= 0 || g.w <= 0 || g.blocks <= 0 ||
      g.PlaneExtent() > std::numeric_limits<int32_t>::max())
    return std::nullopt;
  return g;
}

namespace {

// The input rows (or columns) [lo, hi) of output position o's window.
struct PoolSpan {
  int64_t lo, hi;
};
PoolSpan PoolWindowOf(int64_t o, int64_t size, const MaxPoolWindow& win) {
  const int64_t start = o * win.stride - win.padding;
  return {std::max<int64_t>(start, 0), std::min(start + win.kernel, size)};
}

// Four lanes of a channel block as one value (GCC's vector extensions; 16 bytes is what every
// x86-64 target has, and the loops are bound by memory, not by vector width), loaded and
// stored unaligned.
using PoolF4 = float __attribute__((vector_size(16)));
using PoolI4 = int32_t __attribute__((vector_size(16)));
constexpr PoolI4 kPoolLanes = {0, 1, 2, 3};
template <typename V>
V PoolLoad(const void* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
PoolF4 PoolLoad(const float* p) { return PoolLoad<PoolF4>(p); }
PoolI4 PoolLoad(const int32_t* p) { return PoolLoad<PoolI4>(p); }
template <typename V>
void PoolStore(void* p, const V& v) {
  std::memcpy(p, &v, sizeof v);
}

// One (n, block) plane. The geometry comes by value: copies the compiler can keep in registers
// (through the references an OpenMP loop body captures, it reloads them every iteration).
template <int kBlock>
void MaxPoolForwardPlane(const float* x, ActivationGeometry gx, float* y, ActivationGeometry gy,
                         int32_t* argmax, MaxPoolWindow win, int64_t plane) {
  const int64_t lanes = kBlock != 0 ? kBlock : gx.block;
  const int64_t n = plane / gx.blocks, blk = plane % gx.blocks;
  const float* xp = x + n * gx.n_stride + blk * gx.block_stride;
  float* yp = y + n * gy.n_stride + blk * gy.block_stride;
  int32_t* ap = argmax ? argmax + plane * gy.h * gy.w * lanes : nullptr;
  for (int64_t oy = 0; oy < gy.h; ++oy) {
    const PoolSpan rows = PoolWindowOf(oy, gx.h, win);
    for (int64_t ox = 0; ox < gy.w; ++ox) {
      const PoolSpan cols = PoolWindowOf(ox, gx.w, win);
      float* out = yp + oy * gy.row_stride + ox * gy.col_stride;
      int32_t* out_at = ap ? ap + (oy * gy.w + ox) * lanes : nullptr;
      if constexpr (kBlock != 0) {
        constexpr int kVectors = kBlock / 4;
        const auto first = static_cast<int32_t>(rows.lo * gx.row_stride + cols.lo * gx.col_stride);
        PoolF4 best[kVectors];
        PoolI4 at[kVectors];
        for (int k = 0; k < kVectors; ++k) {
          best[k] = PoolF4{} - std::numeric_limits<float>::infinity();
          at[k] = kPoolLanes + (first + 4 * k);
        }
        for (int64_t iy = rows.lo; iy < rows.hi; ++iy)
          for (int64_t ix = cols.lo; ix < cols.hi; ++ix) {
            const auto offset = static_cast<int32_t>(iy * gx.row_stride + ix * gx.col_stride);
            for (int k = 0; k < kVectors; ++k) {
              const PoolF4 v = PoolLoad(xp + offset + 4 * k);
              const PoolI4 wins = (v > best[k]) | (v != v);
              best[k] = wins ? v : best[k];
              at[k] = wins ? kPoolLanes + (offset + 4 * k) : at[k];
            }
          }
        for (int k = 0; k < kVectors; ++k) {
          PoolStore(out + 4 * k, best[k]);
          if (out_at) PoolStore(out_at + 4 * k, at[k]);
        }
      } else {
        for (int64_t l = 0; l < lanes; ++l) {
          float m = -std::numeric_limits<float>::infinity();
          auto a = static_cast<int32_t>(rows.lo * gx.row_stride + cols.lo * gx.col_stride + l);
          for (int64_t iy = rows.lo; iy < rows.hi; ++iy)
            for (int64_t ix = cols.lo; ix < cols.hi; ++ix) {
              const auto offset = static_cast<int32_t>(iy * gx.row_stride + ix * gx.col_stride + l);
              const float v = xp[offset];
              if (v > m || v != v) {
                m = v;
                a = offset;
              }
            }
          out[l] = m;
          if (out_at) out_at[l] = a;
        }
      }
    }
  }
}

// kBlock: lanes per block when known at compile time (the vector loops are unrolled), 0 to take
// it from the geometry.
template <int kBlock>
void MaxPoolForwardPlanes(const float* x, const ActivationGeometry& gx, float* y,
                          const ActivationGeometry& gy, int32_t* argmax, const MaxPoolWindow& win) {
  const int64_t planes = gx.n * gx.blocks;
#pragma omp parallel for schedule(static) if (planes > 1)
  for (int64_t plane = 0; plane < planes; ++plane)
    MaxPoolForwardPlane<kBlock>(x, gx, y, gy, argmax, win, plane);
}

// kBlock as for the forward.
template <int kBlock>
void MaxPoolBackwardPlane(const float* dy, ActivationGeometry gy, const int32_t* argmax, float* dx,
                          ActivationGeometry gx, MaxPoolWindow win, int64_t plane) {
  const int64_t lanes = kBlock != 0 ? kBlock : gx.block;
  // Windows that tile the input without overlap: each dx element is written once, as dy where
  // it won its window and 0 elsewhere (a compare and a select per lane, no scatter).
  const bool tiles = win.stride == win.kernel && win.padding == 0;
  const int64_t n = plane / gx.blocks, blk = plane % gx.blocks;
  float* dxp = dx + n * gx.n_stride + blk * gx.block_stride;
  const float* dyp = dy + n * gy.n_stride + blk * gy.block_stride;
  const int32_t* ap = argmax + plane * gy.h * gy.w * lanes;
  const int64_t covered_h = tiles ? gy.h * win.kernel : 0;
  const int64_t covered_w = tiles ? gy.w * win.kernel : 0;
  for (int64_t iy = 0; iy < gx.h; ++iy)
    for (int64_t ix = 0; ix < gx.w; ++ix) {
      if (iy < covered_h && ix < covered_w) continue;
      float* v = dxp + iy * gx.row_stride + ix * gx.col_stride;
      for (int64_t l = 0; l < lanes; ++l) v[l] = 0;
    }
  for (int64_t oy = 0; oy < gy.h; ++oy)
    for (int64_t ox = 0; ox < gy.w; ++ox) {
      const float* g = dyp + oy * gy.row_stride + ox * gy.col_stride;
      const int32_t* a = ap + (oy * gy.w + ox) * lanes;
      if (!tiles) {
        for (int64_t l = 0; l < lanes; ++l) dxp[a[l]] += g[l];
        continue;
      }
      for (int64_t iy = oy * win.kernel; iy < (oy + 1) * win.kernel; ++iy)
        for (int64_t ix = ox * win.kernel; ix < (ox + 1) * win.kernel; ++ix) {
          const auto offset = static_cast<int32_t>(iy * gx.row_stride + ix * gx.col_stride);
          float* v = dxp + offset;
          if constexpr (kBlock != 0) {
            for (int k = 0; k < kBlock / 4; ++k) {
              const PoolI4 won = PoolLoad(a + 4 * k) == kPoolLanes + (offset + 4 * k);
              PoolStore(v + 4 * k, reinterpret_cast<PoolF4>(
                                       won & reinterpret_cast<PoolI4>(PoolLoad(g + 4 * k))));
            }
          } else {
            for (int64_t l = 0; l < lanes; ++l) v[l] = a[l] == offset + l ? g[l] : 0.0f;
          }
        }
    }
}

template <int kBlock>
void MaxPoolBackwardPlanes(const float* dy, const ActivationGeometry& gy, const int32_t* argmax,
                           float* dx, const ActivationGeometry& gx, const MaxPoolWindow& win) {
  const int64_t planes = gx.n * gx.blocks;
#pragma omp parallel for schedule(static) if (planes > 1)
  for (int64_t plane = 0; plane < planes; ++plane)
    MaxPoolBackwardPlane<kBlock>(dy, gy, argmax, dx, gx, win, plane);
}

}  // namespace

void MaxPoolForward(const float* x, const ActivationGeometry& gx, float* y,
                    const ActivationGeometry& gy, int32_t* argmax, const MaxPoolWindow& window) {
  switch (gx.block) {
    case 8: return MaxPoolForwardPlanes<8>(x, gx, y, gy, argmax, window);
    case 16: return MaxPoolForwardPlanes<16>(x, gx, y, gy, argmax, window);
    default: return MaxPoolForwardPlanes<0>(x, gx, y, gy, argmax, window);
  }
}

void MaxPoolBackward(const float* dy, const ActivationGeometry& gy, const int32_t* argmax,
                     float* dx, const ActivationGeometry& gx, const MaxPoolWindow& window) {
  switch (gx.block) {
    case 8: return MaxPoolBackwardPlanes<8>(dy, gy, argmax, dx, gx, window);
    case 16: return MaxPoolBackwardPlanes<16>(dy, gy, argmax, dx, gx, window);
    default: return MaxPoolBackwardPlanes<0>(dy, gy, argmax, dx, gx, window);
  }
}

}  // namespace millrace::ops::cpu
