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
    EXPECT_LE(b.cpu_stages + b.compute, std::max(2, cores)) << cores << " cores";
  }
}

}  // namespace
}  // namespace millrace
