# The graph runtime's benchmarks (results: docs/BENCHMARKS.md, "Graph runtime (core/)").
millrace_add_benchmark(graph_overhead_bench SOURCES core/graph_overhead_bench.cc DEPS millrace::core)
millrace_add_benchmark(graph_efficiency_bench SOURCES core/graph_efficiency_bench.cc DEPS millrace::core)
