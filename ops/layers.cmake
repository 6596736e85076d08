# Layers, models and the oneDNN context of millrace_ops (paths relative to ops/).
list(APPEND MILLRACE_OPS_SOURCES
  cpu/dnnl_context.cc cpu/layout.cc
  init.cc
  layer.cc sequential.cc profile.cc
  kernel_table.cc checks.cc compute_thread.cc precision.cc cpu/register.cc
  linear/linear.cc linear/linear_cpu.cc linear/gemm.cc linear/gemm_cpu.cc
  activation/relu.cc activation/relu_cpu.cc activation/dropout.cc activation/dropout_cpu.cc
  flatten/flatten.cc
  conv2d/conv2d.cc conv2d/conv2d_cpu.cc
  batchnorm/batchnorm.cc batchnorm/batchnorm_cpu.cc
  pooling/pooling.cc pooling/pooling_cpu.cc pooling/max_pool_cpu.cc
  dwsep/dwsep.cc
  models.cc
)
# The layers' CUDA backends (cuDNN and own kernels), beside their CPU twins.
list(APPEND MILLRACE_OPS_CUDA_SOURCES
  cuda/fused_relu.cu cuda/bf16.cu
  linear/gemm_cuda.cc
  conv2d/conv2d_cuda.cc conv2d/conv2d_cuda.cu
  batchnorm/batchnorm_cuda.cc
  pooling/pooling_cuda.cc pooling/pooling_cuda.cu
  linear/linear_cuda.cc linear/linear_cuda.cu
  activation/relu_cuda.cc activation/relu_cuda.cu
  activation/dropout_cuda.cc activation/dropout_cuda.cu
)
