// Training settings as a JSON file: what `millrace tune` writes and `millrace train --config`
// reads.
//
//   {
//     "model": "cnn", "batch_size": 128, "augment": true, "read_ahead": 256,
//     "compute_threads": 1,
//     "concurrency": {"augment": 1},
//     "capacity": {"augment": 512, "collate": 256, "forward": 4},
//     "note": "millrace tune: 1180 samples/s measured; limited by compute"
//   }
//
// Every key is optional; a key the reader does not know, a value of the wrong type or out of
// range, and text that is not JSON are refused with an Error (kInvalidArgument) naming the file
// and the key (or the line and column of a parse error). "note" is free text, for people.
//
// Thread safety: plain functions of their arguments.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "pipelines/train_config.h"

namespace millrace::pipelines {

// The keys ReadConfigFile knows, in the order WriteConfigFile writes them.
const std::vector<std::string>& ConfigFileKeys();

// Applies the settings in `path` to `config`, except the keys in `keep` (the command line set
// them: flags override the file). "concurrency" and "capacity" are merged per stage: an entry
// already in config's map stays (the command line's), the file adds the others. Returns the
// keys applied; `kept` (when given) receives the file's keys that `keep` held back. Throws Error:
// kIo when the file can't be read, kInvalidArgument for bad JSON, an unknown key or a bad value.
std::set<std::string> ReadConfigFile(const std::string& path, TrainConfig& config,
                                     const std::set<std::string>& keep = {},
                                     std::set<std::string>* kept = nullptr);

// The same, from text already read (`name` names it in errors).
std::set<std::string> ApplyConfigText(const std::string& text, const std::string& name,
                                      TrainConfig& config, const std::set<std::string>& keep = {},
                                      std::set<std::string>* kept = nullptr);

// The settings of `config` that ReadConfigFile reads, as JSON text (pretty, one key a line),
// with `note` as "note" when not empty. ReadConfigFile of it gives back the same settings.
std::string ConfigFileText(const TrainConfig& config, const std::string& note = "");
// Writes ConfigFileText to `path` (a temporary file renamed into place); throws kIo.
void WriteConfigFile(const std::string& path, const TrainConfig& config,
                     const std::string& note = "");

}  // namespace millrace::pipelines
