# Tests of the layers, Sequential and the model presets (one file per op).
millrace_add_test(ops_layers_test
  SOURCES linear_test.cc activation_test.cc sequential_test.cc conv2d_test.cc batchnorm_test.cc pooling_test.cc dwsep_test.cc models_test.cc init_test.cc layouts_test.cc
  DEPS millrace::ops LABELS ops)
# Backend parity: every op and kernel on every backend of this build, against the CPU backend
# and naive references; and the seam's errors.
millrace_add_test(ops_backend_parity_test
  SOURCES layers_parity_test.cc layers_behaviour_parity_test.cc kernels_parity_test.cc gemm_parity_test.cc models_parity_test.cc dispatch_test.cc precision_test.cc
  DEPS millrace::ops LABELS ops)
