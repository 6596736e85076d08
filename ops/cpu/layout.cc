#include "ops/cpu/layout.h"

#include <atomic>

#include "ops/cpu/dnnl_context.h"

namespace millrace::ops::cpu {

namespace {
std::atomic<ConvLayouts> conv_layouts{ConvLayouts::kAuto};
}

void SetConvLayouts(ConvLayouts layouts) { conv_layouts.store(layouts); }
ConvLayouts GetConvLayouts() { return conv_layouts.load(); }

LayoutAdapter::LayoutAdapter(const dnnl::memory::desc& plain, const dnnl::memory::desc& wanted)
    : plain_(plain), wanted_(wanted), reorders_(plain != wanted) {
  if (!reorders_) return;
  buffer_ = dnnl::memory(wanted_, Engine());
  to_wanted_ = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), plain_, Engine(), wanted_));
  to_plain_ = dnnl::reorder(dnnl::reorder::primitive_desc(Engine(), wanted_, Engine(), plain_));
}

dnnl::memory LayoutAdapter::In(const Tensor& t) {
  if (!reorders_) return Wrap(plain_, t);
  Execute("reorder", to_wanted_, {{DNNL_ARG_FROM, Wrap(plain_, t)}, {DNNL_ARG_TO, buffer_}});
  return buffer_;
}

dnnl::memory LayoutAdapter::Target(Tensor& t) { return reorders_ ? buffer_ : Wrap(plain_, t); }

void LayoutAdapter::Out(Tensor& t) {
  if (!reorders_) return;
  Execute("reorder", to_plain_, {{DNNL_ARG_FROM, buffer_}, {DNNL_ARG_TO, Wrap(plain_, t)}});
}

}  // namespace millrace::ops::cpu
