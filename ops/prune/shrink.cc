#include "ops/prune/shrink.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
#include "ops/dwsep/dwsep.h"
#include "ops/linear/linear.h"
#include "ops/prune/topk.h"

namespace millrace::ops {
namespace {

size_t LayerIndex(Sequential& model, const std::string& name) {
  for (size_t i = 0; i < model.size(); ++i) {
    if (model.layer_name(i) == name) return i;
  }
  MILLRACE_THROW(ErrorKind::kInvalidArgument, "shrink: the model has no layer '" << name << "'");
}

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> all(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) all[i] = i;
  return all;
}

// Seeing `src` as [R, C, inner] (R = its numel / (C * inner)), copies into `dst` as
// [rows.size(), cols.size(), inner]: dst[r', c', :] = src[rows[r'], cols[c'], :].
void Gather(const Tensor& src, Tensor& dst, int64_t src_cols, int64_t inner,
            const std::vector<int64_t>& rows, const std::vector<int64_t>& cols) {
  const float* s = src.data<float>();
  float* d = dst.data<float>();
  for (int64_t r : rows) {
    for (int64_t c : cols) {
      const float* from = s + (r * src_cols + c) * inner;
      d = std::copy(from, from + inner, d);
    }
  }
}

// A new parameter's value and (if the old one had one) mask, gathered as above.
void CopyParameter(const Parameter& from, Parameter& to, int64_t src_cols, int64_t inner,
                   const std::vector<int64_t>& rows, const std::vector<int64_t>& cols) {
  Gather(from.value, to.value, src_cols, inner, rows, cols);
  if (from.mask.defined()) {
    to.mask = Tensor::Empty(to.value.shape());
    Gather(from.mask, to.mask, src_cols, inner, rows, cols);
  } else {
    to.mask = Tensor();
  }
  to.decay = from.decay;
}
void CopyVector(const Parameter& from, Parameter& to, const std::vector<int64_t>& keep) {
  CopyParameter(from, to, 1, 1, keep, {0});
}

// A Linear keeping output rows `rows` and input columns `cols` (null: all of them).
std::unique_ptr<Linear> LinearKeep(Linear& linear, const std::vector<int64_t>* rows,
                                   const std::vector<int64_t>* cols) {
  const std::vector<int64_t> out = rows ? *rows : Iota(linear.out_features());
  const std::vector<int64_t> in = cols ? *cols : Iota(linear.in_features());
  auto small = std::make_unique<Linear>(static_cast<int64_t>(in.size()),
                                        static_cast<int64_t>(out.size()), linear.has_bias());
  CopyParameter(linear.weight(), small->weight(), linear.in_features(), 1, out, in);
  if (linear.has_bias()) CopyVector(*linear.bias(), *small->bias(), out);
  return small;
}

// A Conv2d keeping output channels `rows` and input channels `cols` (null: all). A depthwise
// convolution (groups == in == out) keeps the same channels on both sides.
std::unique_ptr<Conv2d> ConvKeep(Conv2d& conv, const std::string& name,
                                 const std::vector<int64_t>* rows,
                                 const std::vector<int64_t>* cols) {
  Conv2dConfig c = conv.config();
  const bool depthwise = c.groups > 1 && c.groups == c.in_channels && c.groups == c.out_channels;
  MILLRACE_CHECK_ARG(c.groups == 1 || depthwise,
                     "shrink: cannot shrink grouped convolution '"
                         << name << "' (" << conv.Describe()
                         << "); only groups 1 and depthwise with one filter per channel");
  const int64_t k = c.kernel_h * c.kernel_w;
  const int64_t in_per_group = c.in_channels / c.groups;
  std::vector<int64_t> out, in;
  if (depthwise) {
    out = rows ? *rows : cols ? *cols : Iota(c.out_channels);
    in = {0};
    c.in_channels = c.out_channels = c.groups = static_cast<int64_t>(out.size());
  } else {
    out = rows ? *rows : Iota(c.out_channels);
    in = cols ? *cols : Iota(c.in_channels);
    c.out_channels = static_cast<int64_t>(out.size());
    c.in_channels = static_cast<int64_t>(in.size());
  }
  auto small = std::make_unique<Conv2d>(c);
  CopyParameter(conv.weight(), small->weight(), in_per_group, k, out, in);
  if (conv.bias()) CopyVector(*conv.bias(), *small->bias(), out);
  return small;
}

std::unique_ptr<BatchNorm2d> BatchNormKeep(BatchNorm2d& bn, const std::vector<int64_t>* keep) {
  const std::vector<int64_t> channels = keep ? *keep : Iota(bn.channels());
  auto small =
      std::make_unique<BatchNorm2d>(static_cast<int64_t>(channels.size()), bn.momentum(), bn.eps());
  CopyVector(bn.weight(), small->weight(), channels);
  CopyVector(bn.bias(), small->bias(), channels);
  Gather(bn.running_mean(), small->running_mean(), 1, 1, channels, {0});
  Gather(bn.running_var(), small->running_var(), 1, 1, channels, {0});
  return small;
}

// A depthwise-separable block keeping input channels `in` (its depthwise conv, first batch
// norm and the pointwise conv's inputs) and output channels `out` (the pointwise conv's
// outputs and the second batch norm); null: all.
std::unique_ptr<DepthwiseSeparable> BlockKeep(DepthwiseSeparable& block, const std::string& name,
                                              const std::vector<int64_t>* in,
                                              const std::vector<int64_t>* out) {
  auto dw = ConvKeep(block.depthwise(), name + ".dw", in, nullptr);
  auto pw = ConvKeep(block.pointwise(), name + ".pw", out, in);
  std::unique_ptr<BatchNorm2d> bn1, bn2;
  if (block.bn1()) bn1 = BatchNormKeep(*block.bn1(), in);
  if (block.bn2()) bn2 = BatchNormKeep(*block.bn2(), out);
  return std::make_unique<DepthwiseSeparable>(std::move(dw), std::move(bn1), std::move(pw),
                                              std::move(bn2));
}

// The weight whose rows are the layer's outputs, and their count.
Parameter& OutputWeight(Layer& layer, const std::string& name) {
  if (auto* linear = dynamic_cast<Linear*>(&layer)) return linear->weight();
  if (auto* conv = dynamic_cast<Conv2d*>(&layer)) {
    MILLRACE_CHECK_ARG(conv->config().groups == 1, "shrink: the outputs of grouped convolution '"
                                                       << name << "' cannot be removed");
    return conv->weight();
  }
  if (auto* block = dynamic_cast<DepthwiseSeparable*>(&layer)) return block->pointwise().weight();
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "shrink: layer '" << name << "' is a " << layer.kind()
                                   << ", not a Linear, Conv2d or DepthwiseSeparable");
}

std::unique_ptr<Layer> KeepOutputs(Layer& layer, const std::string& name,
                                   const std::vector<int64_t>& keep) {
  if (auto* linear = dynamic_cast<Linear*>(&layer)) return LinearKeep(*linear, &keep, nullptr);
  if (auto* conv = dynamic_cast<Conv2d*>(&layer)) return ConvKeep(*conv, name, &keep, nullptr);
  auto& block = dynamic_cast<DepthwiseSeparable&>(layer);
  return BlockKeep(block, name, nullptr, &keep);
}

}  // namespace

void ShrinkOutputs(Sequential& model, const std::string& layer_name,
                   const std::vector<int64_t>& keep) {
  const size_t index = LayerIndex(model, layer_name);
  Layer& layer = model.layer(index);
  const int64_t channels = OutputWeight(layer, layer_name).value.dim(0);
  MILLRACE_CHECK_ARG(!keep.empty(), "shrink: would remove every output of '" << layer_name << "'");
  for (size_t j = 0; j < keep.size(); ++j) {
    MILLRACE_CHECK_ARG(keep[j] >= 0 && keep[j] < channels && (j == 0 || keep[j] > keep[j - 1]),
                       "shrink: kept indices of '"
                           << layer_name << "' must be increasing and in [0, " << channels << ")");
  }
  // Plan every replacement first, so that an error leaves the model as it was.
  std::vector<std::pair<size_t, std::unique_ptr<Layer>>> plan;
  plan.emplace_back(index, KeepOutputs(layer, layer_name, keep));
  bool flattened = false;
  bool consumed = false;
  for (size_t i = index + 1; i < model.size() && !consumed; ++i) {
    Layer& next = model.layer(i);
    const std::string& name = model.layer_name(i);
    const std::string_view kind = next.kind();
    auto reads_channels = [&](int64_t in_channels) {
      MILLRACE_CHECK_ARG(!flattened && in_channels == channels,
                         "shrink: '" << name << "' (" << next.Describe() << ") does not read the "
                                     << channels << " channels of '" << layer_name << "'");
    };
    if (auto* linear = dynamic_cast<Linear*>(&next)) {
      MILLRACE_CHECK_ARG(linear->in_features() % channels == 0,
                         "shrink: '" << name << "' has " << linear->in_features()
                                     << " inputs, not a multiple of the " << channels
                                     << " outputs of '" << layer_name << "'");
      const int64_t block = linear->in_features() / channels;
      MILLRACE_CHECK_ARG(block == 1 || flattened, "shrink: '"
                                                      << name << "' reads " << linear->in_features()
                                                      << " inputs from the " << channels << " of '"
                                                      << layer_name << "'");
      std::vector<int64_t>
          columns;  // after Flatten, channel c is inputs [c * block, (c+1) * block)
      for (int64_t c : keep) {
        for (int64_t k = 0; k < block; ++k) columns.push_back(c * block + k);
      }
      plan.emplace_back(i, LinearKeep(*linear, nullptr, &columns));
      consumed = true;
    } else if (auto* conv = dynamic_cast<Conv2d*>(&next)) {
      reads_channels(conv->config().in_channels);
      plan.emplace_back(i, ConvKeep(*conv, name, nullptr, &keep));
      consumed = conv->config().groups == 1;  // a depthwise conv passes the channels on
    } else if (auto* block = dynamic_cast<DepthwiseSeparable*>(&next)) {
      reads_channels(block->config().in_channels);
      plan.emplace_back(i, BlockKeep(*block, name, &keep, nullptr));
      consumed = true;
    } else if (auto* bn = dynamic_cast<BatchNorm2d*>(&next)) {
      reads_channels(bn->channels());
      plan.emplace_back(i, BatchNormKeep(*bn, &keep));
    } else if (kind == "Flatten") {
      flattened = true;
    } else if (kind == "ReLU" || kind == "Dropout" || kind == "MaxPool2d" || kind == "AvgPool2d" ||
               kind == "GlobalAvgPool") {
      // element-wise or per channel: the channels pass through unchanged
    } else {
      MILLRACE_THROW(ErrorKind::kInvalidArgument, "shrink: cannot see through layer '"
                                                      << name << "' (" << kind << ") after '"
                                                      << layer_name << "'");
    }
  }
  MILLRACE_CHECK_ARG(consumed, "shrink: no layer reads the outputs of '"
                                   << layer_name
                                   << "': the outputs of a model's last layer can't be removed");
  for (auto& [i, replacement] : plan) model.Replace(i, std::move(replacement));
}

std::vector<int64_t> ShrinkByL2(Sequential& model, const std::string& layer_name,
                                PruneAmount amount) {
  const Parameter& weight = OutputWeight(model.layer(LayerIndex(model, layer_name)), layer_name);
  const int64_t channels = weight.value.dim(0);
  const int64_t per = weight.value.numel() / channels;
  std::vector<float> norms(channels);
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0;
    for (int64_t i = 0; i < per; ++i) {
      const double w = weight.value.data<float>()[c * per + i];
      sum += w * w;
    }
    norms[c] = static_cast<float>(std::sqrt(sum));
  }
  const int64_t remove = amount.Resolve(channels, "'" + layer_name + "' (outputs)");
  std::vector<int64_t> keep = internal::TorchTopK(norms, channels - remove, /*largest=*/true);
  std::sort(keep.begin(), keep.end());
  if (remove > 0) ShrinkOutputs(model, layer_name, keep);
  return keep;
}

std::vector<int64_t> ShrinkMaskedOutputs(Sequential& model, const std::string& layer_name) {
  const Parameter& weight = OutputWeight(model.layer(LayerIndex(model, layer_name)), layer_name);
  const int64_t channels = weight.value.dim(0);
  const int64_t per = weight.value.numel() / channels;
  std::vector<int64_t> keep;
  for (int64_t c = 0; c < channels; ++c) {
    bool alive = !weight.mask.defined();
    for (int64_t i = 0; i < per && !alive; ++i) alive = weight.mask.data<float>()[c * per + i] != 0;
    if (alive) keep.push_back(c);
  }
  if (static_cast<int64_t>(keep.size()) < channels) ShrinkOutputs(model, layer_name, keep);
  return keep;
}

}  // namespace millrace::ops
