// Launchers of the pruning kernels on CUDA (mask_cuda.cu, ranking_cuda.cu): raw pointers, sizes
// and a stream, shared by the C++20 host glue (mask_cuda.cc, ranking_cuda.cc) and the C++17 .cu.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace millrace::ops::cuda {

// x[i] *= mask[i], i < n.
void LaunchMaskMultiply(float* x, const float* mask, int64_t n, cudaStream_t stream);
// *zeros += #{i < n : x[i] == 0} (*zeros must be set before the launch).
void LaunchCountZeros(const float* x, int64_t n, unsigned long long* zeros, cudaStream_t stream);

// scores[i] = |value[i]|, i < n.
void LaunchAbs(const float* value, int64_t n, float* scores, cudaStream_t stream);
// The positions base + i of the entries i < n with mask[i] != 0, in order, into
// index[0, *count), and their |value[i]| into scores[0, *count): CUB's DeviceSelect. temp: CUB's
// scratch; with temp == nullptr only *temp_bytes is set (CUB's two-phase call). Returns CUB's
// status; the gather after it is a launch to check as usual.
cudaError_t LaunchSelectUnmasked(const float* value, const float* mask, int64_t n, int64_t base,
                                 int64_t* index, float* scores, int64_t* count, void* temp,
                                 size_t* temp_bytes, cudaStream_t stream);
// Per channel c < channels (rows of per_channel elements): out[2c] = the sum of value^2 in
// double, out[2c + 1] = 1 when the channel has a mask entry != 0 (or mask is null), else 0.
void LaunchChannelSquares(const float* value, const float* mask, int64_t channels,
                          int64_t per_channel, double* out, cudaStream_t stream);

// CUB's radix sort of (score, position) pairs by score, ascending and stable (NaN last: the
// scores are |w|, so every NaN is a positive one). Two-phase like LaunchSelectUnmasked.
cudaError_t LaunchSortScores(const float* scores, float* sorted_scores, const int64_t* positions,
                             int64_t* sorted_positions, int64_t n, void* temp, size_t* temp_bytes,
                             cudaStream_t stream);
// masks[t][p - first[t]] = 0 for each of the k positions p, t the parameter with
// first[t] <= p < first[t + 1] (first: parameters + 1 entries, ascending).
void LaunchZeroSelected(const int64_t* positions, int64_t k, float* const* masks,
                        const int64_t* first, int32_t parameters, cudaStream_t stream);

}  // namespace millrace::ops::cuda
