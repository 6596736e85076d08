# The graph runtime's tests (core/graph/). Sanitizer builds scale the big item counts down.
millrace_add_test(graph_flow_test SOURCES graph_flow_test.cc DEPS millrace::core LABELS core TIMEOUT 300)
millrace_add_test(graph_errors_test SOURCES graph_errors_test.cc DEPS millrace::core LABELS core TIMEOUT 120)
millrace_add_test(graph_control_test SOURCES graph_control_test.cc DEPS millrace::core LABELS core TIMEOUT 120)
millrace_add_test(graph_device_test SOURCES graph_device_test.cc DEPS millrace::core LABELS core TIMEOUT 300)
