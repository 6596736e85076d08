// Checkpoints of a TrainingPipeline in <checkpoint_dir> (ops/checkpoint/history.h): a
// step-numbered file per checkpoint, the newest keep_checkpoints of them kept, and
// last.safetensors, the newest. Written at each epoch's end on the compute thread (between two
// steps, so the weights and the optimizer state belong to the same step), and once more when a
// run is interrupted (a preemption checkpoint at the current step); read back by --resume,
// from an epoch's end or from the middle of one. best.safetensors holds the weights of the
// best-evaluated epoch, written by the evaluate stage from that epoch's snapshot. Under
// --on-bad-record skip a checkpoint also keeps the records skipped so far (metadata
// "skipped_records"), which --resume gives back to the splits and the SkipLog.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ops/checkpoint/history.h"
#include "ops/checkpoint/safetensors.h"
#include "pipelines/training_impl.h"

namespace millrace::pipelines {

namespace {
std::filesystem::path LastCheckpoint(const TrainConfig& c) {
  return std::filesystem::path(c.checkpoint_dir) / "last.safetensors";
}

// Creates (and removes) a file in `dir`: a directory that can't take one fails now, not
// after the first epoch.
void CheckWritableDir(const std::filesystem::path& dir, const char* flag) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::filesystem::path probe =
      dir / (".millrace-write-test." + std::to_string(static_cast<long>(::getpid())));
  const bool ok = !ec && std::ofstream(probe).good();
  std::filesystem::remove(probe, ec);
  MILLRACE_CHECK(ok, ErrorKind::kIo,
                 flag << " " << dir.string() << ": cannot create or write files there");
}
}  // namespace

void TrainingPipeline::Impl::CheckOutputPaths() {
  if (!config.checkpoint_dir.empty()) {
    MILLRACE_CHECK_ARG(config.keep_checkpoints >= 1,
                       "--keep-checkpoints " << config.keep_checkpoints << ": keep at least 1");
    CheckWritableDir(config.checkpoint_dir, "--checkpoint-dir");
    ops::RemoveStaleTemporaries(config.checkpoint_dir);  // of writes killed in earlier runs
  }
  if (!config.trace_path.empty()) {
    const std::filesystem::path trace(config.trace_path);
    MILLRACE_CHECK(!std::filesystem::is_directory(trace), ErrorKind::kIo,
                   "--trace " << config.trace_path << " is a directory, not a file name");
    const std::filesystem::path parent = trace.has_parent_path() ? trace.parent_path() : ".";
    MILLRACE_CHECK(
        std::filesystem::is_directory(parent), ErrorKind::kIo,
        "--trace " << config.trace_path << ": directory " << parent.string() << " does not exist");
    CheckWritableDir(parent, "--trace");
  }
}

ops::TrainingState TrainingPipeline::Impl::StateToSave(int64_t step, int epoch) const {
  ops::TrainingState s;
  s.step = step;
  s.metadata["model"] = config.model;
  s.metadata["epoch"] = std::to_string(epoch);
  s.metadata["seed"] = std::to_string(config.seed);
  s.metadata["batch_size"] = std::to_string(config.batch_size);
  return s;
}

std::filesystem::path TrainingPipeline::Impl::SaveCheckpoint(int epoch) {
  ops::TrainingState s = StateToSave(state.steps_done, epoch);
  // Under --on-bad-record skip: the records skipped so far (a resumed run lists and counts them),
  // as JSON: {"train": {"records": [40, 130], "messages": ["data error: ...", ...]}, "test": ...}.
  nlohmann::json skipped = nlohmann::json::object();
  const std::pair<const char*, const DataSource*> splits[] = {
      {"train", train.get()}, {"validation", validation.get()}, {"test", test.get()}};
  for (const auto& [name, split] : splits) {
    if (split == nullptr) continue;
    const SkippedRecords r = split->skipped_records();
    if (!r.records.empty()) skipped[name] = {{"records", r.records}, {"messages", r.messages}};
  }
  if (!skipped.empty()) s.metadata["skipped_records"] = skipped.dump();
  return ops::SaveCheckpointInHistory(config.checkpoint_dir, config.keep_checkpoints,
                                      ops::TensorsOf(*model), optimizer.get(), s);
}

namespace {
constexpr const char* kBest = "best.safetensors";

// What best.safetensors is chosen by: held-out data when there is a validation split.
const char* BestBy(const TrainConfig& c) {
  return c.validation > 0 ? "validation accuracy" : "test accuracy";
}
}  // namespace

bool TrainingPipeline::Impl::SaveBestCheckpoint(ops::Sequential& evaluated,
                                                const EpochSummary& epoch) {
  if (config.checkpoint_dir.empty()) return false;
  const EvalFigures& figures = config.validation > 0 ? epoch.validation : epoch.test;
  if (!figures.done || !(figures.accuracy > best_accuracy)) return false;
  ops::TrainingState s = StateToSave(epoch.steps, epoch.epoch);
  s.metadata["best_by"] = BestBy(config);
  char accuracy[32];
  std::snprintf(accuracy, sizeof accuracy, "%.17g", figures.accuracy);
  s.metadata["accuracy"] = accuracy;
  // Weights only (no optimizer state): it is for evaluation and deployment, --resume reads
  // last.safetensors. Written to a temporary and renamed, as every checkpoint.
  ops::SaveCheckpoint(std::filesystem::path(config.checkpoint_dir) / kBest, evaluated, nullptr, s);
  best_accuracy = figures.accuracy;
  return true;
}

void TrainingPipeline::Impl::LoadCheckpoint() {
  const std::filesystem::path path = LastCheckpoint(config);
  MILLRACE_CHECK(std::filesystem::exists(path), ErrorKind::kIo,
                 "--resume: " << path.string() << " does not exist");
  ops::TrainingState s = ops::LoadCheckpoint(path, *model, optimizer.get());
  auto meta = [&](const char* key) {
    auto it = s.metadata.find(key);
    return it == s.metadata.end() ? std::string() : it->second;
  };
  MILLRACE_CHECK_ARG(meta("model").empty() || meta("model") == config.model,
                     "--resume: " << path.string() << " holds model " << meta("model") << ", not "
                                  << config.model);
  MILLRACE_CHECK_ARG(
      meta("batch_size").empty() || meta("batch_size") == std::to_string(config.batch_size),
      "--resume: " << path.string() << " was trained with batch size " << meta("batch_size")
                   << "; resume with --batch-size " << meta("batch_size"));
  // A step inside an epoch (a preemption checkpoint) resumes there: the read stage starts at
  // that batch of the epoch's order (training_graph.cc), which is a function of (seed, epoch).
  state.steps_done = s.step;
  first_epoch = static_cast<int>(s.step / train->batches_per_epoch()) + 1;
  // The records skipped before the checkpoint (none in a checkpoint written before it kept them,
  // or by a run without skips): the end-of-run list and --max-bad-share count them too.
  if (const std::string skipped = meta("skipped_records"); !skipped.empty() && config.bad_records) {
    try {
      const nlohmann::json j = nlohmann::json::parse(skipped);
      const std::pair<const char*, DataSource*> splits[] = {
          {"train", train.get()}, {"validation", validation.get()}, {"test", test.get()}};
      for (const auto& [name, split] : splits) {
        if (split == nullptr || !j.contains(name)) continue;
        const nlohmann::json& entry = j.at(name);
        split->RestoreSkippedRecords({entry.at("records").get<std::vector<int64_t>>(),
                                      entry.value("messages", std::vector<std::string>{})});
      }
    } catch (const nlohmann::json::exception& e) {
      throw Error(ErrorKind::kData,
                  std::string("__metadata__ 'user.skipped_records' is malformed: ") + e.what())
          .WithFile(path.string());
    } catch (const Error& e) {
      throw e.WithFile(path.string());
    }
  }
  // The best so far, chosen the same way: a resumed run replaces it only with a better epoch.
  const std::filesystem::path best = std::filesystem::path(config.checkpoint_dir) / kBest;
  if (std::filesystem::exists(best)) {
    const ops::SafetensorsContents file = ops::ReadSafetensors(best);
    auto by = file.metadata.find("user.best_by");
    auto accuracy = file.metadata.find("user.accuracy");
    if (by != file.metadata.end() && by->second == BestBy(config) &&
        accuracy != file.metadata.end()) {
      best_accuracy = std::strtod(accuracy->second.c_str(), nullptr);
    }
  }
}

}  // namespace millrace::pipelines
