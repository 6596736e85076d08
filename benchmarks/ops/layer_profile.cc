// Where a preset's training step goes: each layer's Forward and Backward time per step
// (medians over the steps) and the oneDNN implementations it runs, as a Markdown table.
//
//   build/benchmarks/ops_layer_profile --model dwsep --steps 30 --threads 1
//   ... --conv-layouts plain-pointwise   (cpu::ConvLayouts: auto, plain, onednn, plain-pointwise)
//
// One step: ZeroGrad, Forward (kTrain), Backward of a fixed random gradient of the logits (no
// loss, no optimizer). The parts of a DepthwiseSeparable block are listed under it (indented;
// the block's own row includes them). The step's "wall" is the median step's wall time, "CPU" the
// process's CPU time per step (all OpenMP threads). Per layer: with --threads 1, the medians of
// the compute thread's CPU time (all of the layer's work, and not inflated when other processes
// take the core: use this on a loaded machine); with more threads, of wall time. Threads: this
// program's main thread is the one compute thread, its OpenMP team has --threads threads
// (ops::InitComputeThread). For the primitive-level view, run with ONEDNN_VERBOSE=1 (or
// =profile_exec).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "ops/compute_thread.h"
#include "ops/cpu/layout.h"
#include "ops/init.h"
#include "ops/models.h"
#include "ops/profile.h"

namespace {

using millrace::Shape;
using millrace::Tensor;
using namespace millrace::ops;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int Usage() {
  std::cerr << "usage: ops_layer_profile [--model cnn|dwsep|mlp] [--steps N] [--warmup N]"
               " [--threads N] [--batch N] [--conv-layouts auto|plain|onednn|plain-pointwise]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "cnn";
  int steps = 30, warmup = 5, threads = 1;
  int64_t batch = 128;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Usage();
    const std::string value = argv[++i];
    if (arg == "--model")
      model_name = value;
    else if (arg == "--steps")
      steps = std::stoi(value);
    else if (arg == "--warmup")
      warmup = std::stoi(value);
    else if (arg == "--threads")
      threads = std::stoi(value);
    else if (arg == "--batch")
      batch = std::stoll(value);
    else if (arg == "--conv-layouts") {
      if (value == "auto")
        cpu::SetConvLayouts(cpu::ConvLayouts::kAuto);
      else if (value == "plain")
        cpu::SetConvLayouts(cpu::ConvLayouts::kPlain);
      else if (value == "onednn")
        cpu::SetConvLayouts(cpu::ConvLayouts::kOneDnn);
      else if (value == "plain-pointwise")
        cpu::SetConvLayouts(cpu::ConvLayouts::kPlainPointwise);
      else
        return Usage();
    } else
      return Usage();
  }
  InitComputeThread(millrace::Device::Cpu(), threads);
  Sequential model = MakeModel(model_name, 1);
  const Shape input = ModelInputShape(model_name, batch);
  const Shape output = model.OutputShape(input);
  Tensor x = Tensor::Empty(input), dy = Tensor::Empty(output);
  Rng rng(7);
  UniformFill(x, -1, 1, rng);
  UniformFill(dy, -1e-3, 1e-3, rng);

  auto Step = [&] {
    model.ZeroGrad();
    Tensor y = model.Forward(x, Mode::kTrain);
    Tensor dx = model.Backward(dy);
  };
  for (int i = 0; i < warmup; ++i) Step();
  LayerProfile profile;
  std::vector<double> wall;
  const double cpu_start = CpuSeconds();
  {
    LayerProfile::Scope scope(profile);
    for (int i = 0; i < steps; ++i) {
      const double start = WallSeconds();
      Step();
      wall.push_back(WallSeconds() - start);
    }
  }
  const double cpu_per_step = (CpuSeconds() - cpu_start) / steps;
  const double step = Median(wall);

  std::printf(
      "%s, batch %lld, %d OpenMP thread(s), %d steps: median step %.2f ms wall, "
      "%.2f ms CPU; %.0f samples/s (wall)\n\n",
      model_name.c_str(), static_cast<long long>(batch), threads, steps, step * 1e3,
      cpu_per_step * 1e3, batch / step);
  const bool cpu = threads == 1;
  const double total = cpu ? cpu_per_step : step;
  std::printf(
      "| layer | forward ms | backward ms | share of step | implementation (fwd / bwd) |\n");
  std::printf("|---|---|---|---|---|\n");
  double top_level = 0;
  for (const LayerProfile::Entry& e : profile.entries()) {
    const double f = Median(cpu ? e.forward_cpu_s : e.forward_s);
    const double b = Median(cpu ? e.backward_cpu_s : e.backward_s);
    if (e.depth == 0) top_level += f + b;
    std::printf("| %s%s | %.2f | %.2f | %.1f%% | %s |\n", e.depth ? "&nbsp;&nbsp;" : "",
                e.path.c_str(), f * 1e3, b * 1e3, 100 * (f + b) / total,
                e.implementation.empty() ? "-" : e.implementation.c_str());
  }
  std::printf("| (ZeroGrad, between layers) | | | %.1f%% | |\n", 100 * (total - top_level) / total);
  std::printf("\nPer layer: medians of %s per step.\n",
              cpu ? "the compute thread's CPU time" : "wall time");
  return 0;
}
