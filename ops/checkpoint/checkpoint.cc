#include "ops/checkpoint/checkpoint.h"

#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.h"
#include "ops/checkpoint/safetensors.h"

namespace millrace::ops {
namespace {

constexpr const char* kFormat = "millrace-checkpoint";
constexpr const char* kMaskPrefix = "mask/";
constexpr const char* kOptimizerPrefix = "optimizer/";

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

Error ModelError(const std::filesystem::path& path, const std::string& what) {
  return Error(ErrorKind::kData, "checkpoint does not fit the model: " + what)
      .WithFile(path.string());
}

// The first element of an f32 tensor that is NaN or +-Inf, or -1.
int64_t FirstNonFinite(const Tensor& t) {
  if (t.dtype() != DType::kF32) return -1;
  const float* v = t.data<float>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) {
    if (!std::isfinite(v[i])) return i;
  }
  return -1;
}

}  // namespace

void SaveCheckpoint(const std::filesystem::path& path, const ModelTensors& model,
                    const Optimizer* optimizer, const TrainingState& state) {
  std::vector<std::pair<std::string, const Tensor*>> tensors;
  for (const Parameter* p : model.parameters) {
    tensors.emplace_back(p->name, &p->value);
    if (p->mask.defined()) tensors.emplace_back(kMaskPrefix + p->name, &p->mask);
  }
  for (const auto& [name, buffer] : model.buffers) tensors.emplace_back(name, buffer);
  std::map<std::string, std::string> metadata;
  metadata["format"] = kFormat;
  metadata["step"] = std::to_string(state.step);
  metadata["rng_state"] = state.rng_state;
  for (const auto& [key, value] : state.metadata) metadata["user." + key] = value;
  OptimizerState optimizer_state;
  if (optimizer != nullptr) {
    optimizer_state = optimizer->ExportState();
    for (const auto& [name, t] : optimizer_state.tensors) {
      tensors.emplace_back(kOptimizerPrefix + name, &t);
    }
    for (const auto& [key, value] : optimizer_state.scalars) {
      metadata[key == "kind" ? std::string("optimizer") : "optimizer." + key] = value;
    }
  }
  // Tensors on a device are written from host copies (one synchronous copy each).
  std::vector<Tensor> host_copies;
  host_copies.reserve(tensors.size());
  for (auto& [name, t] : tensors) {
    if (t->device().is_cpu()) continue;
    host_copies.push_back(t->To(Device::Cpu()));
    t = &host_copies.back();
  }
  // Weights that are NaN or Inf would overwrite a good checkpoint with a useless one.
  for (const auto& [name, t] : tensors) {
    if (const int64_t at = FirstNonFinite(*t); at >= 0) {
      throw Error(ErrorKind::kData,
                  "tensor '" + name + "' holds " + std::to_string(t->data<float>()[at]) +
                      " at element " + std::to_string(at) + " (step " + std::to_string(state.step) +
                      "): a checkpoint of non-finite weights is not written")
          .WithFile(path.string());
    }
  }
  WriteSafetensors(path, tensors, metadata);
}

TrainingState LoadCheckpoint(const std::filesystem::path& path, const ModelTensors& model,
                             Optimizer* optimizer) {
  SafetensorsContents file = ReadSafetensors(path);
  auto format = file.metadata.find("format");
  if (format == file.metadata.end() || format->second != kFormat) {
    throw Error(ErrorKind::kData,
                "not a millrace checkpoint (no __metadata__ format '" + std::string(kFormat) + "')")
        .WithFile(path.string());
  }
  std::map<std::string, const Tensor*> in_file;
  for (const auto& [name, t] : file.tensors) in_file[name] = &t;

  // Every model tensor, expected in the file with the same dtype and shape.
  std::vector<std::pair<Tensor*, const Tensor*>> copies;
  std::set<std::string> used;
  auto expect = [&](const std::string& name, Tensor* target) {
    auto it = in_file.find(name);
    if (it == in_file.end()) {
      throw ModelError(path, "tensor '" + name + "' (" + ToString(target->shape()) +
                                 " in the model) is missing");
    }
    const Tensor& t = *it->second;
    if (t.shape() != target->shape() || t.dtype() != target->dtype()) {
      throw ModelError(path, "tensor '" + name + "' is " + std::string(ToString(t.dtype())) + " " +
                                 ToString(t.shape()) + " in the checkpoint, " +
                                 std::string(ToString(target->dtype())) + " " +
                                 ToString(target->shape()) + " in the model");
    }
    copies.emplace_back(target, &t);
    used.insert(name);
  };
  std::vector<std::pair<Parameter*, const Tensor*>> masks;
  for (Parameter* p : model.parameters) {
    expect(p->name, &p->value);
    auto mask = in_file.find(kMaskPrefix + p->name);
    const Tensor* m = mask == in_file.end() ? nullptr : mask->second;
    if (m != nullptr) {
      if (m->shape() != p->value.shape() || m->dtype() != DType::kF32) {
        throw ModelError(path, "mask of '" + p->name + "' is " + ToString(m->shape()) +
                                   " in the checkpoint, the parameter is " +
                                   ToString(p->value.shape()) + " in the model");
      }
      used.insert(mask->first);
    }
    masks.emplace_back(p, m);
  }
  for (const auto& [name, buffer] : model.buffers) expect(name, buffer);

  OptimizerState optimizer_state;
  for (const auto& [name, t] : in_file) {
    if (StartsWith(name, kOptimizerPrefix)) {
      if (optimizer != nullptr) {
        optimizer_state.tensors.emplace_back(name.substr(std::string(kOptimizerPrefix).size()),
                                             t->Clone());
      }
      continue;
    }
    if (!used.count(name)) {
      throw ModelError(path, "unexpected tensor '" + name + "' (" + ToString(t->shape()) +
                                 " in the checkpoint), the model has no such tensor");
    }
  }
  if (optimizer != nullptr) {
    for (const auto& [key, value] : file.metadata) {
      if (key == "optimizer") optimizer_state.scalars["kind"] = value;
      if (StartsWith(key, "optimizer.")) optimizer_state.scalars[key.substr(10)] = value;
    }
    if (!optimizer_state.scalars.count("kind")) {
      throw Error(ErrorKind::kData, "the checkpoint holds no optimizer state")
          .WithFile(path.string());
    }
  }

  TrainingState state;
  {
    auto it = file.metadata.find("step");
    const std::string text = it == file.metadata.end() ? std::string() : it->second;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), state.step);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || state.step < 0) {
      throw Error(ErrorKind::kData, "__metadata__ lacks a valid 'step' (an integer >= 0), has '" +
                                        text.substr(0, 32) + "'")
          .WithFile(path.string());
    }
  }
  if (auto rng = file.metadata.find("rng_state"); rng != file.metadata.end()) {
    state.rng_state = rng->second;
  }
  for (const auto& [key, value] : file.metadata) {
    if (StartsWith(key, "user.")) state.metadata[key.substr(5)] = value;
  }

  // Everything checked: the optimizer checks its own state before it changes anything.
  if (optimizer != nullptr) {
    try {
      optimizer->ImportState(optimizer_state);
    } catch (const Error& e) {
      throw Error(ErrorKind::kData, "optimizer state: " + e.message()).WithFile(path.string());
    }
  }
  for (auto& [target, source] : copies) target->CopyFrom(*source);
  for (auto& [p, m] : masks) {
    if (m == nullptr) {
      p->mask = Tensor();
    } else {
      p->mask = m->To(p->value.device());  // beside its parameter, on any device
    }
  }
  return state;
}

std::string SaveRngState(const std::mt19937_64& engine) {
  std::ostringstream out;
  out << engine;
  return out.str();
}

void LoadRngState(const std::string& text, std::mt19937_64& engine) {
  std::istringstream in(text);
  std::mt19937_64 restored;
  in >> restored;
  MILLRACE_CHECK(!in.fail(), ErrorKind::kData, "malformed RNG state in a checkpoint");
  engine = restored;
}

}  // namespace millrace::ops
