#include "pipelines/to_device.h"

#include "core/error.h"
#include "core/memory.h"

namespace millrace::pipelines {

namespace {

// Makes `slot` a device tensor shaped like `host`; true when that took fresh memory.
bool Fit(Tensor& slot, const Tensor& host, Device device) {
  if (slot.defined() && slot.shape() == host.shape() && slot.dtype() == host.dtype()) return false;
  slot = Tensor::Empty(host.shape(), host.dtype(), device);
  return true;
}

}  // namespace

void BatchCopier::ToDevice(Batch& batch, const DeviceContext& ctx) {
  const Device device = ctx.device();
  MILLRACE_CHECK_ARG(device.is_cuda() && ctx.stream() != nullptr,
                     "to-device runs on a CUDA device's thread, not on " << device.ToString());
  if (!copy_stream_) copy_stream_ = MakeCudaStream(device.index);
  void* copy_stream = copy_stream_.get();

  // Everything queued on the compute stream so far: the work of the batches before this one.
  std::shared_ptr<const DeviceEvent> queued = ctx.Record();
  if (batches_ > 0) ring_[(batches_ - 1) % ring_.size()].released = queued;
  Slot& slot = ring_[batches_ % ring_.size()];
  ++batches_;

  // The slot's last copy (two batches ago) is long done; waiting makes sure, then its pinned
  // sources go back to their cache.
  if (slot.copied) slot.copied->HostWait();
  slot.host_images = batch.images.Plain();
  slot.host_labels = batch.labels.Plain();

  bool fresh = Fit(slot.images, slot.host_images, device);
  fresh = Fit(slot.labels, slot.host_labels, device) || fresh;
  if (fresh) {
    queued->StreamWait(copy_stream);
  } else if (slot.released) {
    slot.released->StreamWait(copy_stream);
  }
  CopyBytesAsync(slot.images.raw_data(), device, slot.host_images.raw_data(), Device::Cpu(),
                 slot.images.nbytes(), copy_stream);
  CopyBytesAsync(slot.labels.raw_data(), device, slot.host_labels.raw_data(), Device::Cpu(),
                 slot.labels.nbytes(), copy_stream);
  slot.copied = RecordCudaEvent(copy_stream);
  ctx.WaitFor(*slot.copied);  // the compute stream's next work waits for the copy; the host not
  batch.images = slot.images.View();
  batch.labels = slot.labels.View();
}

}  // namespace millrace::pipelines
