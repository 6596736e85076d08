// Distillation loss on the CPU: three log-softmaxes per row in double.
//   student, teacher: [B, C]   labels: [B]   grad: [B, C]
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/loss/loss_kernels.h"

namespace millrace::ops::cpu {
namespace {

// log_softmax(z / temperature) of one row, in double.
void LogSoftmax(const float* z, int64_t classes, double temperature, double* out) {
  double max = z[0];
  for (int64_t c = 1; c < classes; ++c) max = std::max(max, static_cast<double>(z[c]));
  double sum = 0;
  for (int64_t c = 0; c < classes; ++c) {
    out[c] = (z[c] - max) / temperature;
    sum += std::exp(out[c]);
  }
  const double log_sum = std::log(sum);
  for (int64_t c = 0; c < classes; ++c) out[c] -= log_sum;
}

}  // namespace

double Distillation(const Tensor& student, const Tensor& teacher, const Tensor& labels,
                    const DistillationOptions& options, Tensor& grad) {
  const int64_t batch = student.dim(0);
  const int64_t classes = student.dim(1);
  CheckLabelRange(labels, classes, "DistillationLoss");
  const double smooth = options.label_smoothing;

  const double alpha = options.alpha;
  const double t = options.temperature;
  const double inv_batch = 1.0 / static_cast<double>(batch);
  std::vector<double> log_ps_t(classes), log_pt_t(classes), log_ps(classes);
  double kl_total = 0, ce_total = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const float* zs = student.data<float>() + b * classes;
    const float* zt = teacher.data<float>() + b * classes;
    float* g = grad.data<float>() + b * classes;
    LogSoftmax(zs, classes, t, log_ps_t.data());
    LogSoftmax(zt, classes, t, log_pt_t.data());
    LogSoftmax(zs, classes, 1.0, log_ps.data());
    const int64_t label = Label(labels, b);
    double kl = 0;
    for (int64_t c = 0; c < classes; ++c) {
      const double pt = std::exp(log_pt_t[c]);
      const double ps_t = std::exp(log_ps_t[c]);
      const double ps = std::exp(log_ps[c]);
      if (pt > 0) kl += pt * (log_pt_t[c] - log_ps_t[c]);  // 0 * log 0 = 0
      const double q = (c == label ? 1.0 - smooth : 0.0) + smooth / static_cast<double>(classes);
      g[c] = static_cast<float>((alpha * t * (ps_t - pt) + (1 - alpha) * (ps - q)) * inv_batch);
      if (smooth > 0) ce_total -= smooth / static_cast<double>(classes) * log_ps[c];
    }
    kl_total += kl;
    ce_total -= (1 - smooth) * log_ps[label];
  }
  return (alpha * t * t * kl_total + (1 - alpha) * ce_total) * inv_batch;
}

}  // namespace millrace::ops::cpu
