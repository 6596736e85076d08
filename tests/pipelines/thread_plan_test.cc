// The compute thread plan: the rule, the data stages' measured cores, and when it replans.
#include "pipelines/thread_plan.h"

#include <gtest/gtest.h>

namespace millrace::pipelines {
namespace {

TEST(ThreadPlan, ComputeGetsTheCoresTheDataStagesDoNotUse) {
  EXPECT_EQ(PlanComputeThreads(2, 0.06, 0.25), 2);  // IDX: a few percent of a core
  EXPECT_EQ(PlanComputeThreads(2, 0.25, 0.25), 2);
  EXPECT_EQ(PlanComputeThreads(2, 0.26, 0.25), 1);
  EXPECT_EQ(PlanComputeThreads(2, 1.9, 0.25), 1);  // never below one
  EXPECT_EQ(PlanComputeThreads(16, 3.1, 0.25), 13);
  EXPECT_EQ(PlanComputeThreads(16, 3.3, 0.25), 12);
  EXPECT_EQ(PlanComputeThreads(1, 0.0, 0.25), 1);
  EXPECT_EQ(PlanComputeThreads(0, 0.0, 0.25), 1);
}

StageStats Stage(const std::string& name, const std::string& placement, double busy_s) {
  StageStats s;
  s.name = name;
  s.placement = placement;
  s.busy_s = busy_s;
  return s;
}

GraphStats Stats(double elapsed_s, double augment_busy, double collate_busy, double read_busy,
                 double forward_busy) {
  GraphStats g;
  g.elapsed_s = elapsed_s;
  g.stages = {Stage("read", "io(1)", read_busy), Stage("augment", "cpu(2)", augment_busy),
              Stage("collate", "cpu(1)", collate_busy), Stage("forward", "compute", forward_busy)};
  return g;
}

// Only cpu-worker stages count, over the window between two statistics.
TEST(ThreadPlan, DataCoresAreTheCpuStagesBusySecondsOverTheWindow) {
  const GraphStats a = Stats(2.0, 1.0, 0.2, 1.5, 1.9);
  const GraphStats b = Stats(12.0, 7.0, 1.2, 9.5, 11.9);
  EXPECT_DOUBLE_EQ(DataCores(a, b), (6.0 + 1.0) / 10.0);
  EXPECT_DOUBLE_EQ(DataCores(GraphStats{}, a), 1.2 / 2.0);
  EXPECT_EQ(DataCores(b, b), 0.0);
}

TEST(ThreadPlan, ReplansEveryWindowAndSaysWhy) {
  ComputeThreadPlan plan(2, 2, /*adaptive=*/true, {.first_after_s = 2, .every_s = 10, .slack = 0.25});
  EXPECT_FALSE(plan.Due(1.9));
  ASSERT_TRUE(plan.Due(2.0));
  EXPECT_EQ(plan.Update(Stats(2.0, 0.05, 0.05, 1.0, 1.9)), std::nullopt);  // 0.05 cores: keep 2
  EXPECT_EQ(plan.threads(), 2);
  EXPECT_NE(plan.Explain().find("data stages busy 0.05 cores over 2.0 s"), std::string::npos)
      << plan.Explain();
  EXPECT_FALSE(plan.Due(11.9));
  ASSERT_TRUE(plan.Due(12.0));
  EXPECT_EQ(plan.Update(Stats(12.0, 6.1, 0.05, 1.0, 1.9)), 1);  // augment got busy: 0.6 cores
  EXPECT_EQ(plan.threads(), 1);
  EXPECT_EQ(plan.Update(Stats(22.0, 6.2, 0.06, 1.0, 1.9)), 2);  // and idle again
  ComputeThreadPlan fixed(2, 1, /*adaptive=*/false);
  EXPECT_FALSE(fixed.Due(100.0));
  EXPECT_EQ(fixed.Update(Stats(12.0, 0, 0, 0, 0)), std::nullopt);
  EXPECT_EQ(fixed.threads(), 1);
  EXPECT_NE(fixed.Explain().find("fixed"), std::string::npos);
}

}  // namespace
}  // namespace millrace::pipelines
