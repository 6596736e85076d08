// `millrace data`: writes Fashion-MNIST (or any IDX dataset) out as a class-per-folder image
// tree or as WebDataset tar shards (io/convert.h), so the image paths have real data.
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "io/convert.h"
#include "io/idx.h"

namespace millrace::cli {

namespace {

struct DataArgs {
  std::string data_dir = io::kFashionMnistDir;
  std::string out;
  std::string split = "both";
  int64_t limit = -1;
  bool png = false;
  int quality = 95;
  int64_t shard_size = 10000;
  int64_t repeat = 1;
};

int RunConvert(const DataArgs& a, bool tar) {
  MILLRACE_CHECK(std::filesystem::is_directory(a.data_dir), ErrorKind::kIo,
                 "--data " << a.data_dir << ": no such directory (the IDX files)");
  std::vector<std::string> splits;
  if (a.split == "both" || a.split == "train") splits.push_back("train");
  if (a.split == "both" || a.split == "test") splits.push_back("test");
  for (const std::string& split : splits) {
    io::IdxDataset dataset = io::IdxDataset::FashionMnist(split, a.data_dir);
    io::ConvertOptions o;
    o.format = a.png ? io::ImageFormat::kPng : io::ImageFormat::kJpeg;
    o.jpeg_quality = a.quality;
    o.samples_per_shard = a.shard_size;
    o.limit = a.limit;
    o.repeat = a.repeat;
    const std::string dir = (std::filesystem::path(a.out) / split).string();
    if (tar) {
      std::filesystem::create_directories(dir);
      const std::vector<std::string> shards = io::WriteTarShards(dataset, dir, o);
      std::cout << split << ": " << shards.size() << " shards in " << dir << "\n";
    } else {
      const int64_t files = io::WriteImageTree(dataset, dir, o);
      std::cout << split << ": " << files << " images in " << dir << "\n";
    }
  }
  if (!tar) {
    std::cout << "train on it with: millrace train --format folder --data " << a.out << "\n";
  }
  return kExitOk;
}

void AddConvertOptions(CLI::App& cmd, DataArgs& a, bool tar) {
  cmd.add_option("-o,--out", a.out, "output directory (DIR/train and DIR/test are written)")
      ->required();
  cmd.add_option("--data", a.data_dir, "the IDX dataset directory")->capture_default_str();
  cmd.add_option("--split", a.split, "train, test or both")
      ->check(CLI::IsMember({"train", "test", "both"}))
      ->capture_default_str();
  cmd.add_option("--limit", a.limit, "write only the first N records of each split");
  cmd.add_option("--repeat", a.repeat,
                 "write the records N times over (copies numbered on): a larger dataset")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_flag("--png", a.png, "PNG instead of JPEG");
  cmd.add_option("--quality", a.quality, "JPEG quality")->check(CLI::Range(1, 100));
  if (tar) {
    cmd.add_option("--shard-size", a.shard_size, "samples per shard")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
  }
}

}  // namespace

Command AddDataCommand(CLI::App& app) {
  auto folder = std::make_shared<DataArgs>();
  auto tar = std::make_shared<DataArgs>();
  CLI::App* cmd =
      app.add_subcommand("data", "Convert Fashion-MNIST (IDX) into an image tree or tar shards.");
  cmd->require_subcommand(1, 1);
  CLI::App* to_folder =
      cmd->add_subcommand("to-folder", "DIR/<split>/<class>/<record>.jpg (ImageFolder convention)");
  AddConvertOptions(*to_folder, *folder, false);
  CLI::App* to_tar = cmd->add_subcommand(
      "to-tar", "DIR/<split>/shard-NNNNNN.tar (WebDataset: <record>.jpg + <record>.cls)");
  AddConvertOptions(*to_tar, *tar, true);
  return {cmd,
          [=] { return to_tar->parsed() ? RunConvert(*tar, true) : RunConvert(*folder, false); }};
}

}  // namespace millrace::cli
