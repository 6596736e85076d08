# Smoke test of the graph runtime's sample: it checks its own sum and exits 0.
if(TARGET sample_graph_basics)
  add_test(NAME sample_graph_basics_smoke COMMAND sample_graph_basics)
  set_tests_properties(sample_graph_basics_smoke PROPERTIES LABELS samples TIMEOUT 60)
endif()
