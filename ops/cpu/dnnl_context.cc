#include "ops/cpu/dnnl_context.h"

#include <malloc.h>
#include <omp.h>
#include <xmmintrin.h>

#include <atomic>
#include <string>

#include "core/error.h"
#include "ops/cpu/layout.h"

namespace millrace::ops::cpu {

namespace {

dnnl::engine MakeEngine() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  return dnnl::engine(dnnl::engine::kind::cpu, 0);
}

}  // namespace

const dnnl::engine& Engine() {
  static const dnnl::engine engine = MakeEngine();
  return engine;
}

dnnl::stream& Stream() {
  thread_local dnnl::stream stream(Engine());
  return stream;
}

namespace {
constexpr unsigned kFlushToZero = 0x8000;       // MXCSR.FTZ: denormal results become 0
constexpr unsigned kDenormalsAreZero = 0x0040;  // MXCSR.DAZ: denormal inputs read as 0

void FlushDenormalsOnThisThread() { _mm_setcsr(_mm_getcsr() | kFlushToZero | kDenormalsAreZero); }
}  // namespace

void SetComputeThreads(int n) {
  MILLRACE_CHECK_ARG(n >= 1, "SetComputeThreads: need at least 1 thread, got " << n);
  omp_set_num_threads(n);
  FlushDenormalsOnThisThread();
  // The team's threads are created by the first parallel region and kept; they inherit MXCSR
  // from this thread when created, but a team made before this call would not, so set it on
  // each member explicitly.
#pragma omp parallel num_threads(n)
  FlushDenormalsOnThisThread();
}

bool FlushesDenormals() {
  const unsigned both = kFlushToZero | kDenormalsAreZero;
  return (_mm_getcsr() & both) == both;
}

int ComputeThreads() { return omp_get_max_threads(); }

dnnl::memory::dims Dims(const Shape& shape) {
  return dnnl::memory::dims(shape.begin(), shape.end());
}

dnnl::memory::desc PlainDesc(const Shape& shape) {
  dnnl::memory::dims dims = Dims(shape);
  dnnl::memory::dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * dims[i + 1];
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory Wrap(const dnnl::memory::desc& desc, const Tensor& t) {
  if (!t.plain()) {
    // Only as the layout it is in: a blocked tensor is never read as plain.
    const auto* layout = dynamic_cast<const DnnlLayout*>(t.layout());
    MILLRACE_CHECK_ARG(layout != nullptr && layout->desc() == desc,
                       "a tensor " << ToString(t.shape()) << " in the layout " << t.layout()->Name()
                                   << " read as " << LayoutName(desc)
                                   << "; convert it with Tensor::Plain() first");
    return dnnl::memory(desc, Engine(), const_cast<void*>(t.layout_data()));
  }
  return dnnl::memory(desc, Engine(), const_cast<void*>(t.raw_data()));
}

dnnl::memory Wrap(const dnnl::memory::desc& desc, void* data) {
  return dnnl::memory(desc, Engine(), data);
}

namespace {
std::atomic<int64_t> cache_misses{0};
}

int64_t PrimitiveCacheMisses() { return cache_misses.load(); }
void CountPrimitiveCacheMiss() { cache_misses.fetch_add(1); }

void RethrowDnnl(std::string_view what, const dnnl::error& e) {
  MILLRACE_THROW(ErrorKind::kOneDnn, what << ": oneDNN: " << e.what() << " (status "
                                          << static_cast<int>(e.status) << ")");
}

void Execute(std::string_view what, const dnnl::primitive& primitive,
             const std::unordered_map<int, dnnl::memory>& args) {
  try {
    primitive.execute(Stream(), args);
    Stream().wait();
  } catch (const dnnl::error& e) {
    RethrowDnnl(what, e);
  }
}

std::string ImplName(const dnnl::primitive_desc_base& pd) { return pd.impl_info_str(); }

void AddInto(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace millrace::ops::cpu
