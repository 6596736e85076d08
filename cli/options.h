// Flags shared by the `millrace` subcommands, and their translation into a TrainConfig.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "ops/precision.h"
#include "pipelines/train_config.h"

namespace millrace::cli {

// Flags that are strings on the command line and become typed values in TrainConfig.
struct RawFlags {
  std::string device = "auto";
  std::string precision;  // "fp32", "tf32", "bf16"; empty: not given (ops::kDefaultPrecision)
  std::vector<std::string> concurrency;  // "augment=2"
  std::vector<std::string> capacity;     // "collate=8"
  bool per_tensor = false;               // pruning ranked per tensor instead of globally
  bool no_prune_lr_restart = false;      // gradual pruning keeps the lr schedule (PruneConfig)
  bool no_eval = false;
  std::string on_nonfinite = "fail";   // NonFinitePolicy
  std::string on_bad_record = "fail";  // TrainConfig::bad_records
};

// The model presets that ops::MakeModel builds.
const std::vector<std::string>& ModelChoices();

// --model, --data, --format, --limit, --test-limit, --batch-size, --seed, --device,
// --precision, --compute-threads, --deterministic.
void AddCommonOptions(CLI::App& cmd, pipelines::TrainConfig& config, RawFlags& raw);
// Everything `train` adds on top: epochs, optimizer, schedule, pruning, distillation,
// concurrency, checkpoints, trace.
void AddTrainOptions(CLI::App& cmd, pipelines::TrainConfig& config, RawFlags& raw);

// --on-bad-record and --max-bad-share (train and eval); `raw.on_bad_record` becomes
// config.bad_records in Resolve (train) or RunEval.
void AddBadRecordOptions(CLI::App& cmd, pipelines::TrainConfig& config, RawFlags& raw);
// "bad records skipped (--on-bad-record skip): N records skipped; first: ..." and one line per
// record the SkipLog describes (file, record and reason); nothing when none was skipped.
void ReportSkippedRecords(std::ostream& out, const pipelines::TrainConfig& config);

// Fills config.device, config.concurrency and config.capacity from `raw`; throws
// Error(kInvalidArgument) for a malformed "stage=N", Error(kCuda) for a CUDA device this
// build can't train on. `notes` receives lines worth printing (e.g. "auto picked cpu: ...").
void Resolve(const RawFlags& raw, pipelines::TrainConfig& config, std::vector<std::string>& notes);

// "augment=2" -> {"augment", 2}; throws Error(kInvalidArgument) naming `flag` otherwise.
std::map<std::string, int> ParseStageMap(const std::vector<std::string>& items,
                                         const std::string& flag);
// --config FILE (train and tune): settings from a JSON file (pipelines/config_file.h), applied
// by ApplyConfigFile after Resolve.
void AddConfigOption(CLI::App& cmd, std::string& path);
// Applies the file's settings to `config` where the command line did not set them (a flag
// given on `cmd` overrides the file's key; --concurrency/--capacity override it per stage).
// Throws Error naming the file and the key. `notes` receives what was applied.
void ApplyConfigFile(const CLI::App& cmd, const std::string& path, pipelines::TrainConfig& config,
                     std::vector<std::string>& notes);

// Device from "auto", "cpu", "cuda", "cuda:N"; see Resolve.
Device ResolveDevice(const std::string& text, std::vector<std::string>& notes);
// The precision from --precision's text (empty: not given, ops::kDefaultPrecision); CLI11 has
// checked it is one of PrecisionChoices(). On the CPU (`device`) a precision given other than
// fp32 is accepted, and `notes` gets a line saying that it has no effect there (oneDNN computes
// f32), so that one command line serves both devices. bf16 on a GPU of compute capability < 8.0
// throws Error(kInvalidArgument) (exit 2) before any data loads.
ops::Precision ResolvePrecision(const std::string& text, Device device,
                                std::vector<std::string>& notes);
// "fp32", "tf32", "bf16".
const std::vector<std::string>& PrecisionChoices();

}  // namespace millrace::cli
