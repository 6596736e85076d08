// The to-device stage's work: a collated batch, in pinned host memory, into device memory.
//
//   auto copier = std::make_shared<BatchCopier>();
//   g.Map<StepItem>("to-device", Gpu(0), [copier](StepItem&& item, DeviceContext& ctx) {
//     copier->ToDevice(item.batch, ctx);  // queues the copy; the host does not wait
//     return std::move(item);
//   });
//
// The copy runs on a stream of its own, so that it overlaps the compute stream's work on the
// batches before; the compute stream waits for it (an event), the host does not. The device
// buffers are a ring of two slots owned by the copier: the slot of batch k+1 was batch k-1's,
// and its copy waits (on the copy stream) until the compute stream has passed everything queued
// for batch k-1. A pinned host batch is released when its slot comes round again, once its copy
// is known done. A shape change (the last, partial batch) takes fresh device memory, whose copy
// waits for all queued compute work: the caching allocator may hand back a block that work
// still reads.
//
// Thread safety: one copier per device thread (the stage's body runs on it alone).
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "core/device_stream.h"
#include "core/graph/device_context.h"
#include "core/tensor.h"
#include "pipelines/step.h"

namespace millrace::pipelines {

class BatchCopier {
 public:
  // Replaces batch.images and batch.labels by device copies on ctx.device() (a CUDA device),
  // ordered before the work ctx's stream gets next.
  void ToDevice(Batch& batch, const DeviceContext& ctx);

 private:
  struct Slot {
    Tensor images, labels;                        // on the device
    Tensor host_images, host_labels;              // the pinned sources, kept until `copied`
    std::shared_ptr<const DeviceEvent> copied;    // the copy into this slot is done
    std::shared_ptr<const DeviceEvent> released;  // the compute stream is done with the slot
  };

  std::shared_ptr<void> copy_stream_;
  std::array<Slot, 2> ring_;
  int64_t batches_ = 0;
};

}  // namespace millrace::pipelines
