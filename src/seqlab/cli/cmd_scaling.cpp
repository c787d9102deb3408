// seqlab scaling: time and peak memory of one forward + backward pass of a single zoo layer
// against the sequence length (issue "DLR ... million-token sequences"; spec/protocols.md §4:
// DLR's FFT convolution is O(T log T) time and O(T) memory, a diagonal scan O(T) and O(T), full
// attention O(T^2) in both, local attention O(T w) time and, with its fused kernel, O(T) memory).
// Each (mixer, T) cell runs in its own child process (this binary, re-executed), so that the
// child's peak resident memory (wait4's ru_maxrss) belongs to that cell alone; a cell that fails
// (out of memory) ends that mixer's sweep, and attention cells whose score matrices alone would
// exceed --memory-limit-gb are skipped without running.
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "seqlab/cli/child_process.h"
#include "seqlab/cli/common.h"
#include "seqlab/mixers/zoo.h"
#include "seqlab/report/plot.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace seqlab::cli {
namespace {

struct ScalingOptions {
  std::vector<std::string> mixers = {"dlr", "mamba1", "softmax_attention", "local_attention"};
  int64_t min_length = 1024, max_length = 1048576, factor = 4;
  int64_t batch = 1, d_model = 32, heads = 2, state_size = 64, repeats = 2;
  int64_t window = 256;        // local attention's chunk length w (ZooOptions::chunk_size)
  double memory_limit_gb = 0;  // 0 = 80% of physical memory
  std::string out = "runs/scaling";
  int threads = 0;
  // Child mode: run one cell and write its JSON to child_out.
  std::string child_mixer, child_out;
  int64_t child_length = 0;
};

double physical_memory_gb() {
  return static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         1e9;
}

// Resident memory of this process now, from /proc/self/status (VmRSS, kB), in MB.
double current_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

// Child: build the layer, one warm-up pass, then the best of `repeats` timed passes.
void run_cell(const ScalingOptions& o) {
  mixers::ZooOptions zo;
  zo.d_model = o.d_model;
  zo.heads = o.heads;
  zo.state_size = o.state_size;
  zo.chunk_size = o.window;
  torch::manual_seed(0);
  auto mixer = mixers::make_mixer(o.child_mixer, zo);
  const double rss_start = current_rss_mb();
  auto x = torch::randn({o.batch, o.child_length, o.d_model}).requires_grad_(true);
  double best = 1e300;
  for (int64_t r = 0; r <= o.repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    mixer->zero_grad();
    x.mutable_grad() = torch::Tensor();
    mixer->forward(x).square().mean().backward();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) best = std::min(best, s);  // r = 0 is the warm-up
  }
  nlohmann::json js = {{"mixer", o.child_mixer},
                       {"length", o.child_length},
                       {"seconds", best},
                       {"tokens_per_s", double(o.batch * o.child_length) / best},
                       {"start_rss_mb", rss_start}};
  write_file_atomic(o.child_out, js.dump());
}

// Runs this binary as a child for one cell; returns its JSON with peak_rss_mb added, or a JSON
// with "error" when the child failed (e.g. killed for memory).
nlohmann::json spawn_cell(const ScalingOptions& o, const std::string& mixer, int64_t T,
                          const std::string& tmp_json) {
  std::filesystem::remove(tmp_json);
  const pid_t pid = spawn_self({"scaling",
                                "--child-mixer",
                                mixer,
                                "--child-length",
                                std::to_string(T),
                                "--child-out",
                                tmp_json,
                                "--batch",
                                std::to_string(o.batch),
                                "--d-model",
                                std::to_string(o.d_model),
                                "--heads",
                                std::to_string(o.heads),
                                "--state-size",
                                std::to_string(o.state_size),
                                "--window",
                                std::to_string(o.window),
                                "--repeats",
                                std::to_string(o.repeats),
                                "--threads",
                                std::to_string(o.threads)});
  const ChildExit e = wait_child(pid);
  nlohmann::json js;
  if (e.ok() && std::filesystem::exists(tmp_json)) {
    js = read_json_file(tmp_json);
  } else {
    js = {{"mixer", mixer}, {"length", T}};
    js["error"] = e.describe();
  }
  js["peak_rss_mb"] = e.peak_rss_mb;
  return js;
}

void run_sweep(const ScalingOptions& o) {
  if (o.min_length < 1 || o.max_length < o.min_length || o.factor < 2)
    throw UserError("scaling: need 1 <= --min-length <= --max-length and --factor >= 2");
  for (const auto& m : o.mixers) mixers::make_mixer(m, mixers::ZooOptions{});  // names checked
  const double limit_gb = o.memory_limit_gb > 0 ? o.memory_limit_gb : 0.8 * physical_memory_gb();
  std::filesystem::create_directories(o.out);
  const std::string tmp_json = o.out + "/.cell.json";
  std::vector<nlohmann::json> rows;
  std::vector<report::Series> time_series, mem_series;
  std::printf("%-20s %10s %12s %14s %14s\n", "mixer", "T", "seconds", "tokens/s", "peak RSS MB");
  for (const auto& m : o.mixers) {
    report::Series ts{m, {}, {}}, ms{m, {}, {}};
    for (int64_t T = o.min_length; T <= o.max_length; T *= o.factor) {
      nlohmann::json row;
      // Full attention keeps ~4 (B, H, T, T) float32 tensors alive in the backward.
      const bool quadratic = m.rfind("softmax", 0) == 0;
      const double predicted_gb = quadratic ? 4.0 * o.batch * o.heads * 4.0 * T * T / 1e9 : 0.0;
      if (predicted_gb > limit_gb) {
        row = {{"mixer", m}, {"length", T}};
        row["skipped"] = "predicted " + std::to_string(predicted_gb) + " GB of scores > limit " +
                         std::to_string(limit_gb) + " GB";
      } else {
        row = spawn_cell(o, m, T, tmp_json);
      }
      rows.push_back(row);
      if (row.contains("seconds")) {
        std::printf("%-20s %10lld %12.4f %14.0f %14.1f\n", m.c_str(), static_cast<long long>(T),
                    row["seconds"].get<double>(), row["tokens_per_s"].get<double>(),
                    row["peak_rss_mb"].get<double>());
        ts.x.push_back(double(T));
        ts.y.push_back(row["seconds"].get<double>());
        ms.x.push_back(double(T));
        ms.y.push_back(row["peak_rss_mb"].get<double>());
      } else {
        std::printf("%-20s %10lld   %s\n", m.c_str(), static_cast<long long>(T),
                    row.contains("skipped") ? row["skipped"].get<std::string>().c_str()
                                            : row["error"].get<std::string>().c_str());
      }
      std::fflush(stdout);
      if (!row.contains("seconds")) break;  // larger T would fail or be skipped too
    }
    if (!ts.x.empty()) {
      time_series.push_back(ts);
      mem_series.push_back(ms);
    }
  }
  std::filesystem::remove(tmp_json);
  nlohmann::json doc = {
      {"batch", o.batch},           {"d_model", o.d_model},        {"heads", o.heads},
      {"state_size", o.state_size}, {"window", o.window},          {"threads", o.threads},
      {"repeats", o.repeats},       {"memory_limit_gb", limit_gb}, {"cells", rows}};
  write_file_atomic(o.out + "/scaling.json", doc.dump(2) + "\n");
  if (!time_series.empty() && report::gnuplot_available()) {
    report::plot_loglog(
        time_series, "sequence length T", "seconds per forward + backward",
        "one layer, B = " + std::to_string(o.batch) + ", d = " + std::to_string(o.d_model),
        o.out + "/time_vs_length");
    report::plot_loglog(mem_series, "sequence length T", "peak resident memory (MB)",
                        "one layer, whole process", o.out + "/memory_vs_length");
  }
  std::printf("-> %s/scaling.json, %s/time_vs_length.{svg,png}, %s/memory_vs_length.{svg,png}\n",
              o.out.c_str(), o.out.c_str(), o.out.c_str());
}

}  // namespace

void add_scaling(CLI::App& app) {
  auto o = std::make_shared<ScalingOptions>();
  auto* sub = app.add_subcommand(
      "scaling", "Time and peak memory of one layer's forward + backward against sequence length");
  sub->add_option("--mixers", o->mixers, "Zoo mixers to sweep")->delimiter(',');
  sub->add_option("--min-length", o->min_length, "Shortest T");
  sub->add_option("--max-length", o->max_length, "Longest T");
  sub->add_option("--factor", o->factor, "T grows by this factor");
  sub->add_option("--batch", o->batch, "Batch size B");
  sub->add_option("--d-model", o->d_model, "Layer width d");
  sub->add_option("--heads", o->heads, "Attention heads");
  sub->add_option("--state-size", o->state_size, "State size N");
  sub->add_option("--window", o->window, "Local attention window w (model.chunk_size)");
  sub->add_option("--repeats", o->repeats, "Timed passes per cell (best is kept)");
  sub->add_option("--memory-limit-gb", o->memory_limit_gb,
                  "Skip attention cells predicted above this (0 = 80% of RAM)");
  sub->add_option("--out", o->out, "Output folder");
  sub->add_option("--threads", o->threads, "Threads (0 = all cores)");
  sub->add_option("--child-mixer", o->child_mixer)->group("");  // internal: one cell
  sub->add_option("--child-length", o->child_length)->group("");
  sub->add_option("--child-out", o->child_out)->group("");
  sub->callback([o] {
    set_threads(o->threads);
    if (!o->child_mixer.empty())
      run_cell(*o);
    else
      run_sweep(*o);
  });
}

}  // namespace seqlab::cli
