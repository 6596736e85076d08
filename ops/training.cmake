# Losses, optimizers, learning-rate schedules, pruning and checkpoints (paths relative to ops/).
list(APPEND MILLRACE_OPS_SOURCES
  loss/mse.cc
  loss/cross_entropy.cc
  loss/distillation.cc
)
list(APPEND MILLRACE_OPS_SOURCES
  optim/optimizer.cc
  optim/sgd.cc
  optim/adamw.cc
  optim/lr_schedule.cc
)
list(APPEND MILLRACE_OPS_SOURCES
  prune/topk.cc
  prune/magnitude.cc
  prune/schedule.cc
  prune/report.cc
)
list(APPEND MILLRACE_OPS_SOURCES
  checkpoint/safetensors.cc
  checkpoint/history.cc
  checkpoint/checkpoint.cc
)
list(APPEND MILLRACE_OPS_SOURCES prune/shrink.cc)
