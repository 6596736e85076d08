#include "pipelines/metrics.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace millrace::pipelines {

namespace {
int64_t LabelAt(const Tensor& labels, int64_t i) {
  if (labels.dtype() == DType::kI64) return labels.data<int64_t>()[i];
  return labels.data<int32_t>()[i];
}
}  // namespace

ClassificationMetrics::ClassificationMetrics(int num_classes)
    : num_classes_(num_classes), confusion_(static_cast<size_t>(num_classes) * num_classes, 0) {
  MILLRACE_CHECK_ARG(num_classes > 0, "metrics: the number of classes must be > 0");
}

void ClassificationMetrics::Add(const Tensor& logits, const Tensor& labels) {
  MILLRACE_CHECK_ARG(logits.device().is_cpu() && labels.device().is_cpu(),
                     "metrics: logits and labels must be on the CPU");
  MILLRACE_CHECK_ARG(
      logits.ndim() == 2 && logits.dim(1) == num_classes_,
      "metrics: logits must be [N, " << num_classes_ << "], got " << ToString(logits.shape()));
  MILLRACE_CHECK_ARG(labels.dtype() == DType::kI64 || labels.dtype() == DType::kI32,
                     "metrics: labels must be i32 or i64, got " << ToString(labels.dtype()));
  const int64_t n = logits.dim(0);
  MILLRACE_CHECK_ARG(labels.numel() == n,
                     "metrics: " << n << " rows of logits but " << labels.numel() << " labels");
  const float* z = logits.data<float>();
  const int c = num_classes_;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = z + i * c;
    const int64_t truth = LabelAt(labels, i);
    MILLRACE_CHECK(truth >= 0 && truth < c, ErrorKind::kData,
                   "metrics: label " << truth << " out of range [0, " << c << ") at row " << i);
    int best = 0;
    for (int j = 1; j < c; ++j) {
      if (row[j] > row[best]) best = j;
    }
    // Cross-entropy: log(sum exp(z - max)) - (z_truth - max).
    const double max = row[best];
    double sum = 0.0;
    for (int j = 0; j < c; ++j) sum += std::exp(static_cast<double>(row[j]) - max);
    loss_sum_ += std::log(sum) - (static_cast<double>(row[truth]) - max);
    ++confusion_[static_cast<size_t>(truth) * c + best];
    correct_ += best == truth;
  }
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
