// seqlab protocol PROTOCOL: runs a task x model grid (eval/protocol_grid.h) and writes one results
// table (report/grid_results.h). Each cell is a `seqlab train` child process writing its own run
// folder <out>/<task>-<label>/ (log in <out>/<task>-<label>.log); up to --jobs run at once. A cell
// whose folder already holds this exact config and an eval.json is not run again, and one that
// was interrupted resumes from its newest checkpoint, so the command can be re-run after a stop.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "seqlab/cli/child_process.h"
#include "seqlab/cli/common.h"
#include "seqlab/eval/protocol_grid.h"
#include "seqlab/report/grid_results.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::cli {
namespace {

struct ProtocolOptions {
  std::string protocol, out;
  std::vector<std::string> tasks, models;
  int jobs = 0, threads_per_job = 1;
  bool dry_run = false, force = false, table_only = false;
};

std::string resolve_protocol(const std::string& name_or_path) {
  if (fs::is_regular_file(name_or_path)) return name_or_path;
  const fs::path p = fs::path(configs_dir()) / "protocols" / (name_or_path + ".yaml");
  if (fs::is_regular_file(p)) return p.string();
  throw UserError("no protocol file or protocol named '" + name_or_path +
                  "' (valid: " + join_names(protocol_names()) + "; they live in " +
                  (fs::path(configs_dir()) / "protocols").string() + ")");
}

// Keeps the listed names (all when `keep` is empty); an unknown name is an error.
std::vector<std::string> select(const std::vector<std::string>& all,
                                const std::vector<std::string>& keep, const char* what) {
  if (keep.empty()) return all;
  for (const auto& k : keep)
    if (std::find(all.begin(), all.end(), k) == all.end())
      throw UserError(std::string("protocol has no ") + what + " '" + k +
                      "' (valid: " + join_names(all) + ")");
  std::vector<std::string> out;
  for (const auto& a : all)
    if (std::find(keep.begin(), keep.end(), a) != keep.end()) out.push_back(a);
  return out;
}

enum class CellState { kDone, kResume, kRestart, kNew };

struct PlannedCell {
  eval::GridCell cell;
  std::string dir, config_path;
  CellState state = CellState::kNew;
};

std::string format_duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  return buf;
}

// "r2 0.9990" for the progress line, or why there is no score.
std::string cell_score(const std::string& dir, const std::string& metric) {
  const auto c = report::read_cell_result(dir, metric);
  if (!c.status.empty()) return c.status;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s %.4f", metric.c_str(), c.score);
  return buf;
}

void run_protocol(const ProtocolOptions& o) {
  const std::string path = resolve_protocol(o.protocol);
  const auto grid = eval::parse_protocol_grid(read_text_file(path), path);
  std::vector<std::string> labels;
  for (const auto& m : grid.models) labels.push_back(m.label);
  const auto tasks = select(grid.tasks, o.tasks, "task");
  const auto models = select(labels, o.models, "model");
  const std::string out = o.out.empty() ? "runs/" + grid.name : o.out;

  // Plan: every cell's config is loaded and validated before anything runs.
  std::vector<PlannedCell> plan;
  std::map<std::pair<std::string, std::string>, std::string> dirs;
  for (const auto& cell : eval::grid_cells(grid)) {
    if (std::find(tasks.begin(), tasks.end(), cell.task) == tasks.end() ||
        std::find(models.begin(), models.end(), cell.model_label) == models.end())
      continue;
    PlannedCell p{cell, (fs::path(out) / cell.name).string(), resolve_config(cell.preset)};
    config::RunConfig cfg;
    try {
      cfg = load_config(cell.preset, cell.sets);
    } catch (const UserError& e) {
      throw UserError("cell " + cell.name + ": " + e.what());
    }
    const fs::path stored = fs::path(p.dir) / "config.yaml";
    if (fs::exists(stored)) {
      const bool same = config::to_yaml(config::load_file(stored.string())) == config::to_yaml(cfg);
      if (!same && !o.force)
        throw UserError("cell " + cell.name + ": " + stored.string() +
                        " holds a different config (the protocol or a preset changed); use "
                        "--force to retrain it, or --out for another folder");
      const bool has_checkpoint = fs::is_directory(fs::path(p.dir) / "checkpoints") &&
                                  !fs::is_empty(fs::path(p.dir) / "checkpoints");
      if (!same)
        p.state = CellState::kRestart;
      else if (fs::exists(fs::path(p.dir) / "eval.json"))
        p.state = CellState::kDone;
      else
        p.state = has_checkpoint ? CellState::kResume : CellState::kRestart;
    }
    dirs[{cell.task, cell.model_label}] = p.dir;
    plan.push_back(std::move(p));
  }
  size_t done = 0, resume = 0;
  for (const auto& p : plan) {
    done += p.state == CellState::kDone;
    resume += p.state == CellState::kResume;
  }
  const int jobs = o.jobs > 0 ? o.jobs : std::max(1, default_threads() / o.threads_per_job);
  std::printf(
      "seqlab protocol %s: %zu tasks x %zu models = %zu cells (%zu done, %zu to resume, "
      "%zu to run) -> %s, %d job%s x %d thread%s\n",
      grid.name.c_str(), tasks.size(), models.size(), plan.size(), done, resume,
      plan.size() - done - resume, out.c_str(), jobs, jobs == 1 ? "" : "s", o.threads_per_job,
      o.threads_per_job == 1 ? "" : "s");
  if (o.dry_run) {
    for (const auto& p : plan) {
      const char* state[] = {"done", "resume", "restart", "new"};
      std::printf("  %-8s %-32s %s", state[static_cast<int>(p.state)], p.cell.name.c_str(),
                  p.config_path.c_str());
      for (const auto& s : p.cell.sets) std::printf(" --set %s", s.c_str());
      std::printf("\n");
    }
    return;
  }

  std::vector<std::string> failed;
  if (!o.table_only) {
    fs::create_directories(out);
    std::vector<const PlannedCell*> queue;
    for (const auto& p : plan)
      if (p.state != CellState::kDone) queue.push_back(&p);
    std::map<pid_t, std::pair<const PlannedCell*, std::chrono::steady_clock::time_point>> running;
    const auto start = std::chrono::steady_clock::now();
    size_t next = 0, finished = 0;
    double busy_seconds = 0;  // summed wall time of finished cells, for the ETA
    while (next < queue.size() || !running.empty()) {
      while (next < queue.size() && static_cast<int>(running.size()) < jobs) {
        const PlannedCell& p = *queue[next++];
        std::vector<std::string> args = {"train", p.config_path};
        for (const auto& s : p.cell.sets) args.insert(args.end(), {"--set", s});
        args.insert(args.end(),
                    {"--out", p.dir, "--threads", std::to_string(o.threads_per_job), "--quiet"});
        if (p.state == CellState::kResume) args.push_back("--resume");
        if (p.state == CellState::kRestart) args.push_back("--force");
        const pid_t pid = spawn_self(args, p.dir + ".log");
        running[pid] = {&p, std::chrono::steady_clock::now()};
        std::printf("  start  %-32s (%s)\n", p.cell.name.c_str(),
                    p.state == CellState::kResume ? "resumed" : "new");
        std::fflush(stdout);
      }
      const ChildExit e = wait_child(-1);
      const auto it = running.find(e.pid);
      if (it == running.end()) continue;  // not one of ours
      const PlannedCell& p = *it->second.first;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second.second)
              .count();
      running.erase(it);
      ++finished;
      busy_seconds += secs;
      const size_t left = queue.size() - finished;
      const double eta = busy_seconds / static_cast<double>(finished) *
                         std::ceil(static_cast<double>(left) / jobs);
      std::string result = e.ok() ? cell_score(p.dir, grid.metric)
                                  : "FAILED (" + e.describe() + "; see " + p.dir + ".log)";
      if (!e.ok()) failed.push_back(p.cell.name);
      std::printf("  [%zu/%zu] %-32s %-18s %s, ETA %s\n", finished, queue.size(),
                  p.cell.name.c_str(), result.c_str(), format_duration(secs).c_str(),
                  left ? format_duration(eta).c_str() : "0");
      std::fflush(stdout);
    }
    if (!queue.empty())
      std::printf(
          "ran %zu cells in %s\n", queue.size(),
          format_duration(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count())
              .c_str());
  }

  std::vector<std::vector<std::string>> run_dirs;
  std::vector<std::string> expected;
  for (const auto& t : tasks) {
    std::vector<std::string> row;
    for (const auto& m : models) row.push_back(dirs.at({t, m}));
    run_dirs.push_back(row);
    const auto it = grid.expected.find(t);
    expected.push_back(it == grid.expected.end() ? "" : it->second);
  }
  const auto results =
      report::load_grid_results(grid.name, grid.metric, tasks, models, expected, run_dirs);
  report::write_grid_results(results, out);
  std::printf("\n%s\n-> %s/results.{json,md%s}\n", report::grid_markdown(results).c_str(),
              out.c_str(), fs::exists(fs::path(out) / "results.svg") ? ",svg,png" : "");
  if (!failed.empty())
    throw UserError(std::to_string(failed.size()) + " cell(s) failed: " + join_names(failed) +
                    " (logs: " + out + "/<cell>.log)");
}

}  // namespace

void add_protocol(CLI::App& app) {
  auto o = std::make_shared<ProtocolOptions>();
  auto* sub = app.add_subcommand(
      "protocol", "Train every (task, model) cell of a protocol grid and write one results table");
  sub->add_option("protocol", o->protocol,
                  "Protocol file or name in configs/protocols/ (e.g. dlr_atomic_cpu)")
      ->required();
  sub->add_option("--out", o->out, "Output folder (default: runs/<protocol name>)");
  sub->add_option("--tasks", o->tasks, "Only these tasks (comma-separated)")->delimiter(',');
  sub->add_option("--models", o->models, "Only these model labels (comma-separated)")
      ->delimiter(',');
  sub->add_option("--jobs", o->jobs, "Cells run at once (0 = cores / --threads-per-job)");
  sub->add_option("--threads-per-job", o->threads_per_job, "Threads of each cell's training")
      ->check(CLI::Range(1, 1024));
  sub->add_flag("--dry-run", o->dry_run, "Print the cells and their state, run nothing");
  sub->add_flag("--force", o->force, "Retrain cells whose folder holds a different config");
  sub->add_flag("--table-only", o->table_only, "Run nothing; build the table from what exists");
  sub->callback([o] {
    if (o->jobs < 0) throw UserError("--jobs must be >= 0 (0 = cores / --threads-per-job)");
    run_protocol(*o);
  });
}

}  // namespace seqlab::cli
