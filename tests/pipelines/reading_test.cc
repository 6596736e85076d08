// Asynchronous reads in training: an image tree and tar shards, read ahead through the
// AsyncReader (io_uring, and the pread pool), train to the same weights, bit for bit, as the
// plain loop that reads each record sequentially in the same order; the reads in flight stay
// within the bound; a file that can't be read fails the graph at the stage `read`, naming it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "io/convert.h"
#include "io/idx.h"
#include "io/image_folder.h"
#include "ops/cpu/dnnl_context.h"
#include "ops/compute_thread.h"
#include "pipelines/reference_loop.h"
#include "pipelines/training.h"
#include "tests/common/same_bits.h"

namespace millrace::pipelines {
namespace {

namespace fs = std::filesystem;

using testing::SameBits;

void ExpectSameWeights(TrainingPipeline& a, TrainingPipeline& b) {
  std::vector<ops::Parameter*> pa = a.model().Parameters(), pb = b.model().Parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(SameBits(pa[i]->value, pb[i]->value)) << pa[i]->name << " differs";
  }
  ops::OptimizerState sa = a.state().optimizer->ExportState();
  ops::OptimizerState sb = b.state().optimizer->ExportState();
  ASSERT_EQ(sa.tensors.size(), sb.tensors.size());
  for (size_t i = 0; i < sa.tensors.size(); ++i) {
    EXPECT_TRUE(SameBits(sa.tensors[i].second, sb.tensors[i].second)) << sa.tensors[i].first;
  }
}

// Sets MILLRACE_IO_URING for the scope (the AsyncReader's kAuto reads it).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The first 384 Fashion-MNIST training images as an image tree (JPEG) and as tar shards (PNG,
// 100 per shard), written once for the suite.
class ReadingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(fs::path(kDefaultDataDir) / "train-images-idx3-ubyte.gz")) return;
    std::random_device rd;
    root_ = new fs::path(fs::temp_directory_path() /
                         ("millrace-reading-test-" + std::to_string(rd()) + std::to_string(rd())));
    const io::IdxDataset fmnist = io::IdxDataset::FashionMnist("train", kDefaultDataDir);
    io::WriteImageTree(fmnist, (*root_ / "tree" / "train").string(), {.limit = 384});
    io::WriteTarShards(fmnist, (*root_ / "tar" / "train").string(),
                       {.format = io::ImageFormat::kPng, .samples_per_shard = 100, .limit = 384});
  }
  static void TearDownTestSuite() {
    if (root_ == nullptr) return;
    std::error_code ec;
    fs::remove_all(*root_, ec);
    delete root_;
    root_ = nullptr;
  }
  void SetUp() override {
    if (root_ == nullptr) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  }

  // mlp-small, batch 32 over 384 records (12 steps an epoch), 3 epochs, augmented, from `format`.
  static TrainConfig Config(const std::string& format) {
    TrainConfig c;
    c.model = "mlp-small";
    c.data_format = format;
    c.data_dir = (*root_ / (format == "folder" ? "tree" : "tar")).string();
    c.batch_size = 32;
    c.epochs = 3;
    c.seed = 11;
    c.deterministic = true;
    c.compute_threads = 1;
    c.eval_each_epoch = false;
    c.augment = true;
    c.concurrency["augment"] = 2;
    c.read_ahead = 16;  // well below an epoch: the read-ahead crosses epoch boundaries
    return c;
  }

  // The graph (asynchronous reads) and the plain loop (sequential reads) from the same start.
  static void ExpectGraphMatchesPlainLoop(const TrainConfig& c) {
    TrainingPipeline graph(c);
    EXPECT_EQ(graph.Run().steps, 36);
    TrainingPipeline reference(c);
    ops::InitComputeThread(Device::Cpu(), 1);
    const DataSource train = DataSource::Open(c, Split::kTrain);
    const std::vector<double> losses = ReferenceTrain(train, reference.state(), c.epochs);
    ASSERT_EQ(losses.size(), 36u);
    ExpectSameWeights(graph, reference);
  }

  static fs::path* root_;
};

fs::path* ReadingTest::root_ = nullptr;

TEST_F(ReadingTest, ImageTreeTrainsToThePlainLoopsWeightsThroughIoUringAndPread) {
  ExpectGraphMatchesPlainLoop(Config("folder"));
  ScopedEnv pread("MILLRACE_IO_URING", "0");
  EXPECT_FALSE(DataSource::Open(Config("folder"), Split::kTrain).OpenReader(1, 1)->uses_io_uring());
  ExpectGraphMatchesPlainLoop(Config("folder"));
}

TEST_F(ReadingTest, TarShardsTrainToThePlainLoopsWeightsThroughIoUringAndPread) {
  ExpectGraphMatchesPlainLoop(Config("tar"));
  ScopedEnv pread("MILLRACE_IO_URING", "0");
  ExpectGraphMatchesPlainLoop(Config("tar"));
}

// The reader of the graph's read stage: the epochs' order with (epoch, position) tags, bytes
// that decode to what Read gives, and never more than the depth in flight.
TEST_F(ReadingTest, SampleReaderFollowsTheEpochOrderWithinItsDepth) {
  for (const std::string format : {"folder", "tar"}) {
    for (io::ReadBackend backend : {io::ReadBackend::kAuto, io::ReadBackend::kPread}) {
      TrainConfig c = Config(format);
      c.validation = format == "tar" ? 64 : 0;  // a split that starts past record 0
      const DataSource train = DataSource::Open(c, Split::kTrain);
      const int64_t per_epoch = train.samples_per_epoch();
      const int64_t count = 2 * per_epoch + 40;  // into epoch 4, starting at epoch 2
      auto reader = train.OpenReader(2, count, {.prefetch_depth = 24, .backend = backend});
      EXPECT_LE(reader->records().in_flight(), 24);
      int64_t k = 0;
      std::vector<int64_t> order;
      while (std::optional<RawSample> raw = reader->Next()) {
        const int epoch = 2 + static_cast<int>(k / per_epoch);
        const int64_t pos = k % per_epoch;
        if (pos == 0) {
          order.clear();
          for (const auto& b : train.EpochBatches(epoch))
            order.insert(order.end(), b.begin(), b.end());
        }
        ASSERT_EQ(raw->epoch, epoch);
        ASSERT_EQ(raw->pos, pos);
        ASSERT_EQ(raw->record.index, train.first() + order[static_cast<size_t>(pos)]);
        EXPECT_FALSE(raw->record.bytes.empty());
        EXPECT_LE(reader->records().in_flight(), 24);
        const io::Sample decoded = train.Decode(raw->record);
        const io::Sample plain = train.Read(order[static_cast<size_t>(pos)]);
        ASSERT_EQ(decoded.index, plain.index);
        ASSERT_TRUE(SameBits(decoded.image, plain.image)) << k;
        ++k;
      }
      EXPECT_EQ(k, count);
      EXPECT_EQ(reader->records().max_in_flight(), 24);
    }
  }
}

TEST_F(ReadingTest, AFileGoneMidRunFailsTheGraphAtTheReadStageNamingIt) {
  const fs::path copy = *root_ / "tree-copy";
  fs::copy(*root_ / "tree", copy, fs::copy_options::recursive);
  TrainConfig c = Config("folder");
  c.data_dir = copy.string();
  TrainingPipeline graph(c);  // the tree is scanned here
  const io::ImageFolderDataset tree((copy / "train").string());
  const std::string gone = tree.file(200).path;
  fs::remove(gone);
  try {
    graph.Run();
    ADD_FAILURE() << "training went on without " << gone;
  } catch (const Error& e) {
    EXPECT_EQ(e.stage(), "read") << e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kIo) << e.what();
    EXPECT_EQ(e.file(), gone) << e.what();
    EXPECT_EQ(e.record(), 200) << e.what();
  }
}

}  // namespace
}  // namespace millrace::pipelines
