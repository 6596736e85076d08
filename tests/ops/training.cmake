# Tests of losses, optimizers, learning-rate schedules, pruning and checkpoints.
millrace_add_test(ops_loss_test SOURCES loss_test.cc DEPS millrace::ops LABELS ops)
millrace_add_test(ops_optim_test SOURCES optim_test.cc lr_schedule_test.cc DEPS millrace::ops LABELS ops)
millrace_add_test(ops_prune_test SOURCES prune_test.cc DEPS millrace::ops LABELS ops)
millrace_add_test(ops_checkpoint_test SOURCES checkpoint_test.cc DEPS millrace::ops LABELS ops)
millrace_add_test(ops_train_test SOURCES train_test.cc DEPS millrace::ops LABELS ops)
millrace_add_test(ops_shrink_test SOURCES shrink_test.cc DEPS millrace::ops LABELS ops)
# The CUDA kernels' own behaviour (graph replay of the optimizer, top-k ties on the device, ...):
# only in a build with the CUDA backend; skips without a GPU.
if(MILLRACE_HAVE_CUDA)
  millrace_add_test(ops_cuda_kernels_test SOURCES cuda_kernels_test.cc DEPS millrace::ops
    LABELS ops gpu)
endif()
