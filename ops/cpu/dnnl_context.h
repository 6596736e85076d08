// The one place where millrace talks to oneDNN's engine, stream and thread budget, and the
// cache of primitives that every CPU layer keeps per input shape.
//
// Threads: Debian's oneDNN runs on OpenMP. libgomp gives each thread that opens a parallel
// region its own team, sized by that thread's nthreads ICV. millrace therefore calls oneDNN
// from ONE compute thread (the compute stage's thread, see DESIGN.md "Threads and cores"),
// which calls SetComputeThreads(n) before its first step, and again when the thread plan
// changes the team (through ops::InitComputeThread, ops/compute_thread.h):
// its OpenMP team then has n threads, and those n
// threads are counted in the ThreadBudget beside the TBB arenas of the cpu stages. TBB
// workers never call oneDNN, so the OpenMP teams and the TBB arenas don't multiply. (Two
// threads that both call oneDNN get two teams: that is the oversubscription to avoid.)
//
// Primitives are created on the first call for a shape and kept: a PrimitiveCache belongs to
// a layer, its key holds the input shape and the thread count (a oneDNN primitive assumes the
// team size it was created for), so the hot path after the first step creates nothing.
#pragma once

#include <cstdint>
#include <dnnl.hpp>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace millrace::ops::cpu {

// The CPU engine (process-wide, created on first use). Its creation also tunes glibc's malloc
// to keep freed memory instead of returning it to the kernel at once (M_MMAP_THRESHOLD 32 MiB,
// the most glibc takes, and M_TRIM_THRESHOLD 256 MiB): layers allocate their outputs every
// step, and with glibc's defaults the freed activations went back to the kernel after each
// step and came back as page faults, a third of the dwsep step's time (docs/BENCHMARKS.md).
// Tensors no longer depend on it (core/memory.cc takes them from oneTBB's scalable allocator,
// which caches large blocks); oneDNN's own scratch allocations still do.
const dnnl::engine& Engine();
// An in-order stream of the calling thread on Engine().
dnnl::stream& Stream();

// Sets the OpenMP team size of the CALLING thread's oneDNN calls (omp_set_num_threads), and
// flush-to-zero and denormals-are-zero (MXCSR) on the calling thread and on every thread of its
// team: a denormal float costs ~100x a normal one in x86 arithmetic, and training makes them
// (the momentum of pruned weights decays through them; small gradients underflow into them).
// Results change only where a value below 2^-126 (1.2e-38) appears, which it then reads as 0.
// n >= 1. Call it on the compute thread before its first step, and again to change n.
void SetComputeThreads(int n);
// Whether the calling thread flushes denormals (FTZ and DAZ both set): for tests.
bool FlushesDenormals();
// The team size the calling thread's oneDNN calls will use (omp_get_max_threads()).
int ComputeThreads();

// oneDNN dims of a millrace shape.
dnnl::memory::dims Dims(const Shape& shape);
// A plain row-major f32 desc of `shape` (nc, nchw, oihw, ...).
dnnl::memory::desc PlainDesc(const Shape& shape);
// A dnnl::memory over a tensor's elements (no copy). A tensor in a DnnlLayout (ops/cpu/layout.h)
// is wrapped only with that layout's desc: anything else throws Error(kInvalidArgument).
dnnl::memory Wrap(const dnnl::memory::desc& desc, const Tensor& t);
dnnl::memory Wrap(const dnnl::memory::desc& desc, void* data);

// Runs a primitive on Stream() and waits. oneDNN errors become Error(kOneDnn) naming `what`.
void Execute(std::string_view what, const dnnl::primitive& primitive,
             const std::unordered_map<int, dnnl::memory>& args);

// The implementation oneDNN picked ("brg:avx2", "gemm:jit", "ref:any"), for benchmarks.
std::string ImplName(const dnnl::primitive_desc_base& pd);

// dst[i] += src[i], in a fixed order (deterministic).
void AddInto(float* dst, const float* src, int64_t n);

// A layer's primitives, one Entry per key. Key: the input shape plus ComputeThreads().
template <typename Entry>
class PrimitiveCache {
 public:
  // Returns the entry for `shape`, creating it with make() (which returns an Entry) on a miss.
  // oneDNN errors during creation become Error(kOneDnn) naming `what`.
  template <typename Make>
  Entry& Get(std::string_view what, const Shape& shape, Make&& make);
  size_t size() const { return entries_.size(); }
  void Clear() { entries_.clear(); }

 private:
  std::map<std::vector<int64_t>, Entry> entries_;
};

[[noreturn]] void RethrowDnnl(std::string_view what, const dnnl::error& e);

// How many cache entries (each a set of primitives for one layer and shape) this process has
// created so far: flat after the first step, which a test checks.
int64_t PrimitiveCacheMisses();
void CountPrimitiveCacheMiss();

template <typename Entry>
template <typename Make>
Entry& PrimitiveCache<Entry>::Get(std::string_view what, const Shape& shape, Make&& make) {
  std::vector<int64_t> key(shape.begin(), shape.end());
  key.push_back(ComputeThreads());
  auto it = entries_.find(key);
  if (it != entries_.end()) return it->second;
  try {
    CountPrimitiveCacheMiss();
    return entries_.emplace(std::move(key), make()).first->second;
  } catch (const dnnl::error& e) {
    RethrowDnnl(what, e);
  }
}

}  // namespace millrace::ops::cpu
