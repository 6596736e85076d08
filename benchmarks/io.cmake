# Benchmarks of io/: loader throughput beside plain reads, and decode+augment+collate beside a
# plain read-and-decode loop. They write Fashion-MNIST out once (JPEG tree and tar shards) under
# $MILLRACE_BENCH_DATA (default /tmp/millrace-bench). Results: docs/BENCHMARKS.md.
if(TARGET millrace_io)
  millrace_add_benchmark(io_loader_bench
    SOURCES io/loader_bench.cc io/bench_data.cc DEPS millrace::io ZLIB::ZLIB)
  millrace_add_benchmark(io_preprocess_bench
    SOURCES io/preprocess_bench.cc io/bench_data.cc DEPS millrace::io TBB::tbb)
endif()
