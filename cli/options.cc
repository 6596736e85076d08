#include "cli/options.h"

#include <charconv>
#include <ostream>
#include <set>

#include "core/error.h"
#include "io/record.h"
#include "ops/compute_thread.h"
#include "ops/models.h"
#include "pipelines/config_file.h"

namespace millrace::cli {

const std::vector<std::string>& ModelChoices() {
  static const std::vector<std::string> kChoices = ops::ModelNames();
  return kChoices;
}

void AddCommonOptions(CLI::App& cmd, pipelines::TrainConfig& c, RawFlags& raw) {
  cmd.add_option("-m,--model", c.model,
                 "model preset: mlp (784-500-10), mlp-small (784-64-10), cnn (small conv net "
                 "with BatchNorm), dwsep (depthwise-separable CNN)")
      ->check(CLI::IsMember(ModelChoices()))
      ->capture_default_str();
  cmd.add_option("--data", c.data_dir, "dataset directory")->capture_default_str();
  cmd.add_option("--format", c.data_format,
                 "dataset format: idx (MNIST/Fashion-MNIST files, gzip or raw), folder "
                 "(DIR/train and DIR/test class-per-folder image trees, as `millrace data "
                 "to-folder` writes them) or tar (DIR/train/*.tar and DIR/test/*.tar WebDataset "
                 "shards, as `millrace data to-tar` writes them; their index is a file, "
                 "millrace.tarindex beside them, written once and reused while they are unchanged; "
                 "the records are read from disk)")
      ->check(CLI::IsMember({"idx", "folder", "tar"}))
      ->capture_default_str();
  cmd.add_option("--limit", c.limit, "use only the first N training samples (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--test-limit", c.test_limit, "evaluate on the first N test samples (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("-b,--batch-size", c.batch_size, "samples per batch")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  cmd.add_option("--seed", c.seed, "seed of initial weights, shuffling and augmentation")
      ->capture_default_str();
  cmd.add_option("--device", raw.device,
                 "where compute runs: auto, cpu, cuda:N (auto = cuda:0 where a GPU answers and "
                 "this build has the CUDA backend, else cpu)")
      ->capture_default_str();
  cmd.add_option("--precision", raw.precision,
                 "how Linear's and Conv2d's matmuls compute on a CUDA device: fp32; tf32 (the "
                 "default: inputs rounded to TF32 on the tensor cores, FP32 sums; fp32 on a GPU "
                 "of compute capability < 8.0); bf16 (autocast: bf16 inputs, FP32 sums, f32 "
                 "outputs; weights, gradients, BatchNorm, pooling, the loss and the optimizer "
                 "stay f32; compute capability >= 8.0). No effect on --device cpu: oneDNN "
                 "computes f32")
      ->check(CLI::IsMember(PrecisionChoices()));
  cmd.add_option("--compute-threads", c.compute_threads,
                 "oneDNN (OpenMP) threads of the compute thread (0 = the default budget)")
      ->check(CLI::Range(0, 1024));
  cmd.add_flag("--deterministic", c.deterministic,
               "fixed thread counts and sequence-ordered delivery: the same bits every run");
}

void AddTrainOptions(CLI::App& cmd, pipelines::TrainConfig& c, RawFlags& raw) {
  cmd.add_option("-e,--epochs", c.epochs, "passes over the training set")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd.add_option("--max-steps", c.max_steps, "stop after N optimizer steps (0 = no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--augment", c.augment, "random crop (padding 2) and horizontal flip");
  cmd.add_option("--read-ahead", c.read_ahead,
                 "folder and tar: records read ahead of the augment stage (asynchronous reads "
                 "in flight; MILLRACE_IO_URING=0 reads with a pread pool)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  auto& o = c.optimizer;
  cmd.add_option("--optimizer", o.name, "sgd or adamw")
      ->check(CLI::IsMember({"sgd", "adamw"}))
      ->capture_default_str();
  cmd.add_option("--lr", o.lr, "peak learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--momentum", o.momentum, "SGD momentum")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_flag("--nesterov,!--no-nesterov", o.nesterov,
               "Nesterov momentum (SGD; on by default, --no-nesterov for classical momentum)");
  cmd.add_option("--weight-decay", o.weight_decay, "weight decay (AdamW: decoupled)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--schedule", o.schedule, "learning-rate schedule: constant, step, cosine")
      ->check(CLI::IsMember({"constant", "step", "cosine"}))
      ->capture_default_str();
  cmd.add_option("--warmup", o.warmup_steps, "linear warm-up steps")->check(CLI::NonNegativeNumber);
  cmd.add_option("--step-gamma", o.step_gamma, "step schedule: lr factor at each drop");
  cmd.add_option("--step-every", o.step_every, "step schedule: steps between drops (0 = epoch)");
  cmd.add_option("--label-smoothing", c.label_smoothing,
                 "loss target (1 - e) * onehot + e / classes, as PyTorch's label_smoothing")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  cmd.add_option("--validation", c.validation,
                 "hold out the last N training samples: not trained on, evaluated at each "
                 "epoch's end (pick settings on it, not on the test set); refused when the "
                 "records are ordered by class, as an image tree's are")
      ->check(CLI::NonNegativeNumber);

  auto& p = c.prune;
  cmd.add_option("--prune", p.method,
                 "magnitude pruning: none, oneshot (at --prune-start), gradual (Zhu & Gupta "
                 "cubic ramp from --prune-start to --prune-end)")
      ->check(CLI::IsMember({"none", "oneshot", "gradual"}))
      ->capture_default_str();
  cmd.add_option("--sparsity", p.sparsity, "final fraction of weights pruned")
      ->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--prune-start", p.start_step,
                 "step where pruning starts (default: gradual: two fifths of the run; oneshot: 0)");
  cmd.add_option("--prune-end", p.end_step,
                 "step where the gradual ramp ends (default: three fifths of the run)");
  cmd.add_option("--prune-every", p.every, "gradual: steps between mask updates")
      ->capture_default_str();
  cmd.add_flag("--prune-per-tensor", raw.per_tensor, "rank each tensor alone (default: global)");
  cmd.add_option("--prune-restart-lr-factor", p.restart_lr_factor,
                 "gradual: the restarted lr's peak as a multiple of --lr")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_flag("--no-prune-lr-restart", raw.no_prune_lr_restart,
               "gradual: keep the lr schedule through the fine-tuning (default: after the ramp "
               "the lr restarts at --prune-restart-lr-factor x its peak and decays to 0 by "
               "cosine)");

  cmd.add_option("--teacher", c.teacher_checkpoint,
                 "teacher checkpoint (safetensors) for distillation");
  cmd.add_option("--teacher-cache", c.teacher_cache,
                 "the teacher's logits: auto (in memory unless --augment: the teacher runs in "
                 "epoch 1 only), off (it runs for every batch), memory, or FILE (kept across "
                 "runs: once complete the teacher does not run; a file of another teacher or "
                 "data is recomputed and overwritten)")
      ->capture_default_str();
  cmd.add_option("--teacher-on", c.teacher_placement,
                 "where the teacher's forward runs: compute (the student's device), cpu (a cpu "
                 "worker through oneDNN), or cuda:N (that GPU, beside a student anywhere)")
      ->capture_default_str();
  cmd.add_option("--teacher-model", c.teacher_model, "the teacher's model preset")
      ->check(CLI::IsMember(ModelChoices()))
      ->capture_default_str();
  cmd.add_option("--temperature", c.distill_temperature, "distillation temperature T")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--alpha", c.distill_alpha, "weight of the distillation term")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();

  cmd.add_option("--concurrency", raw.concurrency,
                 "workers of a cpu stage, STAGE=N (repeatable), e.g. --concurrency augment=2");
  cmd.add_option("--capacity", raw.capacity,
                 "capacity of the channel into a stage, STAGE=N (repeatable)");
  cmd.add_option("--checkpoint-dir", c.checkpoint_dir,
                 "write DIR/last.safetensors at each epoch's end, and DIR/best.safetensors (the "
                 "weights of the epoch with the best validation accuracy, or test accuracy "
                 "without --validation) when an evaluation runs each epoch");
  cmd.add_option("--keep-checkpoints", c.keep_checkpoints,
                 "step-numbered checkpoints kept in --checkpoint-dir beside last.safetensors")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd.add_flag("--resume", c.resume,
               "continue from --checkpoint-dir's last checkpoint (an epoch's end, or the step "
               "where an interrupted run stopped)");
  AddBadRecordOptions(cmd, c, raw);
  cmd.add_option("--on-nonfinite", raw.on_nonfinite,
                 "a batch whose loss or gradients are NaN or Inf: fail (stop, naming the step "
                 "and the stage, loss or backward; exit 3) or skip (no update for that batch; the "
                 "count is reported)")
      ->check(CLI::IsMember({"fail", "skip"}))
      ->capture_default_str();
  cmd.add_flag("--no-cuda-graphs{false}", c.cuda_graphs,
               "on a GPU, run every step's kernels one by one instead of capturing the step "
               "once as a CUDA Graph and replaying it (to compare, or to debug a capture)");
  cmd.add_option("--trace", c.trace_path, "write a Chrome trace-event JSON (open in Perfetto)");
  cmd.add_flag("--no-eval", raw.no_eval, "skip the test-set evaluation at each epoch's end");
}

std::map<std::string, int> ParseStageMap(const std::vector<std::string>& items,
                                         const std::string& flag) {
  std::map<std::string, int> out;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    int value = 0;
    const char* begin = eq == std::string::npos ? nullptr : item.data() + eq + 1;
    const char* end = item.data() + item.size();
    const bool ok = eq != std::string::npos && eq > 0 && begin != end &&
                    std::from_chars(begin, end, value).ptr == end && value >= 1;
    MILLRACE_CHECK_ARG(
        ok, flag << " " << item << ": expected STAGE=N with N >= 1, e.g. " << flag << " augment=2");
    out[item.substr(0, eq)] = value;
  }
  return out;
}

Device ResolveDevice(const std::string& text, std::vector<std::string>& notes) {
  if (text == "auto") {
    // The first GPU where this build has the CUDA backend and one answers; the CPU otherwise.
    if (CudaDeviceCount() > 0) {
      try {
        ops::CheckComputeDevice(Device::Cuda(0));
        notes.push_back("--device auto: training on cuda:0 (--device cpu for the CPU)");
        return Device::Cuda(0);
      } catch (const Error& e) {
        notes.push_back("--device auto: a CUDA device answers, but " + e.message() +
                        "; training on the CPU");
      }
    }
    return Device::Cpu();
  }
  Device device;
  try {
    device = Device::Parse(text);
  } catch (const Error& e) {
    MILLRACE_THROW(ErrorKind::kInvalidArgument,
                   "--device " << text << ": expected auto, cpu or cuda:N");
  }
  try {
    ops::CheckComputeDevice(device);
  } catch (const Error& e) {
    MILLRACE_THROW(ErrorKind::kCuda,
                   "--device " << text << ": " << e.message() << "; use --device cpu or auto");
  }
  return device;
}

const std::vector<std::string>& PrecisionChoices() {
  static const std::vector<std::string> kChoices = {
      std::string(ops::PrecisionName(ops::Precision::kFp32)),
      std::string(ops::PrecisionName(ops::Precision::kTf32)),
      std::string(ops::PrecisionName(ops::Precision::kBf16))};
  return kChoices;
}

ops::Precision ResolvePrecision(const std::string& text, Device device,
                                std::vector<std::string>& notes) {
  if (text.empty()) return ops::kDefaultPrecision;
  for (ops::Precision p : {ops::Precision::kFp32, ops::Precision::kTf32, ops::Precision::kBf16}) {
    if (text != ops::PrecisionName(p)) continue;
    ops::CheckComputePrecision(device, p);  // bf16 on a GPU older than compute capability 8.0
    if (device.is_cpu() && p != ops::Precision::kFp32) {
      notes.push_back("--precision " + text +
                      ": no effect on the CPU, where oneDNN computes f32 (it applies on "
                      "--device cuda:N)");
    }
    return p;
  }
  MILLRACE_THROW(ErrorKind::kInvalidArgument,
                 "--precision " << text << ": expected fp32, tf32 or bf16");
}

void AddBadRecordOptions(CLI::App& cmd, pipelines::TrainConfig& c, RawFlags& raw) {
  cmd.add_option("--on-bad-record", raw.on_bad_record,
                 "a bad record found while the data loads (cut-off gzip, label out of range, tar "
                 "sample without label or image) or while it is read (an image that fails to "
                 "decode): fail (exit 3, naming the file, tar entry and record) or skip (dropped "
                 "from its batch and counted (train: in the augment stage's row); each reported "
                 "at the end with its file and reason; "
                 "more than --max-bad-share of a split fails with exit 3)")
      ->check(CLI::IsMember({"fail", "skip"}))
      ->capture_default_str();
  cmd.add_option("--max-bad-share", c.max_bad_share,
                 "with --on-bad-record skip: the largest share of records that may be skipped")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
}

void ReportSkippedRecords(std::ostream& out, const pipelines::TrainConfig& config) {
  if (!config.bad_records || config.bad_records->count() == 0) return;
  out << "bad records skipped (--on-bad-record skip): " << config.bad_records->Summary() << "\n";
  for (const std::string& m : config.bad_records->messages()) out << "  " << m << "\n";
}

void Resolve(const RawFlags& raw, pipelines::TrainConfig& config, std::vector<std::string>& notes) {
  config.device = ResolveDevice(raw.device, notes);
  config.precision = ResolvePrecision(raw.precision, config.device, notes);
  config.concurrency = ParseStageMap(raw.concurrency, "--concurrency");
  config.capacity = ParseStageMap(raw.capacity, "--capacity");
  config.prune.global = !raw.per_tensor;
  config.prune.restart_lr = !raw.no_prune_lr_restart;
  config.eval_each_epoch = !raw.no_eval;
  if (raw.on_bad_record == "skip") config.bad_records = std::make_shared<io::SkipLog>();
  config.on_nonfinite = raw.on_nonfinite == "skip" ? pipelines::NonFinitePolicy::kSkip
                                                   : pipelines::NonFinitePolicy::kFail;
  MILLRACE_CHECK_ARG(!config.resume || !config.checkpoint_dir.empty(),
                     "--resume needs --checkpoint-dir DIR (where last.safetensors is)");
  MILLRACE_CHECK_ARG(config.prune.method == "none" || config.prune.sparsity > 0.0f,
                     "--prune " << config.prune.method << " needs --sparsity S (0 < S < 1)");
}

void AddConfigOption(CLI::App& cmd, std::string& path) {
  cmd.add_option("--config", path,
                 "training settings from a JSON file, as `millrace tune` writes it (keys: model, "
                 "data, format, augment, limit, test_limit, epochs, max_steps, batch_size, "
                 "read_ahead, compute_threads, seed, concurrency {STAGE: N}, capacity {STAGE: N}, "
                 "note); flags given on the command line override the file");
}

void ApplyConfigFile(const CLI::App& cmd, const std::string& path, pipelines::TrainConfig& config,
                     std::vector<std::string>& notes) {
  if (path.empty()) return;
  // The file's keys and the flags that override them.
  static const std::map<std::string, std::string> kFlagOf = {
      {"model", "--model"},
      {"data", "--data"},
      {"format", "--format"},
      {"augment", "--augment"},
      {"limit", "--limit"},
      {"test_limit", "--test-limit"},
      {"epochs", "--epochs"},
      {"max_steps", "--max-steps"},
      {"batch_size", "--batch-size"},
      {"read_ahead", "--read-ahead"},
      {"compute_threads", "--compute-threads"},
      {"seed", "--seed"}};
  std::set<std::string> keep;
  for (const auto& [key, flag] : kFlagOf) {
    const CLI::Option* option = cmd.get_option_no_throw(flag);
    if (option != nullptr && option->count() > 0) keep.insert(key);
  }
  std::set<std::string> kept;
  const std::set<std::string> applied = pipelines::ReadConfigFile(path, config, keep, &kept);
  std::string line = "--config " + path + ":";
  for (const std::string& key : applied) line += " " + key;
  if (!kept.empty()) {
    line += " (overridden by flags:";
    for (const std::string& key : kept) line += " " + kFlagOf.at(key);
    line += ")";
  }
  notes.push_back(line);
}

}  // namespace millrace::cli
