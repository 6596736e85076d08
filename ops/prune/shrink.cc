#include "ops/prune/shrink.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/error.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/conv2d/conv2d.h"
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

// Copies from `src` into `dst` the slices that `select` names. A tensor is seen as
// [outer, dim, inner]: dst keeps rows select(j) of dimension `dim` of each outer block, each row
// being `inner` contiguous elements.
void Gather(const Tensor& src, Tensor& dst, int64_t outer, int64_t src_dim, int64_t inner,
            const std::vector<int64_t>& select) {
  const auto dst_dim = static_cast<int64_t>(select.size());
  const float* s = src.data<float>();
  float* d = dst.data<float>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < dst_dim; ++j) {
      const float* from = s + (o * src_dim + select[j]) * inner;
      std::copy(from, from + inner, d + (o * dst_dim + j) * inner);
    }
  }
}

// Fills a new parameter from the old one (value and, if any, mask) along one dimension.
void CopyParameter(const Parameter& from, Parameter& to, int64_t outer, int64_t src_dim,
                   int64_t inner, const std::vector<int64_t>& select) {
  Gather(from.value, to.value, outer, src_dim, inner, select);
  if (from.mask.defined()) {
    to.mask = Tensor::Empty(to.value.shape());
    Gather(from.mask, to.mask, outer, src_dim, inner, select);
  } else {
    to.mask = Tensor();
  }
  to.decay = from.decay;
}

// Rebuilds a Linear or Conv2d keeping output rows `keep` (outputs = true) or input columns
// `keep` (outputs = false; for a Linear after Flatten each channel is `block` inputs).
std::unique_ptr<Layer> Rebuild(Layer& layer, const std::string& name, bool outputs,
                               const std::vector<int64_t>& keep, int64_t block = 1) {
  const auto kept = static_cast<int64_t>(keep.size());
  if (auto* linear = dynamic_cast<Linear*>(&layer)) {
    const int64_t in = linear->in_features(), out = linear->out_features();
    std::vector<int64_t> columns;
    if (!outputs) {
      for (int64_t c : keep) {
        for (int64_t k = 0; k < block; ++k) columns.push_back(c * block + k);
      }
    }
    auto small = std::make_unique<Linear>(outputs ? in : static_cast<int64_t>(columns.size()),
                                          outputs ? kept : out, linear->has_bias());
    if (outputs) {
      CopyParameter(linear->weight(), small->weight(), 1, out, in, keep);
      if (linear->has_bias()) CopyParameter(*linear->bias(), *small->bias(), 1, out, 1, keep);
    } else {
      CopyParameter(linear->weight(), small->weight(), out, in, 1, columns);
      if (linear->has_bias()) {
        std::vector<int64_t> all(out);
        for (int64_t i = 0; i < out; ++i) all[i] = i;
        CopyParameter(*linear->bias(), *small->bias(), 1, out, 1, all);
      }
    }
    return small;
  }
  if (auto* conv = dynamic_cast<Conv2d*>(&layer)) {
    Conv2dConfig c = conv->config();
    const bool depthwise = c.groups > 1 && c.groups == c.in_channels && c.groups == c.out_channels;
    MILLRACE_CHECK_ARG(c.groups == 1 || depthwise,
                       "shrink: cannot shrink grouped convolution '"
                           << name << "' (" << layer.Describe()
                           << "); only groups 1 and depthwise with one filter per channel");
    const int64_t old_out = c.out_channels, old_in_per_group = c.in_channels / c.groups;
    const int64_t k = c.kernel_h * c.kernel_w;
    std::vector<int64_t> all_out(old_out);
    for (int64_t i = 0; i < old_out; ++i) all_out[i] = i;
    if (depthwise) {  // its channels are both its inputs and its outputs
      c.in_channels = c.out_channels = c.groups = kept;
    } else if (outputs) {
      c.out_channels = kept;
    } else {
      c.in_channels = kept;
    }
    auto small = std::make_unique<Conv2d>(c);
    if (outputs || depthwise) {
      CopyParameter(conv->weight(), small->weight(), 1, old_out, old_in_per_group * k, keep);
      if (conv->bias()) CopyParameter(*conv->bias(), *small->bias(), 1, old_out, 1, keep);
    } else {
      CopyParameter(conv->weight(), small->weight(), old_out, old_in_per_group, k, keep);
      if (conv->bias()) CopyParameter(*conv->bias(), *small->bias(), 1, old_out, 1, all_out);
    }
    return small;
  }
  MILLRACE_THROW(ErrorKind::kInvalidArgument, "shrink: layer '" << name << "' is a " << layer.kind()
                                                                << ", not a Linear or Conv2d");
}

std::unique_ptr<Layer> RebuildBatchNorm(BatchNorm2d& bn, const std::vector<int64_t>& keep) {
  const int64_t old = bn.channels();
  auto small =
      std::make_unique<BatchNorm2d>(static_cast<int64_t>(keep.size()), bn.momentum(), bn.eps());
  CopyParameter(bn.weight(), small->weight(), 1, old, 1, keep);
  CopyParameter(bn.bias(), small->bias(), 1, old, 1, keep);
  Gather(bn.running_mean(), small->running_mean(), 1, old, 1, keep);
  Gather(bn.running_var(), small->running_var(), 1, old, 1, keep);
  return small;
}

int64_t OutputCount(Layer& layer, const std::string& name) {
  if (auto* linear = dynamic_cast<Linear*>(&layer)) return linear->out_features();
  if (auto* conv = dynamic_cast<Conv2d*>(&layer)) return conv->config().out_channels;
  MILLRACE_THROW(ErrorKind::kInvalidArgument, "shrink: layer '" << name << "' is a " << layer.kind()
                                                                << ", not a Linear or Conv2d");
}

}  // namespace

void ShrinkOutputs(Sequential& model, const std::string& layer_name,
                   const std::vector<int64_t>& keep) {
  const size_t index = LayerIndex(model, layer_name);
  Layer& layer = model.layer(index);
  const int64_t channels = OutputCount(layer, layer_name);
  MILLRACE_CHECK_ARG(!keep.empty(), "shrink: would remove every output of '" << layer_name << "'");
  for (size_t j = 0; j < keep.size(); ++j) {
    MILLRACE_CHECK_ARG(keep[j] >= 0 && keep[j] < channels && (j == 0 || keep[j] > keep[j - 1]),
                       "shrink: kept indices of '"
                           << layer_name << "' must be increasing and in [0, " << channels << ")");
  }
  if (auto* conv = dynamic_cast<Conv2d*>(&layer)) {
    MILLRACE_CHECK_ARG(conv->config().groups == 1, "shrink: the outputs of grouped convolution '"
                                                       << layer_name << "' cannot be removed");
  }
  // Plan every replacement first, so that an error leaves the model as it was.
  std::vector<std::pair<size_t, std::unique_ptr<Layer>>> plan;
  plan.emplace_back(index, Rebuild(layer, layer_name, /*outputs=*/true, keep));
  bool flattened = false;
  bool consumed = false;
  for (size_t i = index + 1; i < model.size() && !consumed; ++i) {
    Layer& next = model.layer(i);
    const std::string& name = model.layer_name(i);
    const std::string_view kind = next.kind();
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
      plan.emplace_back(i, Rebuild(next, name, /*outputs=*/false, keep, block));
      consumed = true;
    } else if (auto* conv = dynamic_cast<Conv2d*>(&next)) {
      MILLRACE_CHECK_ARG(!flattened && conv->config().in_channels == channels,
                         "shrink: '" << name << "' (" << next.Describe() << ") does not read the "
                                     << channels << " channels of '" << layer_name << "'");
      const bool depthwise = conv->config().groups > 1;
      plan.emplace_back(i, Rebuild(next, name, /*outputs=*/false, keep));
      consumed = !depthwise;  // a depthwise conv passes the channels on
    } else if (auto* bn = dynamic_cast<BatchNorm2d*>(&next); bn != nullptr && !flattened) {
      MILLRACE_CHECK_ARG(bn->channels() == channels, "shrink: '" << name << "' has "
                                                                 << bn->channels() << " channels, '"
                                                                 << layer_name << "' " << channels);
      plan.emplace_back(i, RebuildBatchNorm(*bn, keep));
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
  MILLRACE_CHECK_ARG(consumed, "shrink: no Linear or Conv2d reads the outputs of '"
                                   << layer_name
                                   << "': the outputs of a model's last layer can't be removed");
  for (auto& [i, replacement] : plan) model.Replace(i, std::move(replacement));
}

std::vector<int64_t> ShrinkByL2(Sequential& model, const std::string& layer_name,
                                PruneAmount amount) {
  Layer& layer = model.layer(LayerIndex(model, layer_name));
  const int64_t channels = OutputCount(layer, layer_name);
  const Parameter& weight = *layer.Parameters().front();
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
  Layer& layer = model.layer(LayerIndex(model, layer_name));
  const int64_t channels = OutputCount(layer, layer_name);
  const Parameter& weight = *layer.Parameters().front();
  std::vector<int64_t> keep;
  const int64_t per = weight.value.numel() / channels;
  for (int64_t c = 0; c < channels; ++c) {
    bool alive = !weight.mask.defined();
    for (int64_t i = 0; i < per && !alive; ++i) alive = weight.mask.data<float>()[c * per + i] != 0;
    if (alive) keep.push_back(c);
  }
  if (static_cast<int64_t>(keep.size()) < channels) ShrinkOutputs(model, layer_name, keep);
  return keep;
}

}  // namespace millrace::ops
