#include "seqlab/cli/cell_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "seqlab/cli/child_process.h"
#include "seqlab/cli/common.h"
#include "seqlab/config/config.h"
#include "seqlab/util/error.h"

namespace fs = std::filesystem;

namespace seqlab::cli {
namespace {

enum class CellState { kDone, kResume, kRestart, kNew };

struct PlannedCell {
  const CellSpec* spec;
  std::string config_path;
  CellState state = CellState::kNew;
};

PlannedCell plan_cell(const CellSpec& c, bool force) {
  PlannedCell p{&c, resolve_config(c.preset)};
  config::RunConfig cfg;
  try {
    cfg = load_config(c.preset, c.sets);
  } catch (const UserError& e) {
    throw UserError("cell " + c.name + ": " + e.what());
  }
  const fs::path stored = fs::path(c.dir) / "config.yaml";
  if (!fs::exists(stored)) return p;
  const bool same = config::to_yaml(config::load_file(stored.string())) == config::to_yaml(cfg);
  if (!same && !force)
    throw UserError("cell " + c.name + ": " + stored.string() +
                    " holds a different config (the preset or the overrides changed); use "
                    "--force to retrain it, or --out for another folder");
  const fs::path ckpt = fs::path(c.dir) / "checkpoints";
  const bool has_checkpoint = fs::is_directory(ckpt) && !fs::is_empty(ckpt);
  if (!same)
    p.state = CellState::kRestart;
  else if (fs::exists(fs::path(c.dir) / "eval.json"))
    p.state = CellState::kDone;
  else
    p.state = has_checkpoint ? CellState::kResume : CellState::kRestart;
  return p;
}

}  // namespace

std::string format_duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  else
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  return buf;
}

std::vector<std::string> run_cells(const std::vector<CellSpec>& cells, const CellRunOptions& o,
                                   const std::string& header) {
  std::vector<PlannedCell> plan;
  for (const auto& c : cells) plan.push_back(plan_cell(c, o.force));
  size_t done = 0, resume = 0;
  for (const auto& p : plan) {
    done += p.state == CellState::kDone;
    resume += p.state == CellState::kResume;
  }
  const int jobs = std::max(1, o.jobs);
  std::printf("%s: %zu cells (%zu done, %zu to resume, %zu to run), %d job%s x %d thread%s\n",
              header.c_str(), plan.size(), done, resume, plan.size() - done - resume, jobs,
              jobs == 1 ? "" : "s", o.threads_per_job, o.threads_per_job == 1 ? "" : "s");
  if (o.dry_run) {
    for (const auto& p : plan) {
      const char* state[] = {"done", "resume", "restart", "new"};
      std::printf("  %-8s %-36s %s", state[static_cast<int>(p.state)], p.spec->name.c_str(),
                  p.config_path.c_str());
      for (const auto& s : p.spec->sets) std::printf(" --set %s", s.c_str());
      std::printf(" --out %s\n", p.spec->dir.c_str());
    }
    return {};
  }
  std::vector<const PlannedCell*> queue;
  for (const auto& p : plan)
    if (p.state != CellState::kDone) queue.push_back(&p);
  std::vector<std::string> failed;
  std::map<pid_t, std::pair<const PlannedCell*, std::chrono::steady_clock::time_point>> running;
  const auto start = std::chrono::steady_clock::now();
  size_t next = 0, finished = 0;
  double busy_seconds = 0;  // summed wall time of finished cells, for the ETA
  while (next < queue.size() || !running.empty()) {
    while (next < queue.size() && static_cast<int>(running.size()) < jobs) {
      const PlannedCell& p = *queue[next++];
      fs::create_directories(fs::path(p.spec->dir).parent_path());
      std::vector<std::string> args = {"train", p.config_path};
      for (const auto& s : p.spec->sets) args.insert(args.end(), {"--set", s});
      args.insert(args.end(), {"--out", p.spec->dir, "--threads", std::to_string(o.threads_per_job),
                               "--quiet"});
      if (p.state == CellState::kResume) args.push_back("--resume");
      if (p.state == CellState::kRestart) args.push_back("--force");
      const pid_t pid = spawn_self(args, p.spec->dir + ".log");
      running[pid] = {&p, std::chrono::steady_clock::now()};
      std::printf("  start  %-36s (%s)\n", p.spec->name.c_str(),
                  p.state == CellState::kResume ? "resumed" : "new");
      std::fflush(stdout);
    }
    const ChildExit e = wait_child(-1);
    const auto it = running.find(e.pid);
    if (it == running.end()) continue;  // not one of ours
    const PlannedCell& p = *it->second.first;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second.second).count();
    running.erase(it);
    ++finished;
    busy_seconds += secs;
    const size_t left = queue.size() - finished;
    const double eta =
        busy_seconds / static_cast<double>(finished) * std::ceil(static_cast<double>(left) / jobs);
    std::string result = e.ok() ? (o.score ? o.score(p.spec->dir) : "done")
                                : "FAILED (" + e.describe() + "; see " + p.spec->dir + ".log)";
    if (!e.ok()) failed.push_back(p.spec->name);
    std::printf("  [%zu/%zu] %-36s %-22s %s, ETA %s\n", finished, queue.size(),
                p.spec->name.c_str(), result.c_str(), format_duration(secs).c_str(),
                left ? format_duration(eta).c_str() : "0");
    std::fflush(stdout);
  }
  if (!queue.empty())
    std::printf("ran %zu cells in %s\n", queue.size(),
                format_duration(
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count())
                    .c_str());
  return failed;
}

}  // namespace seqlab::cli
