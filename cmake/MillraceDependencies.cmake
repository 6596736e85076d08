# Every library millrace uses, from Debian's packages (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(TBB REQUIRED)                 # TBB::tbb
find_package(Boost 1.81 REQUIRED)          # Boost::headers (Asio)
find_package(PkgConfig REQUIRED)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)
find_package(nlohmann_json REQUIRED)       # nlohmann_json::nlohmann_json
if(NOT MILLRACE_ONLY_CORE)
  find_package(dnnl REQUIRED)              # DNNL::dnnl
  find_package(OpenMP REQUIRED)            # oneDNN's threading runtime on Debian
  find_package(ZLIB REQUIRED)
  find_package(PNG REQUIRED)
  find_package(LibArchive REQUIRED)
  pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)  # encode
  pkg_check_modules(LIBJPEG REQUIRED IMPORTED_TARGET libjpeg)  # decode (libjpeg-turbo)
  find_package(CLI11 REQUIRED)             # CLI11::CLI11
  if(MILLRACE_BUILD_BENCHMARKS)
    find_package(benchmark REQUIRED)       # benchmark::benchmark
  endif()
endif()
if(MILLRACE_BUILD_TESTS)
  find_package(GTest REQUIRED)             # GTest::gtest_main
endif()
