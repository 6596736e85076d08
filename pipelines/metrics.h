// Classification metrics: accuracy, mean cross-entropy and a confusion matrix, accumulated
// batch by batch.
//
//   ClassificationMetrics m(10);
//   m.Add(logits, labels);            // logits [N, C] f32, labels [N] i32 or i64
//   double acc = m.Accuracy();        // correct / samples
//   std::cout << m.ConfusionTable();  // rows: true class, columns: predicted class
//
// The predicted class is the first index of the largest logit (torch.argmax's rule). The loss
// is the softmax cross-entropy, computed in double with the log-sum-exp shift. Not
// synchronised: one thread adds at a time; Merge() joins partial results. The counting runs in
// the ops kernel ops::ClassificationCounts (ops/metrics/classification.h), on the logits'
// device (the CPU: the only backend so far).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace millrace::pipelines {

class ClassificationMetrics {
 public:
  explicit ClassificationMetrics(int num_classes = 10);

  // logits: [N, C] f32 with C == num_classes(); labels: [N] i32 or i64 in [0, C), on the
  // logits' device.
  void Add(const Tensor& logits, const Tensor& labels);
  // Adds another accumulator's counts (same number of classes).
  void Merge(const ClassificationMetrics& other);

  int num_classes() const { return num_classes_; }
  int64_t samples() const { return samples_; }
  int64_t correct() const { return correct_; }
  double Accuracy() const;  // 0 when empty
  double MeanLoss() const;  // mean cross-entropy, 0 when empty
  // count of samples of true class `truth` predicted as `predicted`.
  int64_t Count(int truth, int predicted) const {
    return confusion_[static_cast<size_t>(truth) * num_classes_ + predicted];
  }
  double Recall(int cls) const;     // correct of class / samples of class (0 when none)
  double Precision(int cls) const;  // correct of class / predicted as class (0 when none)

  // The confusion matrix as a text table, with per-class recall; class_names may be empty.
  std::string ConfusionTable(const std::vector<std::string>& class_names = {}) const;

 private:
  int num_classes_;
  int64_t samples_ = 0;
  int64_t correct_ = 0;
  double loss_sum_ = 0.0;
  std::vector<int64_t> confusion_;
};

// Fashion-MNIST's class names, in label order.
const std::vector<std::string>& FashionMnistClassNames();

}  // namespace millrace::pipelines
