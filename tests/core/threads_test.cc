#include "core/threads.h"

#include <gtest/gtest.h>

#include <thread>

namespace millrace {
namespace {

TEST(Threads, AvailableCoresIsWithinHardware) {
  const int cores = AvailableCores();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(Threads, DefaultBudgetFitsTheCores) {
  for (int cores : {1, 2, 4, 16}) {
    ThreadBudget b = DefaultThreadBudget(cores);
    EXPECT_GE(b.cpu_stages, 1);
    EXPECT_GE(b.compute, 1);
    EXPECT_EQ(b.compute, cores);  // the run shrinks it by what the cpu stages use
    EXPECT_LE(b.cpu_stages, std::max(1, cores / 2)) << cores << " cores";
  }
}

}  // namespace
}  // namespace millrace
