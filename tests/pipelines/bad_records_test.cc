// Records that fail to decode while the graph trains (a JPEG cut short, a file that is no
// image, a PNG inside a tar shard with damaged bytes) follow --on-bad-record: fail ends the run
// at the stage `augment`, naming the file (and tar entry); skip drops the sample from its batch,
// counts it in the stage's statistics, describes it in the SkipLog, and trains bit for bit as
// the plain loop that skips the same records; more than --max-bad-share ends the run.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "io/convert.h"
#include "io/idx.h"
#include "io/image_folder.h"
#include "io/record.h"
#include "ops/checkpoint/safetensors.h"
#include "ops/compute_thread.h"
#include "ops/models.h"
#include "pipelines/evaluation.h"
#include "pipelines/reference_loop.h"
#include "pipelines/training.h"
#include "tests/common/same_bits.h"

namespace millrace::pipelines {
namespace {

namespace fs = std::filesystem;

using testing::SameBits;

// Overwrites `count` bytes of `path` from `offset` with 0x5a.
void Damage(const fs::path& path, std::streamoff offset, size_t count) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(offset);
  const std::string junk(count, '\x5a');
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

// The first 256 Fashion-MNIST training images as an image tree (JPEG) and as tar shards (PNG,
// 128 per shard), and 128 test images as a tree; three training files and one test file made
// undecodable (not the trees' first files, which set the image size).
class BadRecords : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!fs::exists(fs::path(kDefaultDataDir) / "train-images-idx3-ubyte.gz")) return;
    std::random_device rd;
    root_ = new fs::path(fs::temp_directory_path() /
                         ("millrace-bad-records-" + std::to_string(rd()) + std::to_string(rd())));
    const io::IdxDataset train = io::IdxDataset::FashionMnist("train", kDefaultDataDir);
    const io::IdxDataset test = io::IdxDataset::FashionMnist("test", kDefaultDataDir);
    io::WriteImageTree(train, (*root_ / "tree" / "train").string(), {.limit = 256});
    io::WriteImageTree(test, (*root_ / "tree" / "test").string(), {.limit = 128});
    io::WriteTarShards(train, (*root_ / "tar" / "train").string(),
                       {.format = io::ImageFormat::kPng, .samples_per_shard = 128, .limit = 256});
    const io::ImageFolderDataset tree((*root_ / "tree" / "train").string());
    // A JPEG cut in half, one overwritten with text, one whose scan data is garbage.
    bad_files_ = new std::vector<std::string>{tree.file(40).path, tree.file(130).path,
                                              tree.file(201).path};
    fs::resize_file((*bad_files_)[0], fs::file_size((*bad_files_)[0]) / 2);
    std::ofstream((*bad_files_)[1], std::ios::trunc) << "this is not an image\n";
    Damage((*bad_files_)[2], 0, 4);  // no JPEG magic left
    const io::ImageFolderDataset test_tree((*root_ / "tree" / "test").string());
    fs::resize_file(test_tree.file(77).path, 100);
  }
  static void TearDownTestSuite() {
    if (root_ == nullptr) return;
    std::error_code ec;
    fs::remove_all(*root_, ec);
    delete root_;
    delete bad_files_;
    root_ = nullptr;
  }
  void SetUp() override {
    if (root_ == nullptr) GTEST_SKIP() << "Fashion-MNIST is not installed at " << kDefaultDataDir;
  }

  static TrainConfig Config(bool skip) {
    TrainConfig c;
    c.model = "mlp-small";
    c.data_format = "folder";
    c.data_dir = (*root_ / "tree").string();
    c.batch_size = 32;
    c.epochs = 2;
    c.seed = 5;
    c.deterministic = true;
    c.compute_threads = 1;
    c.eval_each_epoch = false;
    c.augment = true;
    c.concurrency["augment"] = 2;
    c.read_ahead = 16;
    if (skip) c.bad_records = std::make_shared<io::SkipLog>();
    c.max_bad_share = 0.02;
    return c;
  }

  static fs::path* root_;
  static std::vector<std::string>* bad_files_;
};
fs::path* BadRecords::root_ = nullptr;
std::vector<std::string>* BadRecords::bad_files_ = nullptr;

TEST_F(BadRecords, FailStopsAtAugmentNamingTheFile) {
  TrainingPipeline p(Config(/*skip=*/false));
  try {
    p.Run();
    FAIL() << "an undecodable image was trained on";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
    EXPECT_EQ(e.stage(), "augment") << e.what();
    bool named = false;
    for (const std::string& f : *bad_files_) named = named || std::string(e.what()).find(f) != std::string::npos;
    EXPECT_TRUE(named) << e.what();
  }
}

TEST_F(BadRecords, SkipDropsCountsListsAndTrainsAsThePlainLoop) {
  const TrainConfig c = Config(/*skip=*/true);
  TrainingPipeline p(c);
  const TrainResult r = p.Run();
  EXPECT_EQ(r.steps, 16);
  // Each bad file is read once per epoch: skipped twice, described once.
  int64_t augment_skipped = -1;
  for (const StageFigures& s : r.stages) {
    if (s.name == "augment") augment_skipped = s.skipped;
  }
  EXPECT_EQ(augment_skipped, 6);
  EXPECT_NE(r.stage_report.find("skipped"), std::string::npos) << r.stage_report;
  ASSERT_EQ(c.bad_records->count(), 3);
  const std::vector<std::string> messages = c.bad_records->messages();
  for (const std::string& f : *bad_files_) {
    bool listed = false;
    for (const std::string& m : messages) listed = listed || m.find(f) != std::string::npos;
    EXPECT_TRUE(listed) << f << " is not in the skip log: " << c.bad_records->Summary();
  }

  // The plain loop, skipping the same records through DataSource::MakeBatch: the same weights.
  TrainConfig rc = c;
  rc.bad_records = std::make_shared<io::SkipLog>();
  TrainingPipeline reference(rc);
  ops::InitComputeThread(Device::Cpu(), 1);
  const DataSource train = DataSource::Open(rc, Split::kTrain);
  ReferenceTrain(train, reference.state(), rc.epochs);
  EXPECT_EQ(train.bad_records(), 3);
  std::vector<ops::Parameter*> pa = p.model().Parameters(), pb = reference.model().Parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(SameBits(pa[i]->value, pb[i]->value)) << pa[i]->name << " differs";
  }
}

TEST_F(BadRecords, SkipAlsoPassesOverABadTestImage) {
  TrainConfig c = Config(/*skip=*/true);
  c.epochs = 1;
  c.eval_each_epoch = true;
  c.max_bad_share = 0.05;
  const TrainResult r = TrainingPipeline(c).Run();
  ASSERT_TRUE(r.final_test.has_value());
  EXPECT_EQ(r.final_test->samples(), 127);
  EXPECT_EQ(c.bad_records->count(), 4);
}

// The evaluation graph (`millrace eval`) skips the bad test image as the plain evaluation does,
// and names it under fail.
TEST_F(BadRecords, TheEvaluationGraphSkipsAsThePlainEvaluation) {
  TrainConfig c = Config(/*skip=*/true);
  c.max_bad_share = 0.05;
  ops::Sequential model = ops::MakeModel(c.model, c.seed);
  ops::InitComputeThread(Device::Cpu(), 1);
  const DataSource test = DataSource::Open(c, Split::kTest);
  const EvalResult graph = EvaluateGraph(model, test);
  EXPECT_EQ(graph.metrics.samples(), 127);
  ASSERT_EQ(c.bad_records->count(), 1) << c.bad_records->Summary();
  const ClassificationMetrics plain = EvaluatePlain(model, test);
  EXPECT_EQ(graph.metrics.correct(), plain.correct());
  EXPECT_EQ(graph.metrics.MeanLoss(), plain.MeanLoss());
  EXPECT_EQ(c.bad_records->count(), 1) << "described twice: " << c.bad_records->Summary();

  const TrainConfig fail = Config(/*skip=*/false);
  const DataSource strict = DataSource::Open(fail, Split::kTest);
  try {
    EvaluateGraph(model, strict);
    FAIL() << "an undecodable test image was evaluated";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
    EXPECT_EQ(e.stage(), "read") << e.what();
    EXPECT_NE(std::string(e.what()).find("record 77"), std::string::npos) << e.what();
  }

  c.max_bad_share = 0.005;  // 1 of 128 is more than 0.5%
  c.bad_records = std::make_shared<io::SkipLog>();
  const DataSource over = DataSource::Open(c, Split::kTest);
  EXPECT_THROW(EvaluateGraph(model, over), Error);
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// A run interrupted after the batch that holds its first bad record, then resumed, lists and
// counts the records skipped before the interruption too (the checkpoint keeps them): the same
// as the run that went straight through. A checkpoint without that list (written before it was
// kept) still resumes, counting only what the resumed run meets.
TEST_F(BadRecords, AResumedRunListsAndCountsTheRecordsSkippedBeforeIt) {
  TrainConfig c = Config(/*skip=*/true);
  c.epochs = 1;
  TrainingPipeline(c).Run();
  ASSERT_EQ(c.bad_records->count(), 3);
  const std::vector<std::string> straight = Sorted(c.bad_records->messages());

  // The batch of the first bad record in epoch 1's order: interrupt after it, so that the
  // resumed run (which starts at the next batch) does not read it again.
  const DataSource train = DataSource::Open(Config(/*skip=*/true), Split::kTrain);
  const io::EpochOrder order = train.EpochOrder(1);
  int64_t first_bad = order.size();
  for (int64_t pos = 0; pos < order.size(); ++pos) {
    const int64_t index = order[pos];
    if (index == 40 || index == 130 || index == 201) first_bad = std::min(first_bad, pos);
  }
  const int64_t stop = first_bad / c.batch_size + 1;  // the checkpoint's step
  ASSERT_LT(stop, train.batches_per_epoch()) << "the first bad record is in the last batch";

  const fs::path dir = *root_ / "resume-checkpoints";
  for (bool keep_list : {true, false}) {
    fs::remove_all(dir);
    TrainConfig first = Config(/*skip=*/true);
    first.epochs = 1;
    first.checkpoint_dir = dir.string();
    std::atomic<bool> interrupt{false};
    TrainingPipeline interrupted(first);
    interrupted.InsertBefore("forward", MakeComputeStage("signal", [&](StepItem&, TrainState& s) {
                               if (s.steps_done == stop - 1) interrupt = true;
                             }));
    TrainHooks hooks;
    hooks.interrupt = &interrupt;
    EXPECT_THROW(interrupted.Run(hooks), Error);
    ASSERT_GE(first.bad_records->count(), 1);
    const fs::path last = dir / "last.safetensors";
    ASSERT_TRUE(fs::exists(last));
    if (!keep_list) {  // as a checkpoint written before the list was kept
      ops::SafetensorsContents file = ops::ReadSafetensors(last);
      ASSERT_EQ(file.metadata.erase("user.skipped_records"), 1u);
      std::vector<std::pair<std::string, const Tensor*>> tensors;
      for (const auto& [name, t] : file.tensors) tensors.emplace_back(name, &t);
      ops::WriteSafetensors(last, tensors, file.metadata);
    }

    TrainConfig resume = Config(/*skip=*/true);
    resume.epochs = 1;
    resume.checkpoint_dir = dir.string();
    resume.resume = true;
    TrainingPipeline resumed(resume);
    EXPECT_EQ(resumed.state().steps_done, stop);
    EXPECT_EQ(resumed.Run().steps, train.batches_per_epoch() - stop);
    if (keep_list) {
      EXPECT_EQ(resume.bad_records->count(), 3) << resume.bad_records->Summary();
      EXPECT_EQ(Sorted(resume.bad_records->messages()), straight);
    } else {
      EXPECT_LT(resume.bad_records->count(), 3) << resume.bad_records->Summary();
    }
  }
}

TEST_F(BadRecords, MoreThanMaxBadShareEndsTheRun) {
  TrainConfig c = Config(/*skip=*/true);
  c.max_bad_share = 0.005;  // 1 of 256
  try {
    TrainingPipeline(c).Run();
    FAIL() << "3 bad records of 256 were skipped under a 0.5% limit";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
    EXPECT_NE(std::string(e.what()).find("--max-bad-share"), std::string::npos) << e.what();
  }
}

// The tree's first image sets the image size: under skip, an undecodable first image is one
// more bad record (the first that decodes sets the size), under fail the scan names it.
TEST_F(BadRecords, AnUndecodableFirstImageIsSkippedToo) {
  const fs::path copy = *root_ / "first-bad";
  fs::create_directories(copy);
  fs::copy(*root_ / "tree" / "train", copy / "train", fs::copy_options::recursive);
  const io::ImageFolderDataset tree((copy / "train").string());
  const std::string first = tree.file(0).path;
  fs::resize_file(first, 10);
  TrainConfig c = Config(/*skip=*/false);
  c.data_dir = copy.string();
  try {
    TrainingPipeline p(c);
    FAIL() << "an undecodable first image was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
    EXPECT_NE(std::string(e.what()).find(first), std::string::npos) << e.what();
  }
  c = Config(/*skip=*/true);
  c.data_dir = copy.string();
  EXPECT_EQ(TrainingPipeline(c).Run().steps, 16);
  EXPECT_EQ(c.bad_records->count(), 4) << c.bad_records->Summary();
}

// Tar shards on disk take the image size from their first member that decodes: under skip an
// undecodable first member is one more bad record, under fail the open names the shard, the
// member (from its tar header) and the record.
TEST_F(BadRecords, AnUndecodableFirstTarMemberIsSkippedToo) {
  const fs::path copy = *root_ / "tar-first-bad";
  fs::create_directories(copy / "train");
  const fs::path shard = copy / "train" / "shard-000000.tar";
  fs::copy_file(*root_ / "tar" / "train" / "shard-000000.tar", shard);  // 128 records
  std::ifstream in(shard, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const size_t png = bytes.find("\x89PNG");
  ASSERT_NE(png, std::string::npos);
  ASSERT_LT(png, 2048u) << "the first member is not the first image";
  Damage(shard, static_cast<std::streamoff>(png), 4);  // no PNG magic left
  TrainConfig c = Config(/*skip=*/false);
  c.data_format = "tar";
  c.data_dir = copy.string();
  try {
    TrainingPipeline p(c);
    FAIL() << "an undecodable first tar member was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find("shard-000000.tar [entry "), std::string::npos) << what;
    EXPECT_NE(what.find(".png, bytes "), std::string::npos) << what;
    EXPECT_NE(what.find("record 0:"), std::string::npos) << what;
  }
  c = Config(/*skip=*/true);
  c.data_format = "tar";
  c.data_dir = copy.string();
  const TrainResult r = TrainingPipeline(c).Run();
  EXPECT_EQ(r.steps, 8);  // 4 batches of 32 per epoch, 2 epochs
  ASSERT_EQ(c.bad_records->count(), 1) << c.bad_records->Summary();
  EXPECT_NE(c.bad_records->messages()[0].find("shard-000000.tar [entry "), std::string::npos)
      << c.bad_records->Summary();
}

TEST_F(BadRecords, ABadTarMemberIsNamedWithItsShard) {
  // Damage the PNG data of one member of the second shard (its IDAT bytes: a CRC error).
  const fs::path shard = *root_ / "tar" / "train" / "shard-000001.tar";
  ASSERT_TRUE(fs::exists(shard)) << "the shards are named otherwise";
  std::ifstream in(shard, std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const size_t png = bytes.find("\x89PNG", 512 * 50);
  ASSERT_NE(png, std::string::npos);
  Damage(shard, static_cast<std::streamoff>(png + 60), 16);
  for (bool skip : {false, true}) {
    TrainConfig c = Config(skip);
    c.data_format = "tar";
    c.data_dir = (*root_ / "tar").string();
    if (!skip) {
      try {
        TrainingPipeline(c).Run();
        FAIL() << "a damaged tar member was trained on";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
        // The shard and the member's name from its tar header (the index holds no names).
        EXPECT_NE(std::string(e.what()).find("shard-000001.tar [entry "), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find(".png, bytes "), std::string::npos) << e.what();
      }
      continue;
    }
    const TrainResult r = TrainingPipeline(c).Run();
    EXPECT_EQ(r.steps, 16);
    EXPECT_EQ(c.bad_records->count(), 1) << c.bad_records->Summary();
  }
}

}  // namespace
}  // namespace millrace::pipelines
