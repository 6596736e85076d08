# Tests of pruning and distillation inside the training graph (pipelines/pruning.*,
# pipelines/distillation.*). They train on a 256-sample slice of Fashion-MNIST.
millrace_add_test(pipelines_pruning_test
  SOURCES pruning_test.cc
  DEPS millrace::pipelines LABELS pipelines)
millrace_add_test(pipelines_distillation_test
  SOURCES distillation_test.cc
  DEPS millrace::pipelines LABELS pipelines)
