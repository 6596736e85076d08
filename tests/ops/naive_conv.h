// The reference convolution of the parity tests: direct, in double, forward and backward.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "ops/conv2d/conv2d.h"

namespace millrace::ops::testing {

// Direct convolution. x: [N, C, H, W]  w: [O, C/g, kh, kw]  y: [N, O, Ho, Wo]
struct NaiveConv {
  std::vector<double> y, dx, dw, db;
};
inline NaiveConv Conv(const Conv2dConfig& c, const Shape& xs, const std::vector<double>& x,
                      const std::vector<double>& w, const std::vector<double>& b, const Shape& ys,
                      const std::vector<double>& dy) {
  const int64_t n = xs[0], h = xs[2], wd = xs[3], ho = ys[2], wo = ys[3];
  const int64_t cin_g = c.in_channels / c.groups, cout_g = c.out_channels / c.groups;
  NaiveConv r;
  r.y.assign(NumElements(ys), 0);
  r.dx.assign(x.size(), 0);
  r.dw.assign(w.size(), 0);
  r.db.assign(c.out_channels, 0);
  for (int64_t s = 0; s < n; ++s)
    for (int64_t o = 0; o < c.out_channels; ++o)
      for (int64_t i = 0; i < ho; ++i)
        for (int64_t j = 0; j < wo; ++j) {
          const int64_t yi = ((s * c.out_channels + o) * ho + i) * wo + j;
          double acc = c.bias ? b[o] : 0.0;
          const int64_t group = o / cout_g;
          for (int64_t ci = 0; ci < cin_g; ++ci)
            for (int64_t ki = 0; ki < c.kernel_h; ++ki)
              for (int64_t kj = 0; kj < c.kernel_w; ++kj) {
                const int64_t hi = i * c.stride - c.padding + ki * c.dilation;
                const int64_t wj = j * c.stride - c.padding + kj * c.dilation;
                if (hi < 0 || hi >= h || wj < 0 || wj >= wd) continue;
                const int64_t xi = ((s * c.in_channels + group * cin_g + ci) * h + hi) * wd + wj;
                const int64_t wi = ((o * cin_g + ci) * c.kernel_h + ki) * c.kernel_w + kj;
                acc += x[xi] * w[wi];
                r.dx[xi] += dy[yi] * w[wi];
                r.dw[wi] += dy[yi] * x[xi];
              }
          r.y[yi] = acc;
          r.db[o] += dy[yi];
        }
  return r;
}

}  // namespace millrace::ops::testing
