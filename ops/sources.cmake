# Sources of millrace_ops, relative to ops/. Layers and models list theirs in layers.cmake;
# losses, optimizers, pruning and checkpoints in training.cmake. CUDA sources go in
# MILLRACE_OPS_CUDA_SOURCES.
set(MILLRACE_OPS_SOURCES)
set(MILLRACE_OPS_CUDA_SOURCES)
include(${CMAKE_CURRENT_LIST_DIR}/layers.cmake OPTIONAL)
include(${CMAKE_CURRENT_LIST_DIR}/training.cmake OPTIONAL)
# The CUDA backend's shared parts: per-thread streams, handles and workspace; registration.
list(APPEND MILLRACE_OPS_CUDA_SOURCES cuda/context.cc cuda/readback.cc cuda/register.cc cuda/bf16.cc)
