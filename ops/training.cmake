# Losses, optimizers, learning-rate schedules, pruning and checkpoints (paths relative to ops/).
list(APPEND MILLRACE_OPS_SOURCES
  loss/mse.cc loss/mse_cpu.cc
  loss/cross_entropy.cc loss/cross_entropy_cpu.cc
  loss/distillation.cc loss/distillation_cpu.cc
)
list(APPEND MILLRACE_OPS_SOURCES
  optim/optimizer.cc
  optim/sgd.cc
  optim/adamw.cc
  optim/update.cc optim/update_cpu.cc
  optim/finite.cc optim/finite_cpu.cc
  optim/lr_schedule.cc
)
list(APPEND MILLRACE_OPS_SOURCES
  prune/topk.cc
  prune/mask.cc prune/mask_cpu.cc
  prune/ranking.cc prune/ranking_cpu.cc
  prune/magnitude.cc prune/magnitude_cpu.cc
  prune/schedule.cc
  prune/report.cc
)
list(APPEND MILLRACE_OPS_SOURCES
  metrics/classification.cc metrics/classification_cpu.cc
)
list(APPEND MILLRACE_OPS_SOURCES
  checkpoint/safetensors.cc
  checkpoint/history.cc
  checkpoint/checkpoint.cc
)
list(APPEND MILLRACE_OPS_SOURCES prune/shrink.cc)
# The CUDA backend of the losses, optimizers, pruning and metrics (host glue and kernels).
list(APPEND MILLRACE_OPS_CUDA_SOURCES
  loss/cross_entropy_cuda.cc loss/cross_entropy_cuda.cu
  loss/mse_cuda.cc loss/mse_cuda.cu
  loss/distillation_cuda.cc loss/distillation_cuda.cu
  optim/update_cuda.cc optim/update_cuda.cu
  prune/mask_cuda.cc prune/mask_cuda.cu
  prune/ranking_cuda.cc prune/ranking_cuda.cu
  prune/magnitude_cuda.cc prune/magnitude_cuda.cu
  metrics/classification_cuda.cc metrics/classification_cuda.cu
  optim/finite_cuda.cc optim/finite_cuda.cu
)
