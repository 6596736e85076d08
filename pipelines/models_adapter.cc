// BuildModel: the model presets. A minimal adapter until ops::MakeModel (ops/models.h) lands.
#include <memory>

#include "ops/activation/relu.h"
#include "ops/flatten/flatten.h"
#include "ops/init.h"
#include "ops/linear/linear.h"
#include "ops/models.h"
#include "pipelines/training_impl.h"

namespace millrace::pipelines {

std::unique_ptr<ops::Sequential> BuildModel(const std::string& name, uint64_t seed) {
  auto mlp = [&](int64_t hidden) {
    auto m = std::make_unique<ops::Sequential>();
    m->Add("flatten", std::make_unique<ops::Flatten>());
    m->Add("fc1", std::make_unique<ops::Linear>(784, hidden, true, ops::DeriveSeed(seed, 1)));
    m->Add("relu1", std::make_unique<ops::ReLU>());
    m->Add("fc2", std::make_unique<ops::Linear>(hidden, 10, true, ops::DeriveSeed(seed, 2)));
    return m;
  };
  if (name == "cnn" || name == "dwsep") {  // the convolutional presets (ops/models.h)
    return std::make_unique<ops::Sequential>(ops::MakeModel(name, seed));
  }
  if (name == "mlp") return mlp(500);
  if (name == "mlp-small") return mlp(64);
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "model '" << name << "' is not one of: mlp, mlp-small, cnn, dwsep");
}

}  // namespace millrace::pipelines
