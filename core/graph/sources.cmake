# The graph runtime (core/graph/): stages, bounded channels, executors, statistics, tracing.
list(APPEND MILLRACE_CORE_SOURCES
  graph/placement.cc
  graph/device_context.cc
  graph/stage_base.cc
  graph/executors.cc
  graph/runtime.cc
  graph/runtime_stats.cc
  graph/stats.cc
  graph/graph.cc
)
