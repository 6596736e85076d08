// Gemm on the CPU: one oneDNN matmul per (M, K, N) and team size, created on the first call and
// kept in the calling thread's cache (the compute thread's: one thread calls oneDNN).
//   c[M,N] = a[M,K] . b[K,N]      all plain row-major, the tensors' own memory: no reorders
#include <unordered_map>

#include "core/error.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/linear/gemm.h"

namespace millrace::ops::cpu {

namespace {

struct GemmEntry {
  dnnl::memory::desc a, b, c;
  dnnl::matmul matmul;
};

}  // namespace

void Gemm(const Tensor& a, const Tensor& b, Tensor& c, GemmMath math) {
  MILLRACE_CHECK_ARG(math == GemmMath::kFp32,
                     "Gemm: " << GemmMathName(math)
                              << " math needs a CUDA device; the CPU computes fp32 only "
                                 "(GemmMath::kFp32)");
  thread_local PrimitiveCache<GemmEntry> cache;
  const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
  GemmEntry& e = cache.Get("Gemm", {m, k, n}, [&] {
    GemmEntry entry;
    entry.a = PlainDesc({m, k});
    entry.b = PlainDesc({k, n});
    entry.c = PlainDesc({m, n});
    entry.matmul =
        dnnl::matmul(dnnl::matmul::primitive_desc({entry.a, entry.b, entry.c}, Engine()));
    return entry;
  });
  Execute("Gemm", e.matmul,
          {{DNNL_ARG_SRC, Wrap(e.a, a)},
           {DNNL_ARG_WEIGHTS, Wrap(e.b, b)},
           {DNNL_ARG_DST, Wrap(e.c, c)}});
}

}  // namespace millrace::ops::cpu
