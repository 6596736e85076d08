# The ops benchmarks (results: docs/BENCHMARKS.md, "Compute on the CPU (ops/)").
millrace_add_benchmark(ops_prune_bench SOURCES ops/prune_bench.cc DEPS millrace::ops)
millrace_add_benchmark(ops_layers_bench SOURCES ops/layers_bench.cc DEPS millrace::ops)
millrace_add_benchmark(ops_layer_profile SOURCES ops/layer_profile.cc DEPS millrace::ops)
