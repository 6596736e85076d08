#include "ops/pooling/pooling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "ops/pooling/max_pool_cpu.h"
#include "tests/ops/gradcheck.h"

namespace millrace::ops {
namespace {

using testing::RandomTensor;

// Distinct values 0.05 apart in random order: no ties, and no argmax moves under +-eps.
Tensor SpacedValues(const Shape& shape, uint64_t seed) {
  Tensor t = Tensor::Empty(shape);
  std::vector<int64_t> order(t.numel());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), Rng(seed).engine());
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.05f * (order[i] - t.numel() / 2);
  return t;
}

enum class Ref { kMax, kAvgInclude, kAvgExclude };

std::vector<double> NaivePool(const Tensor& x, Ref ref, int64_t k, int64_t s, int64_t p,
                              const Shape& y_shape) {
  const int64_t nc = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t ho = y_shape[2], wo = y_shape[3];
  std::vector<double> y(NumElements(y_shape));
  for (int64_t plane = 0; plane < nc; ++plane)
    for (int64_t oy = 0; oy < ho; ++oy)
      for (int64_t ox = 0; ox < wo; ++ox) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t valid = 0, window = 0;
        for (int64_t ky = 0; ky < k; ++ky)
          for (int64_t kx = 0; kx < k; ++kx) {
            const int64_t iy = oy * s - p + ky, ix = ox * s - p + kx;
            // torch counts padded positions inside [-p, H + p) for count_include_pad.
            if (iy < h + p && ix < w + p) ++window;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const double v = x.data<float>()[(plane * h + iy) * w + ix];
            best = std::max(best, v);
            sum += v;
            ++valid;
          }
        const int64_t at = (plane * ho + oy) * wo + ox;
        y[at] = ref == Ref::kMax ? best : ref == Ref::kAvgInclude ? sum / window : sum / valid;
      }
  return y;
}

struct PoolCase {
  int64_t k, s, p;
  Shape input;
};

const PoolCase kCases[] = {{2, 2, 0, {2, 3, 8, 8}},
                       {3, 2, 1, {1, 2, 7, 9}},
                       {2, 2, 0, {2, 2, 7, 7}},
                       {3, 1, 1, {1, 2, 5, 5}}};

TEST(Pooling, MaxForwardAndBackward) {
  uint64_t seed = 1;
  for (const PoolCase& c : kCases) {
    MaxPool2d pool(c.k, c.s, c.p);
    SCOPED_TRACE(pool.Describe());
    Tensor x = SpacedValues(c.input, seed++);
    Tensor y = pool.Forward(x, Mode::kEval);
    const std::vector<double> ref = NaivePool(x, Ref::kMax, c.k, c.s, c.p, y.shape());
    ASSERT_EQ(y.shape(), pool.OutputShape(c.input));
    for (int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.data<float>()[i], ref[i], 1e-6) << i;
    testing::ExpectGradientsMatch(pool, x, seed++, {.eps = 1e-3, .atol = 1e-3, .rtol = 1e-2});
  }
}

TEST(Pooling, AvgForwardAndBackward) {
  uint64_t seed = 10;
  for (bool include : {true, false}) {
    for (const PoolCase& c : kCases) {
      AvgPool2d pool(c.k, c.s, c.p, include);
      SCOPED_TRACE(pool.Describe() + (include ? " include pad" : " exclude pad"));
      Tensor x = RandomTensor(c.input, seed++);
      Tensor y = pool.Forward(x, Mode::kEval);
      const std::vector<double> ref =
          NaivePool(x, include ? Ref::kAvgInclude : Ref::kAvgExclude, c.k, c.s, c.p, y.shape());
      for (int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.data<float>()[i], ref[i], 1e-5) << i;
      testing::ExpectGradientsMatch(pool, x, seed++);
    }
  }
}

TEST(Pooling, GlobalAvg) {
  GlobalAvgPool pool;
  Tensor x = RandomTensor({3, 4, 5, 6}, 1);
  Tensor y = pool.Forward(x, Mode::kTrain);
  ASSERT_EQ(y.shape(), (Shape{3, 4, 1, 1}));
  for (int64_t plane = 0; plane < 12; ++plane) {
    double sum = 0;
    for (int64_t j = 0; j < 30; ++j) sum += x.data<float>()[plane * 30 + j];
    EXPECT_NEAR(y.data<float>()[plane], sum / 30, 1e-5);
  }
  // d mean / dx = 1/30 everywhere.
  Tensor dy = Tensor::Empty({3, 4, 1, 1});
  dy.Fill(3.f);
  Tensor dx = pool.Backward(dy);
  for (float v : dx.span<float>()) EXPECT_NEAR(v, 0.1f, 1e-6);
  testing::ExpectGradientsMatch(pool, x, 2);
}

// The max-pooling loops (ops/pooling/max_pool_cpu.h) over each layout they take, against a
// naive pool of the same values in plain nchw: y exactly, and dx as the sum of dy over the
// windows each input element won (the first maximum in row-major order, torch's rule).
struct Laid {
  cpu::ActivationGeometry g;
  std::vector<float> data;
  int64_t At(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return n * g.n_stride + (c / g.block) * g.block_stride + h * g.row_stride + w * g.col_stride +
           c % g.block;
  }
};

Laid LayOut(const Shape& shape, dnnl::memory::format_tag tag, const float* plain) {
  const dnnl::memory::desc desc({shape.begin(), shape.end()}, dnnl::memory::data_type::f32, tag);
  const std::optional<cpu::ActivationGeometry> g = cpu::GeometryOf(desc);
  EXPECT_TRUE(g.has_value());
  // Padded lanes (channels past C in the last block) hold zeros, as oneDNN keeps them.
  Laid laid{*g, std::vector<float>(desc.get_size() / sizeof(float), 0.0f)};
  if (plain)
    for (int64_t i = 0; i < NumElements(shape); ++i) {
      const int64_t w = i % shape[3], h = i / shape[3] % shape[2];
      const int64_t c = i / (shape[3] * shape[2]) % shape[1],
                    n = i / (shape[3] * shape[2] * shape[1]);
      laid.data[laid.At(n, c, h, w)] = plain[i];
    }
  return laid;
}

TEST(Pooling, MaxLoopsOnEveryLayout) {
  using Tag = dnnl::memory::format_tag;
  const std::pair<Tag, const char*> tags[] = {
      {Tag::nchw, "nchw"}, {Tag::nhwc, "nhwc"}, {Tag::nChw8c, "nChw8c"}, {Tag::nChw16c, "nChw16c"}};
  std::vector<PoolCase> cases(std::begin(kCases), std::end(kCases));
  cases.push_back({2, 2, 0, {2, 12, 6, 5}});  // channels past a block, a column left over
  cases.push_back({3, 3, 1, {1, 20, 7, 7}});  // padded windows that tile
  uint64_t seed = 40;
  for (const auto& [tag, name] : tags) {
    for (const PoolCase& c : cases) {
      SCOPED_TRACE(std::string(name) + " " + MaxPool2d(c.k, c.s, c.p).Describe() + " " +
                   ToString(c.input));
      const Shape ys = MaxPool2d(c.k, c.s, c.p).OutputShape(c.input);
      const Tensor x = SpacedValues(c.input, seed++);
      const Tensor dy = RandomTensor(ys, seed++);
      Laid lx = LayOut(c.input, tag, x.data<float>());
      Laid ly = LayOut(ys, tag, nullptr);
      Laid ldy = LayOut(ys, tag, dy.data<float>());
      Laid ldx = LayOut(c.input, tag, nullptr);
      std::fill(ldx.data.begin(), ldx.data.end(), 7.0f);  // every element must be written
      std::vector<int32_t> argmax(c.input[0] * lx.g.blocks * ys[2] * ys[3] * lx.g.block);
      const cpu::MaxPoolWindow win{c.k, c.s, c.p};
      cpu::MaxPoolForward(lx.data.data(), lx.g, ly.data.data(), ly.g, argmax.data(), win);
      cpu::MaxPoolBackward(ldy.data.data(), ldy.g, argmax.data(), ldx.data.data(), ldx.g, win);

      const std::vector<double> want_y = NaivePool(x, Ref::kMax, c.k, c.s, c.p, ys);
      std::vector<double> want_dx(x.numel(), 0.0);
      const int64_t h = c.input[2], w = c.input[3];
      for (int64_t plane = 0; plane < c.input[0] * c.input[1]; ++plane)
        for (int64_t oy = 0; oy < ys[2]; ++oy)
          for (int64_t ox = 0; ox < ys[3]; ++ox) {
            int64_t best = -1;
            for (int64_t iy = std::max<int64_t>(oy * c.s - c.p, 0);
                 iy < std::min(oy * c.s - c.p + c.k, h); ++iy)
              for (int64_t ix = std::max<int64_t>(ox * c.s - c.p, 0);
                   ix < std::min(ox * c.s - c.p + c.k, w); ++ix) {
                const int64_t i = (plane * h + iy) * w + ix;
                if (best < 0 || x.data<float>()[i] > x.data<float>()[best]) best = i;
              }
            want_dx[best] += dy.data<float>()[(plane * ys[2] + oy) * ys[3] + ox];
          }
      for (int64_t n = 0; n < c.input[0]; ++n)
        for (int64_t ch = 0; ch < lx.g.blocks * lx.g.block; ++ch) {
          const bool real = ch < c.input[1];
          for (int64_t oy = 0; oy < ys[2]; ++oy)
            for (int64_t ox = 0; ox < ys[3]; ++ox) {
              const float got = ly.data[ly.At(n, ch, oy, ox)];
              if (real)
                ASSERT_EQ(got, want_y[((n * c.input[1] + ch) * ys[2] + oy) * ys[3] + ox]);
              else
                ASSERT_EQ(got, 0.0f) << "padded lane " << ch;
            }
          for (int64_t iy = 0; iy < h; ++iy)
            for (int64_t ix = 0; ix < w; ++ix) {
              const float got = ldx.data[ldx.At(n, ch, iy, ix)];
              if (real)
                ASSERT_NEAR(got, want_dx[((n * c.input[1] + ch) * h + iy) * w + ix], 1e-6)
                    << "dx at " << n << "," << ch << "," << iy << "," << ix;
              else
                ASSERT_EQ(got, 0.0f) << "padded lane " << ch;
            }
        }
    }
  }
}

// Ties go to the first element of the window in row-major order, a NaN wins over any number,
// and a window of -inf still has a winner that the gradient reaches.
TEST(Pooling, MaxLoopsTiesNanAndInfinity) {
  using Tag = dnnl::memory::format_tag;
  for (Tag tag : {Tag::nchw, Tag::nChw8c}) {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    // One channel, 2x6: three 2x2 windows: {1,1;1,1}, {2,NaN;5,2}, {-inf,-inf;-inf,-inf}.
    const float plain[] = {1, 1, 2, nan, -inf, -inf, 1, 1, 5, 2, -inf, -inf};
    Laid lx = LayOut({1, 1, 2, 6}, tag, plain);
    Laid ly = LayOut({1, 1, 1, 3}, tag, nullptr);
    const float dys[] = {10, 20, 30};
    Laid ldy = LayOut({1, 1, 1, 3}, tag, dys);
    Laid ldx = LayOut({1, 1, 2, 6}, tag, nullptr);
    std::vector<int32_t> argmax(3 * lx.g.block);
    const cpu::MaxPoolWindow win{2, 2, 0};
    cpu::MaxPoolForward(lx.data.data(), lx.g, ly.data.data(), ly.g, argmax.data(), win);
    cpu::MaxPoolBackward(ldy.data.data(), ldy.g, argmax.data(), ldx.data.data(), ldx.g, win);
    EXPECT_EQ(ly.data[ly.At(0, 0, 0, 0)], 1.0f);
    EXPECT_TRUE(std::isnan(ly.data[ly.At(0, 0, 0, 1)]));
    EXPECT_EQ(ly.data[ly.At(0, 0, 0, 2)], -inf);
    const float want_dx[] = {10, 0, 0, 20, 30, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = 0; i < 12; ++i)
      EXPECT_EQ(ldx.data[ldx.At(0, 0, i / 6, i % 6)], want_dx[i]) << i;
  }
}

TEST(Pooling, MaxLoopsTakeOnlyChannelBlockedLayouts) {
  using Tag = dnnl::memory::format_tag;
  const dnnl::memory::dims dims = {2, 16, 5, 5};
  auto desc = [&](Tag tag) { return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag); };
  const auto g = cpu::GeometryOf(desc(Tag::nChw8c));
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->block, 8);
  EXPECT_EQ(g->blocks, 2);
  EXPECT_EQ(g->n_stride, 2 * 5 * 5 * 8);
  EXPECT_EQ(g->block_stride, 5 * 5 * 8);
  EXPECT_EQ(g->row_stride, 5 * 8);
  EXPECT_EQ(g->col_stride, 8);
  const auto nhwc = cpu::GeometryOf(desc(Tag::nhwc));
  ASSERT_TRUE(nhwc.has_value());
  EXPECT_EQ(nhwc->block, 16);
  EXPECT_EQ(nhwc->blocks, 1);
  EXPECT_EQ(nhwc->col_stride, 16);
  EXPECT_FALSE(cpu::GeometryOf(desc(Tag::NChw16n16c)).has_value());  // batch blocked too
  EXPECT_FALSE(cpu::GeometryOf(dnnl::memory::desc({2, 16}, dnnl::memory::data_type::f32, Tag::nc))
                   .has_value());
  EXPECT_FALSE(cpu::GeometryOf(dnnl::memory::desc(dims, dnnl::memory::data_type::s32, Tag::nchw))
                   .has_value());
}

TEST(Pooling, ShapesAndErrors) {
  EXPECT_EQ(MaxPool2d(2).OutputShape({8, 32, 28, 28}), (Shape{8, 32, 14, 14}));
  EXPECT_EQ(MaxPool2d(2).Describe(), "MaxPool2d(2)");
  EXPECT_EQ(MaxPool2d(3, 2, 1).Describe(), "MaxPool2d(3, stride 2, padding 1)");
  EXPECT_THROW(MaxPool2d(2, 2, 2), Error);
  EXPECT_THROW(MaxPool2d(3).OutputShape({1, 1, 2, 2}), Error);
  EXPECT_THROW(MaxPool2d(2).Forward(Tensor::Zeros({4, 16}), Mode::kTrain), Error);
  EXPECT_THROW(MaxPool2d(2).Backward(Tensor::Zeros({1, 1, 1, 1})), Error);
}

}  // namespace
}  // namespace millrace::ops
