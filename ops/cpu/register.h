// The CPU backend's registration: puts the CPU kernels of every op into the op's KernelTable.
// Called once by RegisterBackends() (ops/kernel_table.h); explicit, because a static library
// drops self-registering static initialisers.
#pragma once

namespace millrace::ops::cpu {

void RegisterCpuKernels();

}  // namespace millrace::ops::cpu
