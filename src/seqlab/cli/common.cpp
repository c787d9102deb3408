#include "seqlab/cli/common.h"

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "seqlab/report/plot.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"
#include "seqlab/util/threads.h"

namespace fs = std::filesystem;

namespace seqlab::cli {

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void set_threads(int threads) {
  if (threads < 0) throw UserError("--threads = " + std::to_string(threads) + " must be >= 0");
  const int n = threads == 0 ? default_threads() : threads;
  at::set_num_threads(n);
  use_single_thread_blas();
}

std::string configs_dir() {
  if (const char* env = std::getenv("SEQLAB_CONFIGS")) return env;
  return SEQLAB_CONFIG_DIR;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  const fs::path root(configs_dir());
  if (!fs::is_directory(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file() && e.path().extension() == ".yaml") {
      auto rel = fs::relative(e.path(), root);
      // protocol grids and sweeps, not run presets
      if (*rel.begin() == "protocols" || *rel.begin() == "sweeps") continue;
      rel.replace_extension();
      out.push_back(rel.string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

std::vector<std::string> yaml_stems(const std::string& folder) {
  std::vector<std::string> out;
  const fs::path dir = fs::path(configs_dir()) / folder;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".yaml")
      out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::string> protocol_names() {
  return yaml_stems("protocols");
}
std::vector<std::string> sweep_names() {
  return yaml_stems("sweeps");
}

std::string resolve_config(const std::string& name_or_path) {
  if (fs::is_regular_file(name_or_path)) return name_or_path;
  const fs::path preset = fs::path(configs_dir()) / (name_or_path + ".yaml");
  if (fs::is_regular_file(preset)) return preset.string();
  throw UserError("no config file or preset named '" + name_or_path +
                  "' (see `seqlab list presets`; presets live in " + configs_dir() + ")");
}

config::RunConfig load_config(const std::string& name_or_path,
                              const std::vector<std::string>& sets) {
  const auto path = resolve_config(name_or_path);
  auto cfg = config::load_file(path);
  if (cfg.name.empty()) cfg.name = fs::path(path).stem().string();
  for (const auto& s : sets) config::apply_override(cfg, s);
  config::validate(cfg);
  return cfg;
}

void plot_run(const std::string& run_dir) {
  const auto js = read_json_file((fs::path(run_dir) / "eval.json").string());
  report::Curve curve;
  curve.label = js.value("task", "") + " / " + js.value("model", "");
  curve.lengths = js.at("lengths").get<std::vector<int64_t>>();
  curve.acc = js.at("accuracy").get<std::vector<double>>();
  report::PlotOptions opts;
  opts.title = "Accuracy vs length: " + curve.label;
  opts.train_max_length = js.value("train_max_length", int64_t{0});
  opts.chance = js.value("chance", 0.0);
  report::plot_accuracy_vs_length({curve}, opts,
                                  (fs::path(run_dir) / "accuracy_vs_length").string());
}

}  // namespace seqlab::cli
