#include "pipelines/metrics.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "ops/metrics/classification.h"

namespace millrace::pipelines {

ClassificationMetrics::ClassificationMetrics(int num_classes)
    : num_classes_(num_classes), confusion_(static_cast<size_t>(num_classes) * num_classes, 0) {
  MILLRACE_CHECK_ARG(num_classes > 0, "metrics: the number of classes must be > 0");
}

void ClassificationMetrics::Add(const Tensor& logits, const Tensor& labels) {
  MILLRACE_CHECK_ARG(
      logits.ndim() == 2 && logits.dim(1) == num_classes_,
      "metrics: logits must be [N, " << num_classes_ << "], got " << ToString(logits.shape()));
  MILLRACE_CHECK_ARG(labels.dtype() == DType::kI64 || labels.dtype() == DType::kI32,
                     "metrics: labels must be i32 or i64, got " << ToString(labels.dtype()));
  const int64_t n = logits.dim(0);
  MILLRACE_CHECK_ARG(labels.numel() == n,
                     "metrics: " << n << " rows of logits but " << labels.numel() << " labels");
  ops::ClassificationCounts(logits, labels, {confusion_, &correct_, &loss_sum_});
  samples_ += n;
}

void ClassificationMetrics::Merge(const ClassificationMetrics& other) {
  MILLRACE_CHECK_ARG(other.num_classes_ == num_classes_, "metrics: can't merge "
                                                             << other.num_classes_
                                                             << " classes into " << num_classes_);
  samples_ += other.samples_;
  correct_ += other.correct_;
  loss_sum_ += other.loss_sum_;
  for (size_t i = 0; i < confusion_.size(); ++i) confusion_[i] += other.confusion_[i];
}

double ClassificationMetrics::Accuracy() const {
  return samples_ == 0 ? 0.0 : static_cast<double>(correct_) / samples_;
}

double ClassificationMetrics::MeanLoss() const {
  return samples_ == 0 ? 0.0 : loss_sum_ / samples_;
}

double ClassificationMetrics::Recall(int cls) const {
  int64_t total = 0;
  for (int j = 0; j < num_classes_; ++j) total += Count(cls, j);
  return total == 0 ? 0.0 : static_cast<double>(Count(cls, cls)) / total;
}

double ClassificationMetrics::Precision(int cls) const {
  int64_t total = 0;
  for (int i = 0; i < num_classes_; ++i) total += Count(i, cls);
  return total == 0 ? 0.0 : static_cast<double>(Count(cls, cls)) / total;
}

std::string ClassificationMetrics::ConfusionTable(
    const std::vector<std::string>& class_names) const {
  auto name = [&](int i) {
    return i < static_cast<int>(class_names.size()) ? class_names[i] : std::to_string(i);
  };
  size_t name_width = 5;
  for (int i = 0; i < num_classes_; ++i) name_width = std::max(name_width, name(i).size());
  std::ostringstream out;
  out << std::left << std::setw(static_cast<int>(name_width)) << "truth" << std::right;
  for (int j = 0; j < num_classes_; ++j) out << std::setw(6) << j;
  out << "  recall\n";
  for (int i = 0; i < num_classes_; ++i) {
    out << std::left << std::setw(static_cast<int>(name_width)) << name(i) << std::right;
    for (int j = 0; j < num_classes_; ++j) out << std::setw(6) << Count(i, j);
    out << "  " << std::fixed << std::setprecision(1) << std::setw(5) << 100.0 * Recall(i) << "%\n";
  }
  return out.str();
}

const std::vector<std::string>& FashionMnistClassNames() {
  static const std::vector<std::string> kNames = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                  "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                  "Bag",         "Ankle boot"};
  return kNames;
}

}  // namespace millrace::pipelines
