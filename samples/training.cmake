# Samples of the training techniques (issue 6): one program each, built in CI and run by a
# smoke test (tests/samples/training.cmake runs each with --smoke). The ops-only sample needs
# millrace_ops; the others need the pipelines layer.
function(millrace_add_sample name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  millrace_target_flags(${name})
endfunction()

if(TARGET millrace_ops)
  millrace_add_sample(sample_dwsep_vs_cnn SOURCES dwsep_vs_cnn.cc DEPS millrace::ops)
endif()
if(TARGET millrace_pipelines)
  foreach(sample linear_and_mlp pruning distillation scheduling custom_stage)
    millrace_add_sample(sample_${sample} SOURCES ${sample}.cc DEPS millrace::pipelines)
  endforeach()
endif()
