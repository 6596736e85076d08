#include "core/tensor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "core/device_graph.h"
#include "core/device_stream.h"
#include "core/error.h"
#include "core/memory.h"

namespace millrace {
namespace {

TEST(Tensor, EmptyHasShapeDtypeAndAlignedStorage) {
  Tensor t = Tensor::Empty({2, 3, 4}, DType::kI32);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.dim(-1), 4);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % kHostAlignment, 0u);
  EXPECT_TRUE(t.device().is_cpu());
}

TEST(Tensor, TypedAccessChecksDtype) {
  Tensor t = Tensor::Zeros({4}, DType::kU8);
  EXPECT_NO_THROW(t.data<uint8_t>());
  EXPECT_THROW(t.data<float>(), Error);
}

TEST(Tensor, CloneIsDeepAndViewsShare) {
  Tensor a = Tensor::FromVector({2, 2}, {1, 2, 3, 4});
  Tensor b = a.Clone();
  Tensor v = a.Reshape({4});
  b.data<float>()[0] = 10;
  v.data<float>()[1] = 20;
  EXPECT_FLOAT_EQ(a.data<float>()[0], 1);
  EXPECT_FLOAT_EQ(a.data<float>()[1], 20);
  EXPECT_TRUE(v.SharesStorageWith(a));
  EXPECT_FALSE(b.SharesStorageWith(a));
}

TEST(Tensor, SliceViewsRows) {
  Tensor a = Tensor::FromVector({3, 2}, {0, 1, 2, 3, 4, 5});
  Tensor s = a.Slice(1, 3);
  ASSERT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_FLOAT_EQ(s.data<float>()[0], 2);
  EXPECT_FLOAT_EQ(s.data<float>()[3], 5);
  EXPECT_THROW(a.Slice(2, 4), Error);
}

TEST(Tensor, ReshapeInfersOneDimensionAndRejectsBadCounts) {
  Tensor a = Tensor::Zeros({4, 6});
  EXPECT_EQ(a.Reshape({-1, 3}).shape(), (Shape{8, 3}));
  EXPECT_THROW(a.Reshape({5, -1}), Error);
  EXPECT_THROW(a.Reshape({-1, -1}), Error);
}

TEST(Tensor, CudaTensorWithoutDeviceSaysWhy) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a CUDA device answers; this checks its absence";
  try {
    Tensor::Empty({4}, DType::kF32, Device::Cuda(0));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCuda);
  }
}

TEST(Tensor, CudaRoundTrip) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << CudaUnavailableReason();
  Tensor a = Tensor::FromVector({3}, {1, 2, 3});
  Tensor g = a.To(Device::Cuda(0));
  Tensor back = g.To(Device::Cpu());
  EXPECT_EQ(back.data<float>()[2], 3);
}

// The caching allocator: a freed block is reused for the same size, so a loop that allocates
// the same shapes a thousand times calls cudaMalloc only in its first round, and in_use and
// cached end where they were after it.
TEST(CudaMemory, ReusesBlocksAndStopsGrowingAfterTheFirstRound) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << CudaUnavailableReason();
  auto round = [] {
    Tensor a = Tensor::Empty({256, 1024}, DType::kF32, Device::Cuda(0));
    Tensor b = Tensor::Zeros({128, 28, 28}, DType::kF32, Device::Cuda(0));
    Tensor c = Tensor::Empty({77}, DType::kI64, Device::Cuda(0));
    return a.nbytes() + b.nbytes() + c.nbytes();
  };
  const DeviceMemoryStats before = CudaMemoryStats(0);
  round();
  const DeviceMemoryStats first = CudaMemoryStats(0);
  EXPECT_EQ(first.in_use, before.in_use);
  EXPECT_GE(first.peak_in_use, before.in_use + 256 * 1024 * 4);
  for (int i = 0; i < 1000; ++i) round();
  const DeviceMemoryStats after = CudaMemoryStats(0);
  EXPECT_EQ(after.device_allocations, first.device_allocations);
  EXPECT_EQ(after.in_use, first.in_use);
  EXPECT_EQ(after.cached, first.cached);
}

// Zero() queues a fill on the thread's stream; a copy back after it reads zeros (the two are
// ordered on one stream).
TEST(CudaMemory, ZeroIsOrderedWithTheCopyBack) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << CudaUnavailableReason();
  Tensor t = Tensor::FromVector({4}, {1, 2, 3, 4}).To(Device::Cuda(0));
  t.Zero();
  Tensor back = t.To(Device::Cpu());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(back.data<float>()[i], 0.0f);
}

// Asking for more than the device has: Error(kCuda) naming the device, the bytes asked for,
// those in use and cached, and the flag that helps.
TEST(CudaMemory, OutOfMemoryNamesTheBytesAndTheBatchSize) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << CudaUnavailableReason();
  try {
    Tensor huge = Tensor::Empty({int64_t{1} << 40}, DType::kF32, Device::Cuda(0));  // 4 TiB
    FAIL() << "4 TiB were allocated";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCuda);
    const std::string m = e.message();
    EXPECT_NE(m.find("cuda:0 out of memory: 4096.00 GiB asked for"), std::string::npos) << m;
    EXPECT_NE(m.find("in use by tensors"), std::string::npos) << m;
    EXPECT_NE(m.find("cached"), std::string::npos) << m;
    EXPECT_NE(m.find("--batch-size"), std::string::npos) << m;
  }
  Tensor small = Tensor::Zeros({16}, DType::kF32, Device::Cuda(0));  // the device still works
  EXPECT_EQ(small.To(Device::Cpu()).data<float>()[15], 0.0f);
}

// A captured copy chain replays with the values its sources hold at replay time, and the block
// the capture took stays the graph's after its tensor is gone (no other tensor gets it).
TEST(CudaGraph, ReplaysTheCapturedWorkAndKeepsItsBlocks) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << CudaUnavailableReason();
  const Device gpu = Device::Cuda(0);
  void* stream = CurrentCudaStream(0);
  Tensor src = Tensor::FromVector({4}, {1, 2, 3, 4}).To(gpu);
  Tensor dst = Tensor::Zeros({4}, DType::kF32, gpu);
  BeginDeviceCapture(stream);
  Tensor tmp = Tensor::Empty({4}, DType::kF32, gpu);
  const void* tmp_block = tmp.raw_data();
  CopyBytesAsync(tmp.raw_data(), gpu, src.raw_data(), gpu, src.nbytes(), stream);
  CopyBytesAsync(dst.raw_data(), gpu, tmp.raw_data(), gpu, tmp.nbytes(), stream);
  std::unique_ptr<DeviceGraph> graph = EndDeviceCapture(stream);
  EXPECT_EQ(dst.To(Device::Cpu()).data<float>()[3], 0.0f);  // the capture ran nothing
  tmp = Tensor();
  Tensor other = Tensor::Empty({4}, DType::kF32, gpu);
  EXPECT_NE(other.raw_data(), tmp_block);
  graph->Launch(stream);
  EXPECT_EQ(dst.To(Device::Cpu()).data<float>()[3], 4.0f);
  src.CopyFrom(Tensor::FromVector({4}, {5, 6, 7, 8}));
  graph->Launch(stream);
  const Tensor back = dst.To(Device::Cpu());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(back.data<float>()[i], 5.0f + i);
}

TEST(Device, ParsesAndPrints) {
  EXPECT_EQ(Device::Parse("cpu"), Device::Cpu());
  EXPECT_EQ(Device::Parse("cuda:1"), Device::Cuda(1));
  EXPECT_EQ(Device::Cuda(2).ToString(), "cuda:2");
  EXPECT_THROW(Device::Parse("tpu"), Error);
  EXPECT_THROW(Device::Parse("cuda:x"), Error);
}

}  // namespace
}  // namespace millrace
