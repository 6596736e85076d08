# Smoke tests of the training samples (samples/training.cmake): each runs with --smoke (a few
# steps on a slice of Fashion-MNIST) and must exit 0.
foreach(sample IN ITEMS sample_dwsep_vs_cnn sample_linear_and_mlp sample_pruning
                        sample_distillation sample_scheduling sample_custom_stage)
  if(TARGET ${sample})
    add_test(NAME ${sample}_smoke COMMAND ${sample} --smoke
             WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
    set_tests_properties(${sample}_smoke PROPERTIES LABELS samples TIMEOUT 120)
  endif()
endforeach()
