// Checkpoints: bit-exact round trips, the file checked against the safetensors specification
// by a parser written here (independent of the writer), and the errors for truncated files,
// wrong models and unknown dtypes.
#include "ops/checkpoint/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/error.h"
#include "ops/activation/relu.h"
#include "ops/batchnorm/batchnorm.h"
#include "ops/checkpoint/safetensors.h"
#include "ops/conv2d/conv2d.h"
#include "ops/linear/linear.h"
#include "ops/optim/sgd.h"
#include "ops/prune/magnitude.h"
#include "ops/sequential.h"
#include "tests/common/same_bits.h"

namespace millrace::ops {
namespace {

namespace fs = std::filesystem;

Sequential Mlp(int64_t hidden, uint64_t seed, bool extra_layer = false) {
  Sequential m;
  m.Add("fc1", std::make_unique<Linear>(4, hidden, true, seed));
  m.Add("relu", std::make_unique<ReLU>());
  m.Add("fc2", std::make_unique<Linear>(hidden, 2, true, seed + 1));
  if (extra_layer) m.Add("fc3", std::make_unique<Linear>(2, 2, true, seed + 2));
  return m;
}

using testing::SameBits;

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("millrace_ckpt_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "model.safetensors";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A model after two SGD steps with momentum and a pruned fc1.weight, saved at step 2.
  void SaveTrained(Sequential& model, Sgd& sgd, std::mt19937_64& rng) {
    L1Unstructured(*model.FindParameter("fc1.weight"), PruneAmount::Fraction(0.25));
    for (int step = 0; step < 2; ++step) {
      for (Parameter* p : model.Parameters()) {
        for (float& g : p->grad.span<float>()) g = static_cast<float>(rng() % 1000) / 1000 - 0.5f;
      }
      sgd.Step();
    }
    SaveCheckpoint(path_, model, &sgd,
                   {.step = 2, .rng_state = SaveRngState(rng), .metadata = {{"model", "mlp"}}});
  }

  fs::path dir_, path_;
};

TEST_F(CheckpointTest, RoundTripIsBitExact) {
  Sequential a = Mlp(3, 1);
  Sgd sgd_a(a.Parameters(), {.lr = 0.1, .momentum = 0.9});
  std::mt19937_64 rng(7);
  SaveTrained(a, sgd_a, rng);
  // Nothing but the checkpoint is left in the directory (the temporary file was renamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);

  Sequential b = Mlp(3, 99);
  Sgd sgd_b(b.Parameters(), {.lr = 0.5, .momentum = 0.9});
  std::mt19937_64 rng_b(1);
  TrainingState state = LoadCheckpoint(path_, b, &sgd_b);
  LoadRngState(state.rng_state, rng_b);
  EXPECT_EQ(state.step, 2);
  EXPECT_EQ(state.metadata.at("model"), "mlp");
  EXPECT_EQ(rng_b(), rng());  // the random stream continues where it was saved
  for (const char* name : {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}) {
    EXPECT_TRUE(SameBits(a.FindParameter(name)->value, b.FindParameter(name)->value)) << name;
  }
  ASSERT_TRUE(b.FindParameter("fc1.weight")->mask.defined());
  EXPECT_TRUE(SameBits(a.FindParameter("fc1.weight")->mask, b.FindParameter("fc1.weight")->mask));
  EXPECT_FALSE(b.FindParameter("fc2.weight")->mask.defined());
  EXPECT_EQ(sgd_b.steps(), 2);
  EXPECT_EQ(sgd_b.lr(), 0.1);
  OptimizerState sa = sgd_a.ExportState(), sb = sgd_b.ExportState();
  ASSERT_EQ(sa.tensors.size(), sb.tensors.size());
  for (size_t i = 0; i < sa.tensors.size(); ++i) {
    EXPECT_EQ(sa.tensors[i].first, sb.tensors[i].first);
    EXPECT_TRUE(SameBits(sa.tensors[i].second, sb.tensors[i].second)) << sa.tensors[i].first;
  }
}

TEST_F(CheckpointTest, BatchNormBuffersRoundTrip) {
  auto make = [](uint64_t seed) {
    Sequential m;
    m.Add("conv",
          std::make_unique<Conv2d>(Conv2dConfig{.in_channels = 1, .out_channels = 3}, seed));
    m.Add("bn", std::make_unique<BatchNorm2d>(3));
    return m;
  };
  Sequential a = make(1);
  Tensor x = Tensor::Empty({2, 1, 5, 5});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) - 3;
  a.Forward(x, Mode::kTrain);  // running statistics move away from 0 and 1
  SaveCheckpoint(path_, a, nullptr, {.step = 5});
  Sequential b = make(2);
  EXPECT_EQ(LoadCheckpoint(path_, b, nullptr).step, 5);
  auto ba = a.Buffers(), bb = b.Buffers();
  ASSERT_EQ(ba.size(), 2u);
  for (size_t i = 0; i < ba.size(); ++i) {
    EXPECT_EQ(ba[i].first, bb[i].first);
    EXPECT_TRUE(SameBits(*ba[i].second, *bb[i].second)) << ba[i].first;
  }
  EXPECT_NE(ba[0].second->data<float>()[0], 0.0f);
  EXPECT_TRUE(
      SameBits(a.FindParameter("conv.weight")->value, b.FindParameter("conv.weight")->value));
}

TEST_F(CheckpointTest, FileFollowsTheSafetensorsSpecification) {
  Sequential a = Mlp(3, 1);
  Sgd sgd(a.Parameters(), {.lr = 0.1, .momentum = 0.9});
  std::mt19937_64 rng(7);
  SaveTrained(a, sgd, rng);
  const std::string bytes = ReadBytes(path_);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  ASSERT_LE(8 + n, bytes.size());
  const std::string header_text = bytes.substr(8, n);
  EXPECT_EQ(header_text.front(), '{');
  const nlohmann::json header = nlohmann::json::parse(header_text);  // trailing spaces allowed
  ASSERT_TRUE(header.is_object());
  const uint64_t data_size = bytes.size() - 8 - n;
  // Offsets sorted, contiguous from 0, covering the data exactly; sizes match dtype x shape.
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  const std::map<std::string, uint64_t> sizes = {
      {"F32", 4}, {"BF16", 2}, {"U8", 1}, {"I32", 4}, {"I64", 8}};
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : info.items()) EXPECT_TRUE(v.is_string()) << k;
      continue;
    }
    ASSERT_TRUE(sizes.count(info["dtype"].get<std::string>())) << name;
    uint64_t numel = 1;
    for (const auto& d : info["shape"]) numel *= d.get<uint64_t>();
    const uint64_t begin = info["data_offsets"][0], end = info["data_offsets"][1];
    EXPECT_EQ(end - begin, numel * sizes.at(info["dtype"].get<std::string>())) << name;
    spans.emplace_back(begin, end);
  }
  std::sort(spans.begin(), spans.end());
  uint64_t at = 0;
  for (auto [begin, end] : spans) {
    EXPECT_EQ(begin, at);
    at = end;
  }
  EXPECT_EQ(at, data_size);
  // Weights under their parameter names, with their bytes where the header says.
  const auto& w = header["fc1.weight"];
  EXPECT_EQ(w["dtype"], "F32");
  EXPECT_EQ(w["shape"], nlohmann::json({3, 4}));
  const Tensor& value = a.FindParameter("fc1.weight")->value;
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + n + w["data_offsets"][0].get<uint64_t>(),
                        value.raw_data(), value.nbytes()),
            0);
  EXPECT_TRUE(header.contains("mask/fc1.weight"));
  EXPECT_TRUE(header.contains("optimizer/fc1.weight.momentum_buffer"));
  EXPECT_EQ(header["__metadata__"]["step"], "2");
  EXPECT_EQ(header["__metadata__"]["optimizer"], "SGD");
}

TEST_F(CheckpointTest, TruncatedFileSaysTruncatedAndNamesIt) {
  Sequential a = Mlp(3, 1);
  SaveCheckpoint(path_, a, nullptr, {});
  const auto size = fs::file_size(path_);
  for (uintmax_t cut : {size - 4, size / 2, uintmax_t{4}}) {
    fs::resize_file(path_, cut);
    Sequential b = Mlp(3, 2);
    try {
      LoadCheckpoint(path_, b, nullptr);
      FAIL() << "no error at " << cut << " bytes";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kData);
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path_.string()), std::string::npos) << e.what();
    }
    // The model is untouched by the failed load.
    EXPECT_TRUE(SameBits(b.FindParameter("fc1.weight")->value,
                         Mlp(3, 2).FindParameter("fc1.weight")->value));
  }
}

TEST_F(CheckpointTest, WrongModelNamesTheTensorAndBothShapes) {
  Sequential a = Mlp(3, 1);
  SaveCheckpoint(path_, a, nullptr, {});
  auto message = [&](Sequential& model) {
    try {
      LoadCheckpoint(path_, model, nullptr);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Sequential wider = Mlp(5, 1);
  const std::string m1 = message(wider);
  EXPECT_NE(m1.find("'fc1.weight'"), std::string::npos) << m1;
  EXPECT_NE(m1.find("[3, 4]"), std::string::npos) << m1;
  EXPECT_NE(m1.find("[5, 4]"), std::string::npos) << m1;
  Sequential longer = Mlp(3, 1, /*extra_layer=*/true);
  const std::string m2 = message(longer);
  EXPECT_NE(m2.find("'fc3.weight'"), std::string::npos) << m2;
  EXPECT_NE(m2.find("missing"), std::string::npos) << m2;
  Sequential shorter;
  shorter.Add("fc1", std::make_unique<Linear>(4, 3, true, 1));
  const std::string m3 = message(shorter);
  EXPECT_NE(m3.find("unexpected tensor 'fc2."), std::string::npos) << m3;
  // An optimizer asked for but absent from the file.
  Sequential same = Mlp(3, 1);
  Sgd sgd(same.Parameters(), {.lr = 0.1});
  EXPECT_THROW(LoadCheckpoint(path_, same, &sgd), Error);
}

TEST_F(CheckpointTest, UnknownDtypeIsNamed) {
  // A valid safetensors file with an F16 tensor, written by hand.
  const std::string header = R"({"__metadata__":{"format":"millrace-checkpoint","step":"0"},)"
                             R"("fc1.weight":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(header.size() >> (8 * i));
  bytes += header + std::string(4, '\0');
  std::ofstream(path_, std::ios::binary) << bytes;
  try {
    ReadSafetensors(path_);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kData);
    EXPECT_NE(std::string(e.what()).find("'F16'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fc1.weight"), std::string::npos) << e.what();
  }
}

TEST_F(CheckpointTest, SafetensorsRejectsGapsAndTrailingBytes) {
  auto write = [&](const std::string& header, size_t data) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(header.size() >> (8 * i));
    bytes += header + std::string(data, '\0');
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  };
  write(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4);  // gap at 0
  EXPECT_THROW(ReadSafetensors(path_), Error);
  write(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 3);  // a byte left over
  EXPECT_THROW(ReadSafetensors(path_), Error);
  write(R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[0,4]}})", 4);  // size mismatch
  EXPECT_THROW(ReadSafetensors(path_), Error);
  write(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
        R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
        2);  // a name twice
  EXPECT_THROW(ReadSafetensors(path_), Error);
  write(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", 2);
  SafetensorsContents ok = ReadSafetensors(path_);
  ASSERT_EQ(ok.tensors.size(), 1u);
  EXPECT_EQ(ok.tensors[0].second.dtype(), DType::kU8);
  // Every millrace dtype round-trips.
  Tensor i64 = Tensor::Empty({3}, DType::kI64);
  for (int i = 0; i < 3; ++i) i64.data<int64_t>()[i] = -5'000'000'000LL * i;
  Tensor bf16 = Tensor::Empty({2}, DType::kBF16);
  bf16.data<uint16_t>()[0] = 0x3f80, bf16.data<uint16_t>()[1] = 0xc000;
  Tensor empty = Tensor::Empty({0, 4});
  WriteSafetensors(path_, {{"i64", &i64}, {"bf16", &bf16}, {"empty", &empty}}, {{"k", "v"}});
  SafetensorsContents back = ReadSafetensors(path_);
  EXPECT_TRUE(SameBits(*back.Find("i64"), i64));
  EXPECT_TRUE(SameBits(*back.Find("bf16"), bf16));
  EXPECT_EQ(back.Find("empty")->shape(), (Shape{0, 4}));
  EXPECT_EQ(back.metadata.at("k"), "v");
}

// Sizes from the header are multiplied with checked arithmetic: [2^32, 2^32] of F32 wrapped
// around to 0 bytes and was accepted; [2^63] became a negative size and an unnamed error.
TEST_F(CheckpointTest, SafetensorsShapesThatOverflowAreDataErrorsNamingTheFile) {
  auto write = [&](const std::string& header) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(header.size() >> (8 * i));
    bytes += header;
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  };
  for (const char* shape : {"[4294967296,4294967296]", "[9223372036854775808]",
                            "[4611686018427387904,4]", "[18446744073709551615]"}) {
    write(std::string(R"({"a":{"dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,0]}})");
    try {
      ReadSafetensors(path_);
      ADD_FAILURE() << "shape " << shape << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
      EXPECT_EQ(e.file(), path_.string()) << e.what();
      EXPECT_NE(std::string(e.what()).find("tensor 'a'"), std::string::npos) << e.what();
    }
  }
}

TEST_F(CheckpointTest, NegativeOrMalformedStepIsADataError) {
  Sequential model = Mlp(3, 1);
  SaveCheckpoint(path_, model, nullptr, {.step = 7});
  SafetensorsContents file = ReadSafetensors(path_);
  std::vector<std::pair<std::string, const Tensor*>> tensors;
  for (const auto& [name, t] : file.tensors) tensors.emplace_back(name, &t);
  for (const char* step : {"-5", "12abc", ""}) {
    auto metadata = file.metadata;
    metadata["step"] = step;
    WriteSafetensors(path_, tensors, metadata);
    try {
      LoadCheckpoint(path_, model, nullptr);
      ADD_FAILURE() << "step '" << step << "' accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kData) << e.what();
      EXPECT_NE(std::string(e.what()).find("'step'"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace millrace::ops
