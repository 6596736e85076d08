// Peak resident memory of a piece of code, for tests that bound what a hostile input may cost:
//
//   PeakRss probe;                 // resets the kernel's high-water mark (VmHWM)
//   Parse(hostile_file);
//   EXPECT_LT(probe.GrowthBytes(), 32 << 20);
//
// Linux: /proc/self/clear_refs ("5" resets VmHWM to the current RSS) and /proc/self/status.
// Whole-process figures: run nothing else in the test process meanwhile.
#pragma once

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

namespace millrace::testing {

class PeakRss {
 public:
  PeakRss() {
    std::ofstream("/proc/self/clear_refs") << "5";
    start_ = Read("VmRSS:");
  }
  // Peak RSS since construction minus the RSS at construction, in bytes; printed as
  // "[ peak RSS ] <what>: N MiB" (docs/RELIABILITY.md quotes these lines).
  int64_t GrowthBytes(const char* what = nullptr) const {
    const int64_t growth = Read("VmHWM:") - start_;
    if (what != nullptr) std::printf("[ peak RSS ] %s: %.1f MiB\n", what, growth / 1048576.0);
    return growth;
  }
  static int64_t Read(const std::string& key) {
    std::ifstream status("/proc/self/status");
    std::string word;
    while (status >> word) {
      if (word == key) {
        int64_t kb = 0;
        status >> kb;
        return kb * 1024;
      }
    }
    return 0;
  }

 private:
  int64_t start_ = 0;
};

}  // namespace millrace::testing
