#include "core/graph/stats.h"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace millrace {

namespace {
std::string Percent(double fraction) {
  return std::to_string(static_cast<int>(std::lround(fraction * 100))) + "%";
}
}  // namespace

const StageStats* GraphStats::Bottleneck() const {
  const StageStats* best = nullptr;
  for (const auto& s : stages) {
    if (best == nullptr || s.busy_fraction > best->busy_fraction) best = &s;
  }
  return best;
}

std::string GraphStats::BottleneckSentence() const {
  const StageStats* b = Bottleneck();
  if (b == nullptr) return "the graph has no stages";
  std::ostringstream out;
  out << b->name << " is the bottleneck: busy " << Percent(b->busy_fraction) << " at concurrency "
      << b->concurrency;
  // Who waits on it: its consumers starve, its producers block.
  for (const auto& s : stages) {
    for (const auto& from : s.inputs_from) {
      if (from == b->name && s.starved_fraction >= 0.005) {
        out << "; " << s.name << " waited " << Percent(s.starved_fraction)
            << " on an empty input from " << b->name;
      }
    }
  }
  for (const auto& from : b->inputs_from) {
    for (const auto& s : stages) {
      if (s.name == from && s.blocked_fraction >= 0.005) {
        out << "; " << s.name << " was blocked " << Percent(s.blocked_fraction)
            << " on a full output to " << b->name;
      }
    }
  }
  return out.str();
}

std::string GraphStats::ToTable() const {
  std::ostringstream out;
  out << std::left << std::setw(16) << "stage" << std::setw(10) << "placement" << std::setw(9)
      << "shape" << std::right << std::setw(12) << "items in" << std::setw(12) << "items out"
      << std::setw(7) << "busy" << std::setw(9) << "starved" << std::setw(9) << "blocked" << '\n';
  for (const auto& s : stages) {
    out << std::left << std::setw(16) << s.name << std::setw(10) << s.placement << std::setw(9)
        << s.shape << std::right << std::setw(12) << s.items_in << std::setw(12) << s.items_out
        << std::setw(7) << Percent(s.busy_fraction) << std::setw(9) << Percent(s.starved_fraction)
        << std::setw(9) << Percent(s.blocked_fraction) << '\n';
  }
  out << '\n'
      << std::left << std::setw(34) << "channel" << std::right << std::setw(10) << "capacity"
      << std::setw(11) << "mean fill" << std::setw(10) << "max fill" << std::setw(12) << "items"
      << '\n';
  for (const auto& c : channels) {
    std::ostringstream mean;
    mean << std::fixed << std::setprecision(1) << c.mean_occupancy;
    out << std::left << std::setw(34) << (c.from + " -> " + c.to) << std::right << std::setw(10)
        << c.capacity << std::setw(11) << mean.str() << std::setw(10) << c.max_occupancy
        << std::setw(12) << c.items << '\n';
  }
  std::ostringstream elapsed;
  elapsed << std::fixed << std::setprecision(3) << elapsed_s;
  out << "\nelapsed " << elapsed.str() << " s" << (running ? " (running)" : "") << "; "
      << BottleneckSentence() << '\n';
  return out.str();
}

}  // namespace millrace
