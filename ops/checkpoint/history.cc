#include "ops/checkpoint/history.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/error.h"

namespace millrace::ops {
namespace {

constexpr const char* kLast = "last.safetensors";

// The step of "step-<digits>.safetensors", or -1.
int64_t StepOf(const std::string& name) {
  constexpr std::string_view kPrefix = "step-", kSuffix = ".safetensors";
  if (name.size() <= kPrefix.size() + kSuffix.size() || name.rfind(kPrefix, 0) != 0 ||
      name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return -1;
  }
  int64_t step = -1;
  const char* first = name.data() + kPrefix.size();
  const char* last = name.data() + name.size() - kSuffix.size();
  auto [end, ec] = std::from_chars(first, last, step);
  return ec == std::errc() && end == last ? step : -1;
}

Error IoError(const std::filesystem::path& path, const std::string& what, int err) {
  return Error(ErrorKind::kIo, what + ": " + std::strerror(err)).WithFile(path.string());
}

}  // namespace

std::vector<std::filesystem::path> StepCheckpoints(const std::filesystem::path& dir) {
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const int64_t step = StepOf(entry.path().filename().string());
    if (step >= 0) found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::filesystem::path> paths;
  for (auto& [step, path] : found) paths.push_back(std::move(path));
  return paths;
}

std::filesystem::path SaveCheckpointInHistory(const std::filesystem::path& dir, int keep,
                                              const ModelTensors& model,
                                              const Optimizer* optimizer,
                                              const TrainingState& state) {
  MILLRACE_CHECK_ARG(keep >= 1, "keep_checkpoints must be >= 1, got " << keep);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(ErrorKind::kIo, "cannot create: " + ec.message()).WithFile(dir.string());
  char name[64];
  std::snprintf(name, sizeof name, "step-%010lld.safetensors", static_cast<long long>(state.step));
  const std::filesystem::path step_file = dir / name;
  SaveCheckpoint(step_file, model, optimizer, state);

  // last.safetensors: a link to the step file under a temporary name, renamed over the old one.
  const std::filesystem::path last = dir / kLast;
  const std::filesystem::path tmp =
      last.string() + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  ::unlink(tmp.c_str());
  if (::link(step_file.c_str(), tmp.c_str()) == 0) {
    if (::rename(tmp.c_str(), last.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      throw IoError(last, "cannot rename " + tmp.string() + " over it", err);
    }
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0 || ::fsync(fd) != 0) {
      const int err = errno;
      if (fd >= 0) ::close(fd);
      throw IoError(dir, "cannot fsync the checkpoint directory", err);
    }
    ::close(fd);
  } else {
    SaveCheckpoint(last, model, optimizer, state);  // a file system without hard links
  }

  std::vector<std::filesystem::path> steps = StepCheckpoints(dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < steps.size(); ++i) {
    std::filesystem::remove(steps[i], ec);
  }
  return step_file;
}

int RemoveStaleTemporaries(const std::filesystem::path& dir) {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t at = name.rfind(".tmp.");
    if (at == std::string::npos) continue;
    long pid = 0;
    const char* first = name.data() + at + 5;
    const char* last = name.data() + name.size();
    auto [end, perr] = std::from_chars(first, last, pid);
    if (perr != std::errc() || end != last || pid <= 0) continue;
    // A live process (this one, or another run writing into the same directory) keeps its file.
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::error_code remove_ec;
    if (std::filesystem::remove(entry.path(), remove_ec)) ++removed;
  }
  return removed;
}

}  // namespace millrace::ops
