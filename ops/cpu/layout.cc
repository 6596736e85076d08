#include "ops/cpu/layout.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <vector>

#include "ops/cpu/dnnl_context.h"

namespace millrace::ops::cpu {

namespace {
std::atomic<ConvLayouts> conv_layouts{ConvLayouts::kAuto};

dnnl::memory::desc PlainOf(const dnnl::memory::desc& desc) {
  const dnnl::memory::dims dims = desc.dims();
  return PlainDesc(Shape(dims.begin(), dims.end()));
}
}  // namespace

void SetConvLayouts(ConvLayouts layouts) { conv_layouts.store(layouts); }
ConvLayouts GetConvLayouts() { return conv_layouts.load(); }

bool IsPlain(const dnnl::memory::desc& desc) { return desc == PlainOf(desc); }

std::string LayoutName(const dnnl::memory::desc& desc) {
  const dnnl_memory_desc_t& d = desc.data;
  if (d.format_kind != dnnl_blocked || d.ndims > 6) return "non-plain";
  const int n = d.ndims;
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  // Dimensions by decreasing stride (upper case when blocked), then the inner blocks:
  // "nChw8c" for activations; other ranks use letters from 'a'.
  const char* letters = n == 4 ? "nchw" : n == 2 ? "nc" : "abcdef";
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](int x, int y) { return b.strides[x] > b.strides[y]; });
  bool blocked[DNNL_MAX_NDIMS] = {};
  for (int i = 0; i < b.inner_nblks; ++i) blocked[b.inner_idxs[i]] = true;
  std::string name;
  for (int i : order) name += blocked[i] ? static_cast<char>(letters[i] - 'a' + 'A') : letters[i];
  for (int i = 0; i < b.inner_nblks; ++i) {
    name += std::to_string(b.inner_blks[i]) + letters[b.inner_idxs[i]];
  }
  return name;
}

int64_t LayoutKey(const dnnl::memory::desc& desc) {
  if (IsPlain(desc)) return 0;
  const dnnl_memory_desc_t& d = desc.data;
  size_t h = std::hash<int>()(d.format_kind);
  auto Mix = [&h](int64_t v) { h = h * 1000003u ^ std::hash<int64_t>()(v); };
  Mix(d.ndims);
  for (int i = 0; i < d.ndims; ++i) Mix(d.padded_dims[i]);
  if (d.format_kind == dnnl_blocked) {
    const dnnl_blocking_desc_t& b = d.format_desc.blocking;
    for (int i = 0; i < d.ndims; ++i) Mix(b.strides[i]);
    for (int i = 0; i < b.inner_nblks; ++i) {
      Mix(b.inner_blks[i]);
      Mix(b.inner_idxs[i]);
    }
  }
  return static_cast<int64_t>(h | 1);  // never 0
}

DnnlLayout::DnnlLayout(const dnnl::memory::desc& desc)
    : desc_(desc), plain_(PlainOf(desc)), name_(LayoutName(desc)) {
  try {
    to_plain_ = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), desc_, Engine(), plain_));
  } catch (const dnnl::error& e) {
    RethrowDnnl("reorder to plain", e);
  }
}

void DnnlLayout::ToPlain(const void* src, void* dst) const {
  Execute("reorder " + name_ + " to plain", to_plain_,
          {{DNNL_ARG_FROM, Wrap(desc_, const_cast<void*>(src))}, {DNNL_ARG_TO, Wrap(plain_, dst)}});
}

bool DnnlLayout::SameAs(const TensorLayout& other) const {
  const auto* o = dynamic_cast<const DnnlLayout*>(&other);
  return o != nullptr && o->desc_ == desc_;
}

dnnl::memory::desc DescOf(const Tensor& t) {
  if (t.plain()) return PlainDesc(t.shape());
  const auto* layout = dynamic_cast<const DnnlLayout*>(t.layout());
  MILLRACE_CHECK_ARG(layout != nullptr,
                     "a tensor in the layout " << t.layout()->Name() << " of another backend");
  return layout->desc();
}

std::shared_ptr<const DnnlLayout> MakeLayout(const dnnl::memory::desc& desc) {
  if (IsPlain(desc)) return nullptr;
  return std::make_shared<const DnnlLayout>(desc);
}

Tensor EmptyIn(const std::shared_ptr<const DnnlLayout>& layout, const Shape& shape) {
  if (!layout) return Tensor::Empty(shape);
  return Tensor::Empty(shape, layout);
}

LayoutAdapter::LayoutAdapter(const dnnl::memory::desc& wanted, const dnnl::memory::desc& plain_view)
    : wanted_(wanted), plain_view_(plain_view) {}

dnnl::memory::desc LayoutAdapter::FromOf(const Tensor& t) const {
  if (t.plain() && plain_view_.data.ndims != 0) return plain_view_;
  return DescOf(t);
}

dnnl::memory LayoutAdapter::In(const Tensor& t) {
  const dnnl::memory::desc from = FromOf(t);
  reordered_ = from != wanted_;
  if (!reordered_)
    return t.plain() ? Wrap(wanted_, const_cast<void*>(t.raw_data())) : Wrap(wanted_, t);
  if (!buffer_) buffer_ = dnnl::memory(wanted_, Engine());
  if (from != from_) {
    try {
      to_wanted_ = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), from, Engine(), wanted_));
    } catch (const dnnl::error& e) {
      RethrowDnnl("reorder", e);
    }
    from_ = from;
  }
  Execute("reorder", to_wanted_,
          {{DNNL_ARG_FROM, t.plain() ? Wrap(from, const_cast<void*>(t.raw_data())) : Wrap(from, t)},
           {DNNL_ARG_TO, buffer_}});
  return buffer_;
}

dnnl::memory LayoutAdapter::Target(Tensor& t) {
  const dnnl::memory::desc plain = FromOf(t);
  reordered_ = plain != wanted_;
  if (!reordered_) return Wrap(wanted_, t.raw_data());
  if (!buffer_) buffer_ = dnnl::memory(wanted_, Engine());
  if (!to_plain_) {
    try {
      to_plain_ = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), wanted_, Engine(), plain));
    } catch (const dnnl::error& e) {
      RethrowDnnl("reorder", e);
    }
  }
  return buffer_;
}

void LayoutAdapter::Out(Tensor& t) {
  if (!reordered_) return;
  Execute("reorder", to_plain_,
          {{DNNL_ARG_FROM, buffer_}, {DNNL_ARG_TO, Wrap(FromOf(t), t.raw_data())}});
}

}  // namespace millrace::ops::cpu
