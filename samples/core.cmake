# The graph runtime's sample (samples/graph_basics.cc); tests/samples/core.cmake runs it.
add_executable(sample_graph_basics graph_basics.cc)
target_link_libraries(sample_graph_basics PRIVATE millrace::core)
millrace_target_flags(sample_graph_basics)
