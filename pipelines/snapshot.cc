#include "pipelines/snapshot.h"

#include <map>

namespace millrace::pipelines {

namespace {
// name -> tensor of every parameter value and buffer.
std::map<std::string, Tensor*> NamedTensors(ops::Sequential& model) {
  std::map<std::string, Tensor*> out;
  for (ops::Parameter* p : model.Parameters()) out[p->name] = &p->value;
  for (auto& [name, tensor] : model.Buffers()) out[name] = tensor;
  return out;
}
}  // namespace

WeightSnapshot TakeSnapshot(ops::Sequential& model) {
  WeightSnapshot s;
  for (auto& [name, tensor] : NamedTensors(model)) {
    // Always on the host: evaluation and checkpoints read it there.
    s.tensors.emplace_back(name,
                           tensor->device().is_cpu() ? tensor->Clone() : tensor->To(Device::Cpu()));
  }
  return s;
}

void LoadSnapshot(const WeightSnapshot& snapshot, ops::Sequential& model) {
  std::map<std::string, Tensor*> target = NamedTensors(model);
  MILLRACE_CHECK_ARG(
      target.size() == snapshot.tensors.size(),
      "snapshot of " << snapshot.tensors.size() << " tensors, the model has " << target.size());
  for (const auto& [name, tensor] : snapshot.tensors) {
    auto it = target.find(name);
    MILLRACE_CHECK_ARG(it != target.end(), "snapshot tensor " << name << " is not in the model");
    MILLRACE_CHECK_ARG(it->second->shape() == tensor.shape(),
                       "snapshot tensor " << name << " is " << ToString(tensor.shape())
                                          << ", the model's " << ToString(it->second->shape()));
    it->second->CopyFrom(tensor);
  }
}

}  // namespace millrace::pipelines
