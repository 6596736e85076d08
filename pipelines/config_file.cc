#include "pipelines/config_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"

namespace millrace::pipelines {
namespace {

using Json = nlohmann::json;

// "line L, column C" of a byte offset into `text` (both from 1).
std::string LineAndColumn(const std::string& text, size_t byte) {
  byte = std::min(byte, text.size());
  size_t line = 1, column = 1;
  for (size_t i = 0; i < byte; ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

int64_t IntegerOf(const Json& v, const std::string& name, const std::string& key, int64_t lo,
                  int64_t hi) {
  MILLRACE_CHECK_ARG(v.is_number_integer(),
                     name << ": \"" << key << "\" must be an integer, got " << v.dump());
  const int64_t n = v.get<int64_t>();
  MILLRACE_CHECK_ARG(n >= lo && n <= hi, name << ": \"" << key << "\" must be in [" << lo << ", "
                                              << hi << "], got " << n);
  return n;
}

std::string StringOf(const Json& v, const std::string& name, const std::string& key) {
  MILLRACE_CHECK_ARG(v.is_string(),
                     name << ": \"" << key << "\" must be a string, got " << v.dump());
  return v.get<std::string>();
}

// {"augment": 2, ...}: stage names to integers >= 1, merged into `out` where it has no entry.
void MergeStageMap(const Json& v, const std::string& name, const std::string& key,
                   std::map<std::string, int>& out) {
  MILLRACE_CHECK_ARG(v.is_object(), name << ": \"" << key
                                         << "\" must be an object of stage names to integers, "
                                            "e.g. {\"augment\": 2}, got "
                                         << v.dump());
  for (const auto& [stage, n] : v.items()) {
    const int value = static_cast<int>(IntegerOf(n, name, key + "." + stage, 1, 1 << 24));
    out.emplace(stage, value);
  }
}

struct Key {
  const char* name;
  std::function<void(const Json&, const std::string& file, TrainConfig&)> read;
};

const std::vector<Key>& Keys() {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  static const std::vector<Key> kKeys = {
      {"model", [](const Json& v, const std::string& f,
                   TrainConfig& c) { c.model = StringOf(v, f, "model"); }},
      {"data", [](const Json& v, const std::string& f,
                  TrainConfig& c) { c.data_dir = StringOf(v, f, "data"); }},
      {"format",
       [](const Json& v, const std::string& f, TrainConfig& c) {
         c.data_format = StringOf(v, f, "format");
         MILLRACE_CHECK_ARG(
             c.data_format == "idx" || c.data_format == "folder" || c.data_format == "tar",
             f << ": \"format\" must be idx, folder or tar, got " << v.dump());
       }},
      {"augment",
       [](const Json& v, const std::string& f, TrainConfig& c) {
         MILLRACE_CHECK_ARG(v.is_boolean(),
                            f << ": \"augment\" must be true or false, got " << v.dump());
         c.augment = v.get<bool>();
       }},
      {"limit", [](const Json& v, const std::string& f,
                   TrainConfig& c) { c.limit = IntegerOf(v, f, "limit", 0, kMax); }},
      {"test_limit", [](const Json& v, const std::string& f,
                        TrainConfig& c) { c.test_limit = IntegerOf(v, f, "test_limit", 0, kMax); }},
      {"epochs",
       [](const Json& v, const std::string& f, TrainConfig& c) {
         c.epochs = static_cast<int>(IntegerOf(v, f, "epochs", 1, 100000));
       }},
      {"max_steps", [](const Json& v, const std::string& f,
                       TrainConfig& c) { c.max_steps = IntegerOf(v, f, "max_steps", 0, kMax); }},
      {"batch_size",
       [](const Json& v, const std::string& f, TrainConfig& c) {
         c.batch_size = IntegerOf(v, f, "batch_size", 1, 1 << 20);
       }},
      {"read_ahead",
       [](const Json& v, const std::string& f, TrainConfig& c) {
         c.read_ahead = static_cast<int>(IntegerOf(v, f, "read_ahead", 1, 1 << 24));
       }},
      {"compute_threads",
       [](const Json& v, const std::string& f, TrainConfig& c) {
         c.compute_threads = static_cast<int>(IntegerOf(v, f, "compute_threads", 0, 1024));
       }},
      {"seed",
       [](const Json& v, const std::string& f, TrainConfig& c) {
         c.seed = static_cast<uint64_t>(IntegerOf(v, f, "seed", 0, kMax));
       }},
      {"concurrency", [](const Json& v, const std::string& f,
                         TrainConfig& c) { MergeStageMap(v, f, "concurrency", c.concurrency); }},
      {"capacity", [](const Json& v, const std::string& f,
                      TrainConfig& c) { MergeStageMap(v, f, "capacity", c.capacity); }},
      {"note",
       [](const Json& v, const std::string& f, TrainConfig&) { (void)StringOf(v, f, "note"); }},
  };
  return kKeys;
}

std::string KnownKeys() {
  std::string out;
  for (const Key& k : Keys()) out += std::string(out.empty() ? "" : ", ") + k.name;
  return out;
}

}  // namespace

const std::vector<std::string>& ConfigFileKeys() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const Key& k : Keys()) names.push_back(k.name);
    return names;
  }();
  return kNames;
}

std::set<std::string> ApplyConfigText(const std::string& text, const std::string& name,
                                      TrainConfig& config, const std::set<std::string>& keep,
                                      std::set<std::string>* kept) {
  Json doc;
  try {
    doc = Json::parse(text);
  } catch (const Json::parse_error& e) {
    MILLRACE_THROW(ErrorKind::kInvalidArgument,
                   name << ": not valid JSON at "
                        << LineAndColumn(text, e.byte == 0 ? 0 : e.byte - 1) << ": " << e.what());
  }
  MILLRACE_CHECK_ARG(doc.is_object(),
                     name << ": expected a JSON object of settings, e.g. {\"batch_size\": 128}");
  // Every key is checked before any is applied, so a refused file changes nothing.
  for (const auto& [key, value] : doc.items()) {
    bool known = false;
    for (const Key& k : Keys()) known = known || key == k.name;
    MILLRACE_CHECK_ARG(known,
                       name << ": unknown key \"" << key << "\" (known: " << KnownKeys() << ")");
  }
  TrainConfig updated = config;
  std::set<std::string> applied;
  for (const Key& k : Keys()) {
    auto it = doc.find(k.name);
    if (it == doc.end()) continue;
    TrainConfig scratch = updated;
    k.read(*it, name, scratch);  // checks the value even when the command line overrides it
    if (keep.count(k.name) != 0) {
      if (kept != nullptr) kept->insert(k.name);
      continue;
    }
    updated = std::move(scratch);
    applied.insert(k.name);
  }
  config = std::move(updated);
  return applied;
}

std::set<std::string> ReadConfigFile(const std::string& path, TrainConfig& config,
                                     const std::set<std::string>& keep,
                                     std::set<std::string>* kept) {
  std::ifstream in(path, std::ios::binary);
  MILLRACE_CHECK(in.good(), ErrorKind::kIo, "--config " << path << ": can't open the file");
  std::ostringstream text;
  text << in.rdbuf();
  MILLRACE_CHECK(!in.bad(), ErrorKind::kIo, "--config " << path << ": can't read the file");
  return ApplyConfigText(text.str(), path, config, keep, kept);
}

std::string ConfigFileText(const TrainConfig& c, const std::string& note) {
  // nlohmann's ordered_json keeps the order written, so the file reads like the struct.
  nlohmann::ordered_json doc;
  doc["model"] = c.model;
  doc["format"] = c.data_format;
  doc["augment"] = c.augment;
  doc["batch_size"] = c.batch_size;
  doc["read_ahead"] = c.read_ahead;
  doc["compute_threads"] = c.compute_threads;
  doc["concurrency"] = nlohmann::ordered_json::object();
  for (const auto& [stage, n] : c.concurrency) doc["concurrency"][stage] = n;
  doc["capacity"] = nlohmann::ordered_json::object();
  for (const auto& [stage, n] : c.capacity) doc["capacity"][stage] = n;
  if (!note.empty()) doc["note"] = note;
  return doc.dump(2) + "\n";
}

void WriteConfigFile(const std::string& path, const TrainConfig& config, const std::string& note) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    MILLRACE_CHECK(out.good(), ErrorKind::kIo, path << ": can't write the configuration");
    out << ConfigFileText(config, note);
    out.close();
    MILLRACE_CHECK(out.good(), ErrorKind::kIo, path << ": can't write the configuration");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  MILLRACE_CHECK(!ec, ErrorKind::kIo, path << ": can't write the configuration: " << ec.message());
}

}  // namespace millrace::pipelines
