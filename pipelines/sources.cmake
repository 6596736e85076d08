# Sources of millrace_pipelines, relative to pipelines/.
set(MILLRACE_PIPELINES_SOURCES
  metrics.cc
  step.cc
  snapshot.cc
  data.cc
  reference_loop.cc
  training.cc
  training_checkpoint.cc
  finite_check.cc
  training_graph.cc
  epoch_progress.cc
  thread_plan.cc
  evaluation.cc
  to_device.cc
  step_graph.cc
  config_file.cc
  tuner.cc
)
list(APPEND MILLRACE_PIPELINES_SOURCES pruning.cc distillation.cc)  # pruning and distillation
