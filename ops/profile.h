// LayerProfile: wall time of each layer's Forward and Backward, for profiling tools.
//
//   LayerProfile profile;
//   {
//     LayerProfile::Scope scope(profile);  // installs it on the calling (compute) thread
//     model.Forward(x, Mode::kTrain);
//     model.Backward(dy);
//   }
//   for (const LayerProfile::Entry& e : profile.entries()) ...  // "conv1", "block1.dw", ...
//
// Sequential times every layer while a profile is installed on the calling thread; the parts of
// a composite layer (a DepthwiseSeparable's Sequential) are recorded under the layer's path
// ("block1.dw", depth 1) besides the layer itself. A conversion to the plain layout that
// Sequential makes before a layer is counted in that layer's time. Without a profile the cost
// is one thread_local read per layer. Not synchronised: one thread records at a time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace millrace::ops {

class Layer;

class LayerProfile {
 public:
  enum class Pass : unsigned char { kForward, kBackward };
  struct Entry {
    std::string path;                           // "conv1", "block1.dw"
    int depth = 0;                              // 0 for a model's own layers
    std::string implementation;                 // Layer::BackendInfo() after the last Forward
    std::vector<double> forward_s, backward_s;  // wall time, one sample per call
    // CPU time of the calling thread, one sample per call: all of the layer's work when its
    // oneDNN team has one thread, and unaffected by other processes taking the core.
    std::vector<double> forward_cpu_s, backward_cpu_s;
  };

  const std::vector<Entry>& entries() const { return entries_; }
  void Clear() { entries_.clear(); }

  // Installs `profile` on the calling thread for the scope's lifetime (nests; restores the
  // previous one).
  class Scope {
   public:
    explicit Scope(LayerProfile& profile);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    LayerProfile* previous_;
  };

  // For Sequential: the calling thread's profile, or nullptr.
  static LayerProfile* Current();
  // Runs `run` (a layer's Forward or Backward) and records its time under the current path
  // extended by `name`; layers run inside it record under that path.
  template <typename Run>
  auto Time(std::string_view name, const Layer& layer, Pass pass, Run&& run) {
    const size_t entry = Enter(name);
    const double start = Now(), cpu_start = ThreadCpuNow();
    auto result = run();
    Leave(entry, layer, pass, Now() - start, ThreadCpuNow() - cpu_start);
    return result;
  }

 private:
  size_t Enter(std::string_view name);  // the entry's index
  void Leave(size_t entry, const Layer& layer, Pass pass, double seconds, double cpu_seconds);
  static double Now();
  static double ThreadCpuNow();

  std::vector<Entry> entries_;
  std::vector<std::string> path_;  // the layers being run, outermost first
};

}  // namespace millrace::ops
