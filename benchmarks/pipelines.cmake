# Pipelines benchmarks: accuracy, pruning and distillation on Fashion-MNIST (minutes each; a plain
# program printing Markdown rows, not a Google Benchmark). Results: docs/BENCHMARKS.md.
if(TARGET millrace_pipelines)
  add_executable(pipelines_accuracy pipelines/accuracy_main.cc)
  target_link_libraries(pipelines_accuracy PRIVATE millrace::pipelines CLI11::CLI11)
  millrace_target_flags(pipelines_accuracy)
endif()
