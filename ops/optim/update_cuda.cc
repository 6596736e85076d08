// The optimizers' fused update on CUDA: host glue (kernels in update_cuda.cu). One launch per
// step over every parameter, capturable in a CUDA Graph:
// - The tensor table (pointers, sizes) and the chunk table (which block takes which elements)
//   live in device memory, uploaded only when the parameter set changes (a new set, or a
//   tensor reallocated). That upload waits for the stream first, so it must not happen while
//   the stream is being captured: capture after one eager step, as PyTorch does (a change
//   during capture throws).
// - The per-tensor scalars (lr, weight decay, momentum's first step; AdamW's step size and bias
//   correction, which move every step) are written into pinned host memory and copied to the
//   device with cudaMemcpyAsync before the launch; the kernel reads them from there, never
//   from its arguments. The pinned source is a ring of kScalarSlots buffers, each reused only
//   once the copy from it has run (an event per slot: the host waits only if it is kScalarSlots
//   updates ahead of the GPU). During a capture only the launch is recorded, not the copy: a
//   replayed graph reads whatever the device buffer holds, and before each launch of the graph
//   the step's scalars are staged into it by the same copy, queued on the stream ahead of the
//   launch (SgdUpdateAll / AdamWUpdateAll inside a StageUpdatesForReplay scope, update.h).
// The plans (tables, slots) are the calling thread's, one per device and parameter set. A
// rebuilt plan frees the tables a graph captured over it reads: recapture after a rebuild.
#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "core/cuda/cuda_check.h"
#include "core/error.h"
#include "core/memory.h"
#include "ops/cuda/context.h"
#include "ops/optim/update.h"
#include "ops/optim/update_cuda_kernels.h"

namespace millrace::ops::cuda {
namespace {

constexpr int kScalarSlots = 4;

bool SameTensor(const UpdateTensor& a, const UpdateTensor& b) {
  return a.w == b.w && a.grad == b.grad && a.state0 == b.state0 && a.state1 == b.state1 &&
         a.mask == b.mask && a.n == b.n;
}

bool StreamCapturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  MILLRACE_CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  return status != cudaStreamCaptureStatusNone;
}

// One parameter set's tables on one device. Scalars: SgdScalars or AdamWScalars.
template <typename Scalars>
class UpdatePlan {
 public:
  // Whether the plan was built for exactly these tensors.
  bool Matches(const std::vector<UpdateTensor>& tensors) const {
    return std::equal(tensors_.begin(), tensors_.end(), tensors.begin(), tensors.end(), SameTensor);
  }

  // Uploads the tensor and chunk tables (waits for the stream: not during capture).
  void Build(Device device, cudaStream_t stream, std::vector<UpdateTensor> tensors,
             const char* op) {
    MILLRACE_CHECK(!StreamCapturing(stream), ErrorKind::kCuda,
                   op << ": the parameter set changed while the stream is being captured; run "
                         "one step eagerly before capturing the training step");
    // Queued launches may still read the old tables: wait before they go.
    if (device_) MILLRACE_CUDA_CHECK(cudaStreamSynchronize(stream));
    tensors_ = std::move(tensors);
    std::vector<UpdateChunk> chunks;
    for (size_t t = 0; t < tensors_.size(); ++t) {
      for (int64_t begin = 0; begin < tensors_[t].n; begin += kUpdateChunk) {
        chunks.push_back({begin, static_cast<int32_t>(t)});
      }
    }
    MILLRACE_CHECK(chunks.size() <= static_cast<size_t>(INT32_MAX), ErrorKind::kInvalidArgument,
                   op << ": " << chunks.size() << " chunks in one update");
    num_chunks_ = static_cast<int32_t>(chunks.size());
    const size_t tensor_bytes = tensors_.size() * sizeof(UpdateTensor);
    const size_t chunk_bytes = chunks.size() * sizeof(UpdateChunk);
    scalar_bytes_ = tensors_.size() * sizeof(Scalars);
    // Device: tensors | chunks | scalars (offsets keep every table aligned to 8 bytes).
    chunk_offset_ = Align(tensor_bytes);
    scalar_offset_ = chunk_offset_ + Align(chunk_bytes);
    device_ = Storage::Allocate(scalar_offset_ + scalar_bytes_, device);
    // The pinned source of the static tables stays untouched until the next Build.
    host_tables_ = Storage::Allocate(scalar_offset_, Device::Cpu(), HostMemory::kPinned);
    auto* host = static_cast<unsigned char*>(host_tables_->data());
    std::memcpy(host, tensors_.data(), tensor_bytes);
    std::memcpy(host + chunk_offset_, chunks.data(), chunk_bytes);
    MILLRACE_CUDA_CHECK(
        cudaMemcpyAsync(device_->data(), host, scalar_offset_, cudaMemcpyHostToDevice, stream));
    for (int s = 0; s < kScalarSlots; ++s) {
      slots_[s] = Storage::Allocate(scalar_bytes_, Device::Cpu(), HostMemory::kPinned);
      if (!slot_done_[s]) slot_done_[s] = millrace::cuda::MakeEvent();
      slot_pending_[s] = false;
    }
  }

  // Copies `scalars` to the device through a free slot and launches the update; during a
  // capture only the launch (the caller stages the scalars before each launch of the graph).
  template <typename Launch>
  void Run(cudaStream_t stream, const std::vector<Scalars>& scalars, Launch launch) {
    if (num_chunks_ == 0) return;
    if (!StreamCapturing(stream)) Stage(stream, scalars);
    auto* base = static_cast<unsigned char*>(device_->data());
    launch(reinterpret_cast<const UpdateTensor*>(base),
           reinterpret_cast<const UpdateChunk*>(base + chunk_offset_),
           static_cast<const Scalars*>(DeviceScalars()), num_chunks_);
  }

  // Queues the copy of `scalars` into the device buffer the kernel reads (not during a capture).
  void Stage(cudaStream_t stream, const std::vector<Scalars>& scalars) {
    MILLRACE_CHECK(!StreamCapturing(stream), ErrorKind::kInternal,
                   "optimizer scalars staged while the stream is being captured");
    const int slot = next_slot_;
    next_slot_ = (next_slot_ + 1) % kScalarSlots;
    // The copy from this slot kScalarSlots updates ago: long done, unless the host is ahead.
    if (slot_pending_[slot]) MILLRACE_CUDA_CHECK(cudaEventSynchronize(slot_done_[slot].get()));
    std::memcpy(slots_[slot]->data(), scalars.data(), scalar_bytes_);
    MILLRACE_CUDA_CHECK(cudaMemcpyAsync(DeviceScalars(), slots_[slot]->data(), scalar_bytes_,
                                        cudaMemcpyHostToDevice, stream));
    MILLRACE_CUDA_CHECK(cudaEventRecord(slot_done_[slot].get(), stream));
    slot_pending_[slot] = true;
  }

 private:
  static size_t Align(size_t bytes) { return (bytes + 63) / 64 * 64; }
  void* DeviceScalars() { return static_cast<unsigned char*>(device_->data()) + scalar_offset_; }

  std::vector<UpdateTensor> tensors_;
  int32_t num_chunks_ = 0;
  size_t chunk_offset_ = 0, scalar_offset_ = 0, scalar_bytes_ = 0;
  std::shared_ptr<Storage> device_, host_tables_;
  std::array<std::shared_ptr<Storage>, kScalarSlots> slots_;
  std::array<millrace::cuda::Event, kScalarSlots> slot_done_;
  std::array<bool, kScalarSlots> slot_pending_{};
  int next_slot_ = 0;
};

// The calling thread's plan for this device and parameter set (keyed by the device and the
// first weight; Matches decides whether its tables still hold).
template <typename Scalars>
UpdatePlan<Scalars>& PlanFor(Device device, const std::vector<UpdateTensor>& tensors) {
  thread_local std::map<std::tuple<int, const float*, size_t>, UpdatePlan<Scalars>> plans;
  return plans[{device.index, tensors.front().w, tensors.size()}];
}

float* UpdatePointer(Tensor* t) {
  return t == nullptr ? nullptr : static_cast<float*>(t->raw_data());
}
const float* UpdatePointer(const Tensor* t) {
  return t == nullptr ? nullptr : static_cast<const float*>(t->raw_data());
}

std::vector<UpdateTensor> SgdTensors(std::span<const SgdUpdateTask> tasks) {
  std::vector<UpdateTensor> tensors;
  tensors.reserve(tasks.size());
  for (const SgdUpdateTask& t : tasks) {
    // The momentum buffer only when the update reads it (momentum 0 may pass none).
    Tensor* buffer = t.config.momentum != 0 ? t.momentum_buffer : nullptr;
    tensors.push_back({UpdatePointer(t.w), UpdatePointer(t.grad), UpdatePointer(buffer), nullptr,
                       UpdatePointer(t.mask), t.w->numel()});
  }
  return tensors;
}

std::vector<SgdScalars> SgdScalarsOf(std::span<const SgdUpdateTask> tasks) {
  std::vector<SgdScalars> scalars;
  scalars.reserve(tasks.size());
  for (const SgdUpdateTask& t : tasks) {
    const SgdUpdateConfig& c = t.config;
    scalars.push_back(
        {c.lr, c.weight_decay, c.momentum, c.damp, c.nesterov ? 1 : 0, c.first_step ? 1 : 0});
  }
  return scalars;
}

std::vector<UpdateTensor> AdamWTensors(std::span<const AdamWUpdateTask> tasks) {
  std::vector<UpdateTensor> tensors;
  tensors.reserve(tasks.size());
  for (const AdamWUpdateTask& t : tasks) {
    tensors.push_back({UpdatePointer(t.w), UpdatePointer(t.grad), UpdatePointer(t.m),
                       UpdatePointer(t.v), UpdatePointer(t.mask), t.w->numel()});
  }
  return tensors;
}

std::vector<AdamWScalars> AdamWScalarsOf(std::span<const AdamWUpdateTask> tasks) {
  std::vector<AdamWScalars> scalars;
  scalars.reserve(tasks.size());
  for (const AdamWUpdateTask& t : tasks) {
    const AdamWUpdateConfig& c = t.config;
    scalars.push_back({c.decay, c.beta1, c.beta2, c.step_size, c.inv_sqrt_c2, c.eps});
  }
  return scalars;
}

// The plan of these tasks, built (or rebuilt) when their tensors changed.
template <typename Scalars>
UpdatePlan<Scalars>& ReadyPlan(Device device, cudaStream_t stream,
                               std::vector<UpdateTensor> tensors, const char* op) {
  UpdatePlan<Scalars>& plan = PlanFor<Scalars>(device, tensors);
  if (!plan.Matches(tensors)) plan.Build(device, stream, std::move(tensors), op);
  return plan;
}

}  // namespace

void SgdUpdateAll(std::span<const SgdUpdateTask> tasks) {
  const Device device = tasks[0].w->device();
  cudaStream_t stream = Stream(device);
  UpdatePlan<SgdScalars>& plan =
      ReadyPlan<SgdScalars>(device, stream, SgdTensors(tasks), "SgdUpdate");
  plan.Run(stream, SgdScalarsOf(tasks), [&](auto... tables) {
    LaunchSgdUpdateAll(tables..., stream);
    MILLRACE_CUDA_LAUNCH_CHECK("SgdUpdateAll");
  });
}

void AdamWUpdateAll(std::span<const AdamWUpdateTask> tasks) {
  const Device device = tasks[0].w->device();
  cudaStream_t stream = Stream(device);
  UpdatePlan<AdamWScalars>& plan =
      ReadyPlan<AdamWScalars>(device, stream, AdamWTensors(tasks), "AdamWUpdate");
  plan.Run(stream, AdamWScalarsOf(tasks), [&](auto... tables) {
    LaunchAdamWUpdateAll(tables..., stream);
    MILLRACE_CUDA_LAUNCH_CHECK("AdamWUpdateAll");
  });
}

void StageSgdUpdateForReplay(std::span<const SgdUpdateTask> tasks) {
  if (tasks.empty()) return;
  const Device device = tasks[0].w->device();
  cudaStream_t stream = Stream(device);
  const std::vector<UpdateTensor> tensors = SgdTensors(tasks);
  UpdatePlan<SgdScalars>& plan = PlanFor<SgdScalars>(device, tensors);
  MILLRACE_CHECK(plan.Matches(tensors), ErrorKind::kInvalidArgument,
                 "SgdUpdate: staged for a replay, but these parameters are not the captured ones");
  plan.Stage(stream, SgdScalarsOf(tasks));
}

void StageAdamWUpdateForReplay(std::span<const AdamWUpdateTask> tasks) {
  if (tasks.empty()) return;
  const Device device = tasks[0].w->device();
  cudaStream_t stream = Stream(device);
  const std::vector<UpdateTensor> tensors = AdamWTensors(tasks);
  UpdatePlan<AdamWScalars>& plan = PlanFor<AdamWScalars>(device, tensors);
  MILLRACE_CHECK(
      plan.Matches(tensors), ErrorKind::kInvalidArgument,
      "AdamWUpdate: staged for a replay, but these parameters are not the captured ones");
  plan.Stage(stream, AdamWScalarsOf(tasks));
}

}  // namespace millrace::ops::cuda
