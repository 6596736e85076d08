// Checkpoints of a TrainingPipeline: <checkpoint_dir>/last.safetensors, written at each
// epoch's end on the compute thread (between two steps, so the weights and the optimizer
// state belong to the same step), read back by --resume.
#include <filesystem>

#include "ops/checkpoint/checkpoint.h"
#include "pipelines/training_impl.h"

namespace millrace::pipelines {

namespace {
std::filesystem::path LastCheckpoint(const TrainConfig& c) {
  return std::filesystem::path(c.checkpoint_dir) / "last.safetensors";
}
}  // namespace

void TrainingPipeline::Impl::SaveCheckpoint(int epoch) {
  std::filesystem::create_directories(config.checkpoint_dir);
  ops::TrainingState s;
  s.step = state.steps_done;
  s.metadata["model"] = config.model;
  s.metadata["epoch"] = std::to_string(epoch);
  s.metadata["seed"] = std::to_string(config.seed);
  s.metadata["batch_size"] = std::to_string(config.batch_size);
  ops::SaveCheckpoint(LastCheckpoint(config), *model, optimizer.get(), s);
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
  const int64_t spe = train->batches_per_epoch();
  MILLRACE_CHECK_ARG(s.step % spe == 0, "--resume: " << path.string() << " is at step " << s.step
                                                     << ", not at an epoch's end");
  state.steps_done = s.step;
  first_epoch = static_cast<int>(s.step / spe) + 1;
}

}  // namespace millrace::pipelines
