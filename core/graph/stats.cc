#include "core/graph/stats.h"

#include <algorithm>
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

namespace {
// Stages on a device (Compute(), Gpu(d)) share its one thread: the device is one unit.
bool OnDevice(const StageStats& s) {
  return s.placement == "compute" || s.placement.rfind("gpu:", 0) == 0;
}
}  // namespace

std::string GraphStats::BottleneckSentence() const {
  const StageStats* b = Bottleneck();
  if (b == nullptr) return "the graph has no stages";
  // The busiest device, its stages' busy shares summed.
  std::string device;
  double device_busy = 0.0;
  for (const auto& s : stages) {
    if (!OnDevice(s)) continue;
    double busy = 0.0;
    for (const auto& t : stages) {
      if (t.placement == s.placement) busy += t.busy_fraction;
    }
    if (busy > device_busy) {
      device = s.placement;
      device_busy = busy;
    }
  }
  std::ostringstream out;
  auto in_unit = [&](const std::string& name) {
    for (const auto& s : stages) {
      if (s.name == name) return device_busy >= b->busy_fraction ? s.placement == device
                                                                 : s.name == b->name;
    }
    return false;
  };
  if (!device.empty() && device_busy >= b->busy_fraction) {
    out << "the " << device << " device is the bottleneck: busy "
        << Percent(std::min(1.0, device_busy)) << " (";
    const char* sep = "";
    for (const auto& s : stages) {
      if (s.placement != device || s.busy_fraction < 0.005) continue;
      out << sep << s.name << " " << Percent(s.busy_fraction);
      sep = ", ";
    }
    out << ")";
  } else {
    out << b->name << " is the bottleneck: busy " << Percent(b->busy_fraction)
        << " at concurrency " << b->concurrency;
  }
  // Who waits on it: its consumers starve, its producers block.
  for (const auto& s : stages) {
    if (in_unit(s.name)) continue;
    for (const auto& from : s.inputs_from) {
      if (in_unit(from) && s.starved_fraction >= 0.005) {
        out << "; " << s.name << " waited " << Percent(s.starved_fraction)
            << " on an empty input from " << from;
      }
    }
  }
  for (const auto& s : stages) {
    if (!in_unit(s.name)) continue;
    for (const auto& from : s.inputs_from) {
      for (const auto& p : stages) {
        if (p.name == from && !in_unit(p.name) && p.blocked_fraction >= 0.005) {
          out << "; " << p.name << " was blocked " << Percent(p.blocked_fraction)
              << " on a full output to " << s.name;
        }
      }
    }
  }
  return out.str();
}

std::string GraphStats::ToTable() const {
  // The column of skipped items only when a stage skipped any.
  bool skips = false;
  for (const auto& s : stages) skips = skips || s.items_skipped > 0;
  std::ostringstream out;
  out << std::left << std::setw(16) << "stage" << std::setw(10) << "placement" << std::setw(9)
      << "shape" << std::right << std::setw(12) << "items in" << std::setw(12) << "items out";
  if (skips) out << std::setw(9) << "skipped";
  out << std::setw(7) << "busy" << std::setw(9) << "starved" << std::setw(9) << "blocked" << '\n';
  for (const auto& s : stages) {
    out << std::left << std::setw(16) << s.name << std::setw(10) << s.placement << std::setw(9)
        << s.shape << std::right << std::setw(12) << s.items_in << std::setw(12) << s.items_out;
    if (skips) out << std::setw(9) << s.items_skipped;
    out << std::setw(7) << Percent(s.busy_fraction) << std::setw(9) << Percent(s.starved_fraction)
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
