#include "core/error.h"

#include <gtest/gtest.h>

namespace millrace {
namespace {

TEST(Error, MessageNamesStageFileAndRecord) {
  Error e = Error(ErrorKind::kData, "truncated gzip stream")
                .WithFile("train.gz")
                .WithRecord(17)
                .WithStage("read");
  EXPECT_STREQ(e.what(), "stage 'read': data error: train.gz, record 17: truncated gzip stream");
  EXPECT_EQ(e.stage(), "read");
  EXPECT_EQ(e.record(), 17);
  EXPECT_EQ(e.kind(), ErrorKind::kData);
}

TEST(Error, CheckMacroThrowsWithStreamedMessage) {
  auto f = [](int n) { MILLRACE_CHECK_ARG(n > 0, "n must be > 0, got " << n); };
  EXPECT_NO_THROW(f(1));
  try {
    f(-3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid argument: n must be > 0, got -3");
  }
}

}  // namespace
}  // namespace millrace
