// seqlab protocol PROTOCOL: runs a task x model grid (eval/protocol_grid.h) and writes one results
// table (report/grid_results.h). Each cell is a `seqlab train` child process writing its own run
// folder <out>/<task>-<label>/ (log in <out>/<task>-<label>.log); up to --jobs run at once. A cell
// whose folder already holds this exact config and an eval.json is not run again, and one that
// was interrupted resumes from its newest checkpoint, so the command can be re-run after a stop.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "seqlab/cli/cell_runner.h"
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

  std::vector<CellSpec> cells;
  std::map<std::pair<std::string, std::string>, std::string> dirs;
  for (const auto& cell : eval::grid_cells(grid)) {
    if (std::find(tasks.begin(), tasks.end(), cell.task) == tasks.end() ||
        std::find(models.begin(), models.end(), cell.model_label) == models.end())
      continue;
    const std::string dir = (fs::path(out) / cell.name).string();
    dirs[{cell.task, cell.model_label}] = dir;
    cells.push_back({cell.name, cell.preset, cell.sets, dir});
  }
  CellRunOptions run;
  run.jobs = o.jobs > 0 ? o.jobs : std::max(1, default_threads() / o.threads_per_job);
  run.threads_per_job = o.threads_per_job;
  run.dry_run = o.dry_run;
  run.force = o.force;
  run.score = [&](const std::string& dir) { return cell_score(dir, grid.metric); };
  char header[256];
  std::snprintf(header, sizeof header, "seqlab protocol %s: %zu tasks x %zu models -> %s",
                grid.name.c_str(), tasks.size(), models.size(), out.c_str());
  std::vector<std::string> failed;
  if (!o.table_only) failed = run_cells(cells, run, header);
  if (o.dry_run) return;
  fs::create_directories(out);

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
