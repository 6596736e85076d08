// Conv2d on CUDA: cuDNN's convolution forward, backward-data, backward-filter and backward-bias
// (the legacy API, see ops/cuda/cudnn_descriptors.h) on plain NCHW tensors, the one layout of a
// CUDA tensor, so the CPU's layout logic (AcceptsLayouts, LayoutScope) passes them through.
//
// Per input shape (and device), created on its first Forward and cached: the descriptors
//   x [N, C, H, W], y [N, K, Ho, Wo], bias [1, K, 1, 1], filter KCRS [K, C/groups, kh, kw],
//   convolution: padding, stride, dilation, cross-correlation (torch's), group count,
// and one algorithm per pass, chosen once by cuDNN's heuristics (cudnnGet*Algorithm_v7), not by
// benchmarking (cudnnFind* allocates and times every candidate: a large allocation and a host
// wait in the first step). From the heuristics' ranking we take the first algorithm that
// succeeds with a workspace within kConv2dWorkspaceLimit, preferring deterministic ones (so a
// run resumed from a checkpoint gives the same bits) and falling back to any (Conv2dPickAlgo).
// The precision (ops/precision.h: the calling thread's, as the device can compute it,
// cuda::EffectivePrecision) chooses the data and math types; the cache is keyed by it too:
//   kFp32: f32 x, w, y; CUDNN_FMA_MATH (CUDNN_DEFAULT_MATH would let f32 convolutions use TF32
//          tensor cores on sm_80+, whose 10-bit mantissa is outside the parity with the CPU, 1e-4).
//   kTf32: f32 x, w, y; CUDNN_TENSOR_OP_MATH (TF32 tensor cores permitted, not required).
//   kBf16: autocast: bf16 copies of x and w (own kernels, cuda/bf16.cu, into buffers kept while
//          the shape holds), bf16 y, f32 compute (the convolution descriptor's type: cuDNN's
//          bf16 configuration of the legacy API, compute capability >= 8.0),
//          CUDNN_TENSOR_OP_MATH; y converted to f32 before the epilogue. Backward: dy converted
//          to bf16; dx computed in bf16 and converted to f32; dW computed in bf16 (beta 0) into a
//          buffer, then ADDED into the f32 gradient in f32 (what beta 1 does on the f32 path);
//          db from the f32 dy, f32 as on the other paths.
// The algorithm preference below holds under each precision, with the precision's math type in
// place of CUDNN_FMA_MATH (and, for TF32 and bf16, only the conversion-allowing math type left
// to the last fallback).
//
//   forward: y = conv(x, w) (beta 0), then bias and the fused ReLU in one own kernel.
//   backward: the fused ReLU first masks dy with y > 0 (y saved by the forward); then
//     dx  = backward-data (beta 0), only when input_grad();
//     dW += backward-filter, db += backward-bias: beta 1 accumulates into Parameter::grad, as
//     the CPU backend adds its scratch into the grads.
// Workspace: cuda::Workspace (per thread and device, grows and is reused). Nothing allocates or
// waits on the hot path once a shape has been seen, so the step can be captured as a CUDA Graph.
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "ops/checks.h"
#include "ops/conv2d/conv2d.h"
#include "ops/conv2d/conv2d_cuda_kernels.h"
#include "ops/cuda/bf16.h"
#include "ops/cuda/context.h"
#include "ops/cuda/cudnn_descriptors.h"
#include "ops/cuda/fused_relu_kernels.h"

namespace millrace::ops {

namespace {

// The most workspace one convolution pass may take: a bound on what a large batch can claim
// (the implicit-GEMM algorithms take none, so some candidate always fits).
constexpr size_t kConv2dWorkspaceLimit = size_t{256} << 20;

// Picks from cuDNN's ranked candidates (cudnnGet*Algorithm_v7's perf results, best first) the
// first that succeeds and whose workspace (from `bytes_of`, which returns false when cuDNN
// refuses the algorithm for these descriptors) fits the limit, in order of preference, where
// `math` is the descriptor's math type (CUDNN_FMA_MATH for FP32, CUDNN_TENSOR_OP_MATH for TF32
// and bf16):
//   1. deterministic, ranked for `math`;
//   2. ranked for `math`;
//   3. deterministic, ranked for another math type that is allowed: under CUDNN_FMA_MATH no
//      tensor-op one; under CUDNN_TENSOR_OP_MATH any but CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
//   4. any of those;
//   5. any.
// The heuristics may rank candidates for other math types than the descriptor's
// (CUDNN_DEFAULT_MATH, the tensor-op ones: cuDNN's notes on cudnnFind* / cudnnGet*_v7); the
// descriptor keeps `math` whatever is picked, so such a candidate is only a fallback (its
// workspace is asked for again under `math` by `bytes_of`). Throws Error(kCuda) naming `what`
// when none fits.
template <typename Perf, typename BytesOf>
std::pair<decltype(Perf::algo), size_t> Conv2dPickAlgo(const Perf* perf, int count,
                                                       cudnnMathType_t math, BytesOf bytes_of,
                                                       const std::string& what) {
  for (int preference = 1; preference <= 5; ++preference) {
    const bool deterministic_only = preference == 1 || preference == 3;
    for (int i = 0; i < count; ++i) {
      const Perf& p = perf[i];
      const bool tensor_op =
          p.mathType == CUDNN_TENSOR_OP_MATH || p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
      const bool allowed =
          math == CUDNN_FMA_MATH ? !tensor_op : p.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
      if (p.status != CUDNN_STATUS_SUCCESS) continue;
      if (deterministic_only && p.determinism != CUDNN_DETERMINISTIC) continue;
      if (preference <= 2 && p.mathType != math) continue;
      if (preference <= 4 && !allowed) continue;
      size_t bytes = 0;
      if (!bytes_of(p.algo, &bytes) || bytes > kConv2dWorkspaceLimit) continue;
      return {p.algo, bytes};
    }
  }
  MILLRACE_THROW(ErrorKind::kCuda, what << ": cuDNN offers no algorithm within a workspace of "
                                        << (kConv2dWorkspaceLimit >> 20) << " MiB");
}

}  // namespace

struct Conv2d::Cuda {
  // One input shape's descriptors and algorithms.
  struct Entry {
    Precision precision = Precision::kFp32;
    cuda::TensorDesc x, y, bias;  // x and y: bf16 under kBf16
    cuda::TensorDesc dy_f32;      // kBf16 only: the f32 gradient's, for the bias gradient
    cuda::FilterDesc w;
    cuda::ConvDesc conv;
    cudnnConvolutionFwdAlgo_t forward_algo{};
    cudnnConvolutionBwdDataAlgo_t data_algo{};
    cudnnConvolutionBwdFilterAlgo_t filter_algo{};
    size_t forward_bytes = 0, data_bytes = 0, filter_bytes = 0;  // workspace of each pass
    std::string impl;
  };
  // key: the input shape, then the device index, then the (effective) precision
  std::map<Shape, Entry> entries;
  Shape key;      // the key of the last train-mode Forward
  Tensor masked;  // fused ReLU: dy where y > 0; reused while the shape holds
  // kBf16: the bf16 copies and results, reused while the shape holds. The last train-mode x's
  // copy is kept for backward; an eval-mode Forward converts into eval_input_bf16.
  Tensor weight_bf16, input_bf16, eval_input_bf16, output_bf16, dy_bf16, dx_bf16, dw_bf16;

  Entry& Get(const Conv2d& layer, const Shape& key, const Shape& x_shape, const Shape& y_shape,
             Device device, Precision precision);
};

Conv2d::Cuda::Entry& Conv2d::Cuda::Get(const Conv2d& layer, const Shape& key, const Shape& x_shape,
                                       const Shape& y_shape, Device device, Precision precision) {
  auto it = entries.find(key);
  if (it != entries.end()) return it->second;
  const Conv2dConfig& c = layer.config();
  const std::string what = layer.Describe() + " on " + device.ToString() + " (" +
                           std::string(PrecisionName(precision)) + ")";
  const cudnnDataType_t data =
      precision == Precision::kBf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  const cudnnMathType_t math =
      precision == Precision::kFp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
  Entry e;
  e.precision = precision;
  e.x = cuda::NchwDesc(x_shape, data);
  e.y = cuda::NchwDesc(y_shape, data);
  if (precision == Precision::kBf16) e.dy_f32 = cuda::NchwDesc(y_shape);
  e.bias = cuda::NchwDesc({1, c.out_channels, 1, 1});
  e.w = cuda::KcrsDesc({c.out_channels, c.in_channels / c.groups, c.kernel_h, c.kernel_w}, data);
  e.conv = cuda::MakeConvDesc();
  const int padding = cuda::CudnnDim(c.padding, "Conv2d padding");
  const int stride = cuda::CudnnDim(c.stride, "Conv2d stride");
  const int dilation = cuda::CudnnDim(c.dilation, "Conv2d dilation");
  MILLRACE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(e.conv.get(), padding, padding, stride,
                                                       stride, dilation, dilation,
                                                       CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  MILLRACE_CUDNN_CHECK(
      cudnnSetConvolutionGroupCount(e.conv.get(), cuda::CudnnDim(c.groups, "Conv2d groups")));
  MILLRACE_CUDNN_CHECK(cudnnSetConvolutionMathType(e.conv.get(), math));
  // cuDNN's output size must be the layer's (both floor (H + 2p - d (k - 1) - 1) / s + 1).
  int n = 0, k = 0, ho = 0, wo = 0;
  MILLRACE_CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(e.conv.get(), e.x.get(), e.w.get(), &n, &k, &ho, &wo));
  if (Shape{n, k, ho, wo} != y_shape) {
    MILLRACE_THROW(ErrorKind::kInternal, what << ": cuDNN's output " << ToString({n, k, ho, wo})
                                              << " differs from " << ToString(y_shape));
  }

  cudnnHandle_t handle = cuda::Cudnn(device);
  int count = 0;
  MILLRACE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> fwd(count);
  MILLRACE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(
      handle, e.x.get(), e.w.get(), e.conv.get(), e.y.get(), count, &count, fwd.data()));
  std::tie(e.forward_algo, e.forward_bytes) = Conv2dPickAlgo(
      fwd.data(), count, math,
      [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(handle, e.x.get(), e.w.get(), e.conv.get(),
                                                       e.y.get(), algo,
                                                       bytes) == CUDNN_STATUS_SUCCESS;
      },
      what + " forward");

  MILLRACE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> data_perf(count);
  MILLRACE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
      handle, e.w.get(), e.y.get(), e.conv.get(), e.x.get(), count, &count, data_perf.data()));
  std::tie(e.data_algo, e.data_bytes) = Conv2dPickAlgo(
      data_perf.data(), count, math,
      [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, e.w.get(), e.y.get(),
                                                            e.conv.get(), e.x.get(), algo,
                                                            bytes) == CUDNN_STATUS_SUCCESS;
      },
      what + " backward data");

  MILLRACE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> filter(count);
  MILLRACE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
      handle, e.x.get(), e.y.get(), e.conv.get(), e.w.get(), count, &count, filter.data()));
  std::tie(e.filter_algo, e.filter_bytes) = Conv2dPickAlgo(
      filter.data(), count, math,
      [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, e.x.get(), e.y.get(),
                                                              e.conv.get(), e.w.get(), algo,
                                                              bytes) == CUDNN_STATUS_SUCCESS;
      },
      what + " backward filter");

  e.impl = "cudnn:fwd_algo" + std::to_string(e.forward_algo) + " / cudnn:bwd_data_algo" +
           std::to_string(e.data_algo) + " / cudnn:bwd_filter_algo" +
           std::to_string(e.filter_algo) + " (" + std::string(PrecisionName(precision)) + ")";
  return entries.emplace(key, std::move(e)).first->second;
}

Tensor Conv2d::ForwardCuda(const Tensor& x, Mode mode) {
  const Device device = x.device();
  CheckSameDevice(weight_.value, x, "Conv2d", "weight");
  if (config_.bias) CheckSameDevice(bias_.value, x, "Conv2d", "bias");
  if (!cuda_) cuda_ = decltype(cuda_)(new Cuda(), [](Cuda* state) { delete state; });
  const Shape y_shape = OutputShape(x.shape());
  const Precision precision = cuda::EffectivePrecision(device);
  Shape key = x.shape();
  key.push_back(device.index);
  key.push_back(static_cast<int64_t>(precision));
  Cuda::Entry& e = cuda_->Get(*this, key, x.shape(), y_shape, device, precision);
  backend_info_ = e.impl;
  if (config_.bias || fused_relu_) {
    backend_info_ += config_.bias && fused_relu_ ? " (bias, fused ReLU)"
                     : config_.bias              ? " (bias)"
                                                 : " (fused ReLU)";
  }

  // y: [N, K, Ho, Wo] = conv(x: [N, C, H, W], w: [K, C/groups, kh, kw]), then + b[k], ReLU.
  Tensor y = Tensor::Empty(y_shape, DType::kF32, device);
  // The convolution's operands: x, w and y, or under autocast bf16 copies of x and w and a bf16
  // y, converted to f32 below.
  const bool bf16 = precision == Precision::kBf16;
  const void* x_data = x.raw_data();
  const void* w_data = weight_.value.raw_data();
  void* y_data = y.raw_data();
  if (bf16) {
    x_data = cuda::Bf16Copy(x, mode == Mode::kTrain ? cuda_->input_bf16 : cuda_->eval_input_bf16);
    w_data = cuda::Bf16Copy(weight_.value, cuda_->weight_bf16);
    y_data = cuda::ReuseBuffer(cuda_->output_bf16, y_shape, DType::kBF16, device).raw_data();
  }
  cudnnHandle_t handle = cuda::Cudnn(device);
  void* workspace = cuda::Workspace(device, e.forward_bytes);
  // alpha, beta: float for f32 and bf16 data alike (cuDNN's scaling parameters are double only
  // for double data).
  MILLRACE_CUDNN_CHECK(cudnnConvolutionForward(
      handle, &cuda::kBlendOne, e.x.get(), x_data, e.w.get(), w_data, e.conv.get(), e.forward_algo,
      workspace, e.forward_bytes, &cuda::kBlendZero, e.y.get(), y_data));
  if (bf16) cuda::Bf16ToF32(cuda_->output_bf16, y, /*accumulate=*/false);
  if (config_.bias || fused_relu_) {
    cuda::LaunchConv2dBiasRelu(
        cuda::F32Data(y), config_.bias ? cuda::F32Data(bias_.value) : nullptr, y_shape[0],
        y_shape[1], y_shape[2] * y_shape[3], fused_relu_, cuda::Stream(device));
    MILLRACE_CUDA_LAUNCH_CHECK("Conv2dBiasRelu");
  }
  if (mode == Mode::kTrain) {
    input_ = x.View();
    output_ = fused_relu_ ? y.View() : Tensor();
    cuda_->key = std::move(key);
  } else {
    input_ = Tensor();
    output_ = Tensor();
  }
  return y;
}

Tensor Conv2d::BackwardCuda(const Tensor& dy_in) {
  const Device device = dy_in.device();
  if (!cuda_ || !cuda_->entries.contains(cuda_->key)) {
    MILLRACE_THROW(ErrorKind::kInternal, Describe() << ": no CUDA state for the saved input");
  }
  Cuda::Entry& e = cuda_->entries.at(cuda_->key);
  const bool bf16 = e.precision == Precision::kBf16;  // as the saved input's Forward computed
  CheckSameDevice(weight_.grad, dy_in, "Conv2d", "weight gradient", "gradient");
  if (config_.bias) CheckSameDevice(bias_.grad, dy_in, "Conv2d", "bias gradient", "gradient");
  cudnnHandle_t handle = cuda::Cudnn(device);
  cudaStream_t stream = cuda::Stream(device);

  // A fused ReLU: the gradient at the convolution's output is dy where y > 0.
  const Tensor* dy_tensor = &dy_in;
  const float* dy = cuda::F32Data(dy_in);
  if (output_.defined()) {
    Tensor& masked = cuda_->masked;
    if (!masked.defined() || masked.shape() != output_.shape() || masked.device() != device) {
      masked = Tensor::Empty(output_.shape(), DType::kF32, device);
    }
    cuda::LaunchFusedReluBackward(cuda::F32Data(output_), dy, cuda::F32Data(masked), masked.numel(),
                                  stream);
    MILLRACE_CUDA_LAUNCH_CHECK("FusedReluBackward");
    dy = cuda::F32Data(masked);
    dy_tensor = &masked;
  }
  // Autocast: the passes read a bf16 copy of dy, and the forward's copies of w and x.
  const void* dy_data = dy;
  const void* x_data = input_.raw_data();
  const void* w_data = weight_.value.raw_data();
  if (bf16) {
    dy_data = cuda::Bf16Copy(*dy_tensor, cuda_->dy_bf16);
    x_data = cuda_->input_bf16.raw_data();
    w_data = cuda_->weight_bf16.raw_data();
  }

  // dx: [N, C, H, W] = the transposed convolution of dy with w.
  Tensor dx;
  if (input_grad()) {
    dx = Tensor::Empty(input_.shape(), DType::kF32, device);
    void* dx_data =
        bf16 ? cuda::ReuseBuffer(cuda_->dx_bf16, input_.shape(), DType::kBF16, device).raw_data()
             : dx.raw_data();
    void* workspace = cuda::Workspace(device, e.data_bytes);
    MILLRACE_CUDNN_CHECK(cudnnConvolutionBackwardData(
        handle, &cuda::kBlendOne, e.w.get(), w_data, e.y.get(), dy_data, e.conv.get(), e.data_algo,
        workspace, e.data_bytes, &cuda::kBlendZero, e.x.get(), dx_data));
    if (bf16) cuda::Bf16ToF32(cuda_->dx_bf16, dx, /*accumulate=*/false);
  }
  // dW: [K, C/groups, kh, kw] += correlation of x with dy; db: [K] += sum of dy over N, Ho, Wo.
  // Under autocast cuDNN writes dW in bf16 (beta 0) into a buffer, which is then added into the
  // f32 gradient in f32: the f32 path's beta = 1.
  void* workspace = cuda::Workspace(device, e.filter_bytes);
  void* dw_data =
      bf16
          ? cuda::ReuseBuffer(cuda_->dw_bf16, weight_.grad.shape(), DType::kBF16, device).raw_data()
          : weight_.grad.raw_data();
  MILLRACE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
      handle, &cuda::kBlendOne, e.x.get(), x_data, e.y.get(), dy_data, e.conv.get(), e.filter_algo,
      workspace, e.filter_bytes, bf16 ? &cuda::kBlendZero : &cuda::kBlendOne, e.w.get(), dw_data));
  if (bf16) cuda::Bf16ToF32(cuda_->dw_bf16, weight_.grad, /*accumulate=*/true);
  if (config_.bias) {  // from the f32 dy under every precision
    MILLRACE_CUDNN_CHECK(cudnnConvolutionBackwardBias(
        handle, &cuda::kBlendOne, bf16 ? e.dy_f32.get() : e.y.get(), dy, &cuda::kBlendOne,
        e.bias.get(), cuda::F32Data(bias_.grad)));
  }
  return dx;
}

}  // namespace millrace::ops
