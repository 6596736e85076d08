#include "ops/layer.h"

namespace millrace::ops {

namespace {
thread_local bool layouts_allowed = false;
}

LayoutScope::LayoutScope(bool allowed) : previous_(layouts_allowed) { layouts_allowed = allowed; }
LayoutScope::~LayoutScope() { layouts_allowed = previous_; }

bool LayoutScope::allowed() { return layouts_allowed; }

Tensor LayoutScope::Finish(Tensor t) {
  if (layouts_allowed || !t.defined() || t.plain()) return t;
  return t.Plain();
}

}  // namespace millrace::ops
