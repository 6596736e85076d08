// Linear on CUDA: three cuBLASLt matmuls per input shape, planned once (descriptors, layouts and
// the heuristic's algorithm, cached by batch size, pointer alignment and epilogue) and run on
// the thread's stream with the workspace of ops/cuda/context.h. f32 in, f32 out, f32 accumulation;
// the products by the calling thread's precision (ops/precision.h, as the device can:
// cuda::EffectivePrecision), for the forward and both backward matmuls alike:
//   kFp32: CUBLAS_COMPUTE_32F (FP32 products)
//   kTf32: CUBLAS_COMPUTE_32F_FAST_TF32 (inputs rounded to TF32 on the tensor cores)
//   kBf16: autocast. Each step converts x and W (and, in backward, dy) to bf16 copies in buffers
//          the layer keeps while the shape holds (cuda/bf16.cu), and the matmuls read those:
//          A, B CUDA_R_16BF; C, D CUDA_R_32F; CUBLAS_COMPUTE_32F, f32 scale (a combination
//          cublasLtMatmul supports). So y and dx come out f32, and dW += x^T dy accumulates
//          into the f32 gradient with beta = 1 in FP32, as under the other precisions. The bias,
//          its gradient, the fused ReLU and the master weights stay f32.
// Plans are cached per precision too (the key's last field), so a change between steps plans anew.
//
// cuBLASLt is column-major; a row-major [R, C] matrix is its column-major C x R transpose, so:
//   forward:          y[N,O]  = x[N,I] W^T + b    as  y' (O x N) = op_T(W' (I x O)) x' (I x N)
//                     bias (and a fused ReLU) in the epilogue: EPILOGUE_BIAS / RELU_BIAS / RELU
//                     (a pass of linear_cuda.cu where cuBLASLt has no algorithm with one)
//   backward data:    dx[N,I] = dy[N,O] W          as  dx' (I x N) = W' (I x O) dy' (O x N)
//   backward weights: dW[O,I] += dy^T x            as  dW' (I x O) = x' (I x N) op_T(dy' (O x N)),
//                     beta = 1: adds into the gradient, as the CPU's sum post-op does
//   backward bias:    db[o] += sum_n dy[n, o]      a kernel (linear_cuda.cu): cuBLASLt's BGRADB
//                     epilogue writes db instead of adding into it
// A fused ReLU's backward masks dy with y > 0 first (into a buffer kept while the shape holds),
// as linear_cpu.cc does. dx only when input_grad().
#include <map>
#include <memory>
#include <tuple>
#include <type_traits>

#include "ops/cuda/bf16.h"
#include "ops/cuda/context.h"
#include "ops/linear/linear.h"
#include "ops/linear/linear_cuda_kernels.h"

namespace millrace::ops {
namespace {

struct LtDescDeleter {
  void operator()(cublasLtMatmulDesc_t d) const noexcept { cublasLtMatmulDescDestroy(d); }
};
struct LtLayoutDeleter {
  void operator()(cublasLtMatrixLayout_t l) const noexcept { cublasLtMatrixLayoutDestroy(l); }
};
struct LtPreferenceDeleter {
  void operator()(cublasLtMatmulPreference_t p) const noexcept {
    cublasLtMatmulPreferenceDestroy(p);
  }
};
using LtDesc = std::unique_ptr<std::remove_pointer_t<cublasLtMatmulDesc_t>, LtDescDeleter>;
using LtLayout = std::unique_ptr<std::remove_pointer_t<cublasLtMatrixLayout_t>, LtLayoutDeleter>;
using LtPreference =
    std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>, LtPreferenceDeleter>;

constexpr size_t kLinearMaxWorkspace = size_t{32} << 20;  // what the heuristic may ask for

// A column-major matrix: rows x cols, leading dimension ld.
struct LtMatrix {
  int64_t rows, cols, ld;
};

// The largest power of two (at most 256) that divides every address: cuBLASLt's algorithms
// state the alignment they need, and a view (Slice) may start anywhere.
uint32_t LtAlignment(std::initializer_list<const void*> pointers) {
  uint32_t alignment = 256;
  for (const void* p : pointers) {
    const auto address = reinterpret_cast<uintptr_t>(p);
    while (alignment > 4 && address % alignment != 0) alignment /= 2;
  }
  return alignment;
}

LtLayout MakeLtLayout(const LtMatrix& m, cudaDataType_t type) {
  cublasLtMatrixLayout_t layout = nullptr;
  MILLRACE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(m.rows),
                                                   static_cast<uint64_t>(m.cols), m.ld));
  return LtLayout(layout);
}

// One matmul D = alpha op(A) op(B) + beta D, planned for one shape and alignment. `planned` is
// false when cuBLASLt has no algorithm with that epilogue (the caller plans one without).
struct LtMatmul {
  LtDesc desc;
  LtLayout a, b, d;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  bool planned = false;

  LtMatmul(Device device, cublasOperation_t trans_a, cublasOperation_t trans_b, const LtMatrix& a_m,
           const LtMatrix& b_m, const LtMatrix& d_m, cublasLtEpilogue_t epilogue,
           uint32_t alignment, cublasComputeType_t compute, cudaDataType_t ab_type)
      : epilogue(epilogue) {
    cublasLtMatmulDesc_t raw = nullptr;
    MILLRACE_CUBLAS_CHECK(cublasLtMatmulDescCreate(&raw, compute, CUDA_R_32F));
    desc.reset(raw);
    MILLRACE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_TRANSA,
                                                         &trans_a, sizeof(trans_a)));
    MILLRACE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_TRANSB,
                                                         &trans_b, sizeof(trans_b)));
    MILLRACE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.get(), CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                         &epilogue, sizeof(epilogue)));
    a = MakeLtLayout(a_m, ab_type);
    b = MakeLtLayout(b_m, ab_type);
    d = MakeLtLayout(d_m, CUDA_R_32F);  // C and D: f32 under every precision
    cublasLtMatmulPreference_t raw_preference = nullptr;
    MILLRACE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&raw_preference));
    const LtPreference preference(raw_preference);
    const uint64_t max_workspace = kLinearMaxWorkspace;
    MILLRACE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
        preference.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_workspace,
        sizeof(max_workspace)));
    for (cublasLtMatmulPreferenceAttributes_t attribute :
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
          CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES}) {
      MILLRACE_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference.get(), attribute,
                                                                 &alignment, sizeof(alignment)));
    }
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t status =
        cublasLtMatmulAlgoGetHeuristic(cuda::CublasLt(device), desc.get(), a.get(), b.get(),
                                       d.get(), d.get(), preference.get(), 1, &result, &found);
    if (status == CUBLAS_STATUS_NOT_SUPPORTED) return;  // no algorithm: planned stays false
    MILLRACE_CUBLAS_CHECK(status);
    planned = found > 0;
    algo = result.algo;
    workspace = result.workspaceSize;
  }

  // D = op(A) op(B) + beta D; bias: the epilogue's bias vector (null without one).
  void Run(Device device, const void* a_data, const void* b_data, void* d_data, float beta,
           const void* bias) {
    if (bias != nullptr) {
      MILLRACE_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(
          desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    }
    const float alpha = 1.0f;
    cudaStream_t stream = cuda::Stream(device);
    void* scratch = workspace == 0 ? nullptr : cuda::Workspace(device, workspace);
    MILLRACE_CUBLAS_CHECK(cublasLtMatmul(cuda::CublasLt(device), desc.get(), &alpha, a_data,
                                         a.get(), b_data, b.get(), &beta, d_data, d.get(), d_data,
                                         d.get(), &algo, scratch, workspace, stream));
  }
};

// A matmul planned with `epilogue` if cuBLASLt has an algorithm for it, else with none (the
// caller then applies the bias and ReLU with LaunchLinearEpilogue); throws when neither plans.
std::unique_ptr<LtMatmul> PlanLtMatmul(Device device, cublasOperation_t trans_a,
                                       cublasOperation_t trans_b, const LtMatrix& a,
                                       const LtMatrix& b, const LtMatrix& d,
                                       cublasLtEpilogue_t epilogue, uint32_t alignment,
                                       Precision precision, const std::string& what) {
  const cublasComputeType_t compute =
      precision == Precision::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  // A and B: bf16 copies under kBf16, the f32 tensors otherwise.
  const cudaDataType_t ab_type = precision == Precision::kBf16 ? CUDA_R_16BF : CUDA_R_32F;
  auto plan = std::make_unique<LtMatmul>(device, trans_a, trans_b, a, b, d, epilogue, alignment,
                                         compute, ab_type);
  if (!plan->planned && epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    plan = std::make_unique<LtMatmul>(device, trans_a, trans_b, a, b, d, CUBLASLT_EPILOGUE_DEFAULT,
                                      alignment, compute, ab_type);
  }
  MILLRACE_CHECK(plan->planned, ErrorKind::kCuda,
                 what << ": cuBLASLt has no algorithm for a matmul of " << d.rows << " x " << d.cols
                      << " (alignment " << alignment << " bytes, precision "
                      << PrecisionName(precision) << ")");
  return plan;
}

}  // namespace

struct Linear::Cuda {
  // Key: batch size, alignment of the call's pointers, epilogue (forward only; 0 otherwise),
  // precision (the effective one).
  using Key = std::tuple<int64_t, uint32_t, int, Precision>;
  std::map<Key, std::unique_ptr<LtMatmul>> forward, backward_data, backward_weights;
  Tensor masked;  // dy with a fused ReLU's mask applied, reused while the shape holds
  // The precision of the last train-mode Forward: its Backward computes the same way.
  Precision trained = kDefaultPrecision;
  // kBf16: bf16 copies of W, of the last train-mode x (kept for backward) and of dy, reused
  // while the shape holds (an eval-mode Forward converts x into eval_input, so a train-mode
  // input's copy survives until its Backward).
  Tensor weight_bf16, input_bf16, eval_input_bf16, dy_bf16;

  template <typename Make>
  static LtMatmul& Get(std::map<Key, std::unique_ptr<LtMatmul>>& plans, const Key& key,
                       const Make& make) {
    std::unique_ptr<LtMatmul>& plan = plans[key];
    if (!plan) plan = make();
    return *plan;
  }
};

Tensor Linear::ForwardCuda(const Tensor& x, Mode mode) {
  if (!cuda_) cuda_ = {new Cuda(), [](Cuda* state) { delete state; }};
  const Device device = x.device();
  const int64_t n = x.dim(0);
  Tensor y = Tensor::Empty({n, out_}, DType::kF32, device);
  const Precision precision = cuda::EffectivePrecision(device);
  const void* bias = has_bias() ? bias_.value.raw_data() : nullptr;
  const cublasLtEpilogue_t epilogue =
      fused_relu_ ? (bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU)
                  : (bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
  // The matmul's operands: W and x, or their bf16 copies under autocast.
  const void* w_data = weight_.value.raw_data();
  const void* x_data = x.raw_data();
  if (precision == Precision::kBf16) {
    w_data = cuda::Bf16Copy(weight_.value, cuda_->weight_bf16);
    x_data = cuda::Bf16Copy(x, mode == Mode::kTrain ? cuda_->input_bf16 : cuda_->eval_input_bf16);
  }
  const uint32_t alignment = LtAlignment({x_data, w_data, y.raw_data(), bias});
  LtMatmul& forward =
      Cuda::Get(cuda_->forward, {n, alignment, static_cast<int>(epilogue), precision}, [&] {
        return PlanLtMatmul(device, CUBLAS_OP_T, CUBLAS_OP_N, LtMatrix{in_, out_, in_},
                            LtMatrix{in_, n, in_}, LtMatrix{out_, n, out_}, epilogue, alignment,
                            precision, Describe());
      });
  const bool in_epilogue = forward.epilogue == epilogue;
  forward.Run(device, w_data, x_data, y.raw_data(), 0.0f, in_epilogue ? bias : nullptr);
  if (!in_epilogue) {  // cuBLASLt had no algorithm with the epilogue: bias and ReLU in a pass
    cuda::LaunchLinearEpilogue(static_cast<float*>(y.raw_data()), static_cast<const float*>(bias),
                               n, out_, fused_relu_, cuda::Stream(device));
    MILLRACE_CUDA_LAUNCH_CHECK("LinearEpilogue");
  }
  if (mode == Mode::kTrain) {
    input_ = x.View();
    output_ = fused_relu_ ? y.View() : Tensor();
    cuda_->trained = precision;
  } else {
    input_ = Tensor();
    output_ = Tensor();
  }
  return y;
}

Tensor Linear::BackwardCuda(const Tensor& dy_in) {
  const Device device = dy_in.device();
  const int64_t n = input_.dim(0);
  cudaStream_t stream = cuda::Stream(device);
  // With a fused ReLU the gradient at the matmul's output is dy masked by y > 0.
  const Tensor* dy = &dy_in;
  if (output_.defined()) {
    if (cuda_->masked.shape() != dy_in.shape() || cuda_->masked.device() != device) {
      cuda_->masked = Tensor::Empty(dy_in.shape(), DType::kF32, device);
    }
    cuda::LaunchLinearReluMask(
        static_cast<const float*>(output_.raw_data()), static_cast<const float*>(dy_in.raw_data()),
        static_cast<float*>(cuda_->masked.raw_data()), dy_in.numel(), stream);
    MILLRACE_CUDA_LAUNCH_CHECK("LinearReluMask");
    dy = &cuda_->masked;
  }
  if (has_bias()) {
    cuda::LaunchLinearBiasGrad(static_cast<const float*>(dy->raw_data()), n, out_,
                               static_cast<float*>(bias_.grad.raw_data()), stream);
    MILLRACE_CUDA_LAUNCH_CHECK("LinearBiasGrad");
  }
  // The matmuls' operands: W, dy and x, or under autocast their bf16 copies (W's and x's made by
  // the forward; W has not changed since: the optimizer steps after backward).
  const Precision precision = cuda_->trained;
  const void* w_data = weight_.value.raw_data();
  const void* dy_data = dy->raw_data();
  const void* x_data = input_.raw_data();
  if (precision == Precision::kBf16) {
    w_data = cuda_->weight_bf16.raw_data();
    x_data = cuda_->input_bf16.raw_data();
    dy_data = cuda::Bf16Copy(*dy, cuda_->dy_bf16);
  }
  Tensor dx;
  if (input_grad()) {
    dx = Tensor::Empty({n, in_}, DType::kF32, device);
    const uint32_t alignment = LtAlignment({dy_data, w_data, dx.raw_data()});
    LtMatmul& backward_data = Cuda::Get(cuda_->backward_data, {n, alignment, 0, precision}, [&] {
      return PlanLtMatmul(device, CUBLAS_OP_N, CUBLAS_OP_N, LtMatrix{in_, out_, in_},
                          LtMatrix{out_, n, out_}, LtMatrix{in_, n, in_}, CUBLASLT_EPILOGUE_DEFAULT,
                          alignment, precision, Describe());
    });
    backward_data.Run(device, w_data, dy_data, dx.raw_data(), 0.0f, nullptr);
  }
  const uint32_t alignment = LtAlignment({x_data, dy_data, weight_.grad.raw_data()});
  LtMatmul& backward_weights =
      Cuda::Get(cuda_->backward_weights, {n, alignment, 0, precision}, [&] {
        return PlanLtMatmul(device, CUBLAS_OP_N, CUBLAS_OP_T, LtMatrix{in_, n, in_},
                            LtMatrix{out_, n, out_}, LtMatrix{in_, out_, in_},
                            CUBLASLT_EPILOGUE_DEFAULT, alignment, precision, Describe());
      });
  // beta = 1: dW (f32) += x^T dy, accumulated in FP32 under every precision.
  backward_weights.Run(device, x_data, dy_data, weight_.grad.raw_data(), 1.0f, nullptr);
  return dx;
}

}  // namespace millrace::ops
