// Runs the built `millrace` (MILLRACE_BINARY) with arguments, as a person would from a shell:
// its exit code and everything it printed (stdout and stderr together).
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace millrace::testing {

struct CliResult {
  int code = -1;
  std::string out;  // stdout and stderr together
};

inline CliResult RunMillrace(const std::string& args) {
  const std::string command = std::string(MILLRACE_BINARY) + " " + args + " 2>&1";
  CliResult r;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) r.out.append(buffer.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace millrace::testing
