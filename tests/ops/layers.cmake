# Tests of the layers, Sequential and the model presets (one file per op).
millrace_add_test(ops_layers_test
  SOURCES linear_test.cc activation_test.cc sequential_test.cc conv2d_test.cc batchnorm_test.cc pooling_test.cc dwsep_test.cc models_test.cc init_test.cc
  DEPS millrace::ops LABELS ops)
