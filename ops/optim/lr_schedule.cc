#include "ops/optim/lr_schedule.h"

#include <cmath>
#include <numbers>
#include <sstream>

#include "core/error.h"

namespace millrace::ops {
namespace {

class Constant final : public LrSchedule {
 public:
  explicit Constant(double factor) : factor_(factor) {}
  double Factor(int64_t) const override { return factor_; }
  std::string Describe() const override {
    return factor_ == 1 ? "Constant" : "Constant(" + std::to_string(factor_) + ")";
  }

 private:
  double factor_;
};

class Step final : public LrSchedule {
 public:
  Step(int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {}
  double Factor(int64_t step) const override {
    return std::pow(gamma_, static_cast<double>(step / step_size_));
  }
  std::string Describe() const override {
    std::ostringstream s;
    s << "Step(every " << step_size_ << ", gamma=" << gamma_ << ")";
    return s.str();
  }

 private:
  int64_t step_size_;
  double gamma_;
};

class Cosine final : public LrSchedule {
 public:
  Cosine(int64_t total, double min) : total_(total), min_(min) {}
  double Factor(int64_t step) const override {
    if (step >= total_) return min_;
    const double x = std::numbers::pi * static_cast<double>(step) / static_cast<double>(total_);
    return min_ + (1 - min_) * (1 + std::cos(x)) / 2;
  }
  std::string Describe() const override {
    std::ostringstream s;
    s << "Cosine(T=" << total_ << ", min=" << min_ << ")";
    return s.str();
  }

 private:
  int64_t total_;
  double min_;
};

class Warmup final : public LrSchedule {
 public:
  Warmup(int64_t steps, double start) : steps_(steps), start_(start) {}
  double Factor(int64_t step) const override {
    if (step >= steps_) return 1;
    return start_ + (1 - start_) * static_cast<double>(step) / static_cast<double>(steps_);
  }
  std::string Describe() const override {
    std::ostringstream s;
    s << "LinearWarmup(" << steps_ << " steps from " << start_ << ")";
    return s.str();
  }

 private:
  int64_t steps_;
  double start_;
};

class Product final : public LrSchedule {
 public:
  explicit Product(std::vector<LrSchedulePtr> parts) : parts_(std::move(parts)) {}
  double Factor(int64_t step) const override {
    double f = 1;
    for (const auto& p : parts_) f *= p->Factor(step);
    return f;
  }
  std::string Describe() const override {
    std::string s;
    for (const auto& p : parts_) s += (s.empty() ? "" : " x ") + p->Describe();
    return s;
  }

 private:
  std::vector<LrSchedulePtr> parts_;
};

class Sequence final : public LrSchedule {
 public:
  Sequence(std::vector<LrSchedulePtr> parts, std::vector<int64_t> milestones)
      : parts_(std::move(parts)), milestones_(std::move(milestones)) {}
  double Factor(int64_t step) const override {
    size_t i = 0;
    while (i < milestones_.size() && step >= milestones_[i]) ++i;
    const int64_t start = i == 0 ? 0 : milestones_[i - 1];
    return parts_[i]->Factor(step - start);
  }
  std::string Describe() const override {
    std::ostringstream s;
    for (size_t i = 0; i < parts_.size(); ++i) {
      if (i) s << " then (at " << milestones_[i - 1] << ") ";
      s << parts_[i]->Describe();
    }
    return s.str();
  }

 private:
  std::vector<LrSchedulePtr> parts_;
  std::vector<int64_t> milestones_;
};

}  // namespace

LrSchedulePtr ConstantLr(double factor) {
  MILLRACE_CHECK_ARG(factor > 0, "ConstantLr: factor must be > 0, got " << factor);
  return std::make_shared<Constant>(factor);
}

LrSchedulePtr StepLr(int64_t step_size, double gamma) {
  MILLRACE_CHECK_ARG(step_size > 0, "StepLr: step size must be > 0, got " << step_size);
  MILLRACE_CHECK_ARG(gamma > 0, "StepLr: gamma must be > 0, got " << gamma);
  return std::make_shared<Step>(step_size, gamma);
}

LrSchedulePtr CosineLr(int64_t total_steps, double min_factor) {
  MILLRACE_CHECK_ARG(total_steps > 0, "CosineLr: total steps must be > 0, got " << total_steps);
  MILLRACE_CHECK_ARG(min_factor >= 0 && min_factor <= 1,
                     "CosineLr: min factor must be in [0, 1], got " << min_factor);
  return std::make_shared<Cosine>(total_steps, min_factor);
}

LrSchedulePtr LinearWarmupLr(int64_t warmup_steps, double start_factor) {
  MILLRACE_CHECK_ARG(warmup_steps > 0,
                     "LinearWarmupLr: warm-up steps must be > 0, got " << warmup_steps);
  MILLRACE_CHECK_ARG(start_factor >= 0 && start_factor <= 1,
                     "LinearWarmupLr: start factor must be in [0, 1], got " << start_factor);
  return std::make_shared<Warmup>(warmup_steps, start_factor);
}

LrSchedulePtr ProductLr(std::vector<LrSchedulePtr> schedules) {
  MILLRACE_CHECK_ARG(!schedules.empty(), "ProductLr: no schedules");
  for (const auto& s : schedules) MILLRACE_CHECK_ARG(s != nullptr, "ProductLr: null schedule");
  return std::make_shared<Product>(std::move(schedules));
}

LrSchedulePtr SequentialLr(std::vector<LrSchedulePtr> schedules, std::vector<int64_t> milestones) {
  MILLRACE_CHECK_ARG(!schedules.empty() && milestones.size() + 1 == schedules.size(),
                     "SequentialLr: " << schedules.size() << " schedules need "
                                      << (schedules.empty() ? 0 : schedules.size() - 1)
                                      << " milestones, got " << milestones.size());
  for (const auto& s : schedules) MILLRACE_CHECK_ARG(s != nullptr, "SequentialLr: null schedule");
  for (size_t i = 0; i < milestones.size(); ++i) {
    MILLRACE_CHECK_ARG(milestones[i] > (i == 0 ? 0 : milestones[i - 1]),
                       "SequentialLr: milestones must be positive and increasing");
  }
  return std::make_shared<Sequence>(std::move(schedules), std::move(milestones));
}

}  // namespace millrace::ops
