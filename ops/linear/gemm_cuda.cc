// Gemm on CUDA: cuBLAS on the calling thread's stream, queued, not waited for.
//
// cuBLAS is column-major. A row-major [R, C] matrix is, in the same memory, a column-major
// [C, R] one (its transpose) with leading dimension C. So the row-major product
//   c[M,N] = a[M,K] . b[K,N]
// is, read column-major, c^T[N,M] = b^T[N,K] . a^T[K,M]: cuBLAS's m = N, n = M, k = K, its
// first operand is b (ld N), its second a (ld K), its output c (ld N), no transposes.
//
// kFp32: cublasSgemm under CUBLAS_DEFAULT_MATH (FP32 products and sums; the handle's mode is set
// for the call and put back, since the handle is the thread's, shared with other ops).
// kTf32: cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_TF32 (inputs rounded to TF32 on the tensor
// cores, FP32 sums), whatever the handle's math mode.
#include <climits>

#include "core/error.h"
#include "ops/cuda/context.h"
#include "ops/linear/gemm.h"

namespace millrace::ops::cuda {

namespace {

// Sets a handle's math mode for one call and restores the previous one (noexcept: a failure to
// restore leaves the handle in `mode`, which every op that needs another mode sets itself).
class ScopedGemmMathMode {
 public:
  ScopedGemmMathMode(cublasHandle_t handle, cublasMath_t mode) : handle_(handle) {
    MILLRACE_CUBLAS_CHECK(cublasGetMathMode(handle_, &previous_));
    if (previous_ != mode) MILLRACE_CUBLAS_CHECK(cublasSetMathMode(handle_, mode));
    restore_ = previous_ != mode;
  }
  ~ScopedGemmMathMode() {
    if (restore_) cublasSetMathMode(handle_, previous_);
  }
  ScopedGemmMathMode(const ScopedGemmMathMode&) = delete;
  ScopedGemmMathMode& operator=(const ScopedGemmMathMode&) = delete;

 private:
  cublasHandle_t handle_;
  cublasMath_t previous_ = CUBLAS_DEFAULT_MATH;
  bool restore_ = false;
};

}  // namespace

void Gemm(const Tensor& a, const Tensor& b, Tensor& c, GemmMath math) {
  const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
  MILLRACE_CHECK_ARG(
      m <= INT_MAX && k <= INT_MAX && n <= INT_MAX,
      "Gemm: " << m << " x " << k << " x " << n << " has a dimension past cuBLAS's int range");
  const Device device = a.device();
  cublasHandle_t handle = Cublas(device);  // bound to the thread's stream on `device`
  const float alpha = 1.0f, beta = 0.0f;   // host scalars: the handle's default pointer mode
  const int cm = static_cast<int>(n), cn = static_cast<int>(m), ck = static_cast<int>(k);
  const float* first = static_cast<const float*>(b.raw_data());   // b^T: [N, K], ld N
  const float* second = static_cast<const float*>(a.raw_data());  // a^T: [K, M], ld K
  float* out = static_cast<float*>(c.raw_data());                 // c^T: [N, M], ld N
  if (math == GemmMath::kFp32) {
    ScopedGemmMathMode fp32(handle, CUBLAS_DEFAULT_MATH);
    MILLRACE_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, cm, cn, ck, &alpha, first,
                                      cm, second, ck, &beta, out, cm));
  } else {
    MILLRACE_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, cm, cn, ck, &alpha, first,
                                       CUDA_R_32F, cm, second, CUDA_R_32F, ck, &beta, out,
                                       CUDA_R_32F, cm, CUBLAS_COMPUTE_32F_FAST_TF32,
                                       CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace millrace::ops::cuda
