// Max pooling on the CPU in millrace's own loops, for the layouts the convolutions hand it.
//
// oneDNN's max pooling with a workspace (forward_training, then backward_data) was the slowest
// primitive of the cnn preset: 2x2 windows over a [128, 32, 28, 28] nChw8c activation took
// ~10 ms forward and ~8 ms backward on one AVX2 core, these loops 3.6 and 2.8
// (`ops_layer_profile --model cnn --threads 1`, docs/BENCHMARKS.md "Second round"): the lanes of a
// channel block are contiguous, so each window position is one vector compare-and-select over the
// block, and the argmax is kept as an element offset that the backward uses directly. Semantics are
// torch's: the first maximum of a window in row-major order wins, a NaN wins over any number, and
// padding never wins.
#pragma once

#include <cstdint>
#include <dnnl.hpp>
#include <optional>

namespace millrace::ops::cpu {

// Where element (n, c, h, w) of a 4-d f32 activation lies:
//   n * n_stride + (c / block) * block_stride + h * row_stride + w * col_stride + c % block.
// nChw8c / nChw16c: block 8 / 16; nhwc: one block of all (padded) channels; nchw and other
// unblocked orders: block 1, one "block" per channel.
struct ActivationGeometry {
  int64_t n = 0, blocks = 0, block = 1, h = 0, w = 0;
  int64_t n_stride = 0, block_stride = 0, row_stride = 0, col_stride = 0;
  // The span of one (n, block) plane's elements, from its first.
  int64_t PlaneExtent() const;
};

// The geometry of desc, or nullopt for layouts the loops do not take (blocking on other
// dimensions than the channels, several inner blocks, an offset, padded spatial dimensions).
std::optional<ActivationGeometry> GeometryOf(const dnnl::memory::desc& desc);

struct MaxPoolWindow {
  int64_t kernel = 0, stride = 0, padding = 0;  // square windows; padding <= kernel / 2
};

// y = max over each window of x; argmax (when not null) gets, per output element, the offset
// of the winning input element from the start of its (n, block) plane, stored densely as
// [n][block][out_h][out_w][lane]: argmax needs x.n * x.blocks * y.h * y.w * x.block int32s.
// x and y share n, blocks and block. Runs on the calling thread's OpenMP team.
void MaxPoolForward(const float* x, const ActivationGeometry& gx, float* y,
                    const ActivationGeometry& gy, int32_t* argmax, const MaxPoolWindow& window);

// dx = the gradient of the forward that wrote argmax: each dy element added to the x element
// that won its window, zero where none did. dx has x's geometry, dy y's.
void MaxPoolBackward(const float* dy, const ActivationGeometry& gy, const int32_t* argmax,
                     float* dx, const ActivationGeometry& gx, const MaxPoolWindow& window);

}  // namespace millrace::ops::cpu
