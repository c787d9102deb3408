// seqlab sweep SWEEP: runs the cells of a sweep (eval/sweep.h: models x grid x seeds) as
// `seqlab train` child processes, then merges their eval.json files into one analysis
// (report/sweep_results.h: medians, fitted log-log slopes with 95 % intervals, plot).
//
//   seqlab sweep qstr_1str_cpu --jobs 2             run every cell, then merge
//   seqlab sweep qstr_1str_cpu --shard 3/8          run every 8th cell (from the 3rd), no merge
//   seqlab sweep qstr_1str_cpu --merge              merge what exists, run nothing
//
// Resumable like `seqlab protocol` (cell_runner.h): finished cells are not recomputed. Shards
// partition the cells (cell k belongs to shard k mod n + 1), so a Slurm job array
// (`--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`) or `mpirun` spreads a sweep over
// machines sharing the output folder; the merge runs once they are done.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "seqlab/cli/cell_runner.h"
#include "seqlab/cli/common.h"
#include "seqlab/eval/sweep.h"
#include "seqlab/report/sweep_results.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::cli {
namespace {

struct SweepOptions {
  std::string sweep, out, shard;
  std::vector<std::string> models;
  int jobs = 0, threads_per_job = 1;
  bool dry_run = false, force = false, merge_only = false;
};

std::string resolve_sweep(const std::string& name_or_path) {
  if (fs::is_regular_file(name_or_path)) return name_or_path;
  const fs::path p = fs::path(configs_dir()) / "sweeps" / (name_or_path + ".yaml");
  if (fs::is_regular_file(p)) return p.string();
  throw UserError("no sweep file or sweep named '" + name_or_path +
                  "' (valid: " + join_names(sweep_names()) + "; they live in " +
                  (fs::path(configs_dir()) / "sweeps").string() + ")");
}

// "n_star 12800", "n_star censored" or "mse 0.0123" for a progress line.
std::string cell_value(const std::string& dir, const std::string& y) {
  const fs::path eval = fs::path(dir) / "eval.json";
  if (!fs::exists(eval)) return "no eval.json";
  const auto js = read_json_file(eval.string());
  if (!js.contains(y)) return "no " + y;
  if (js[y].is_null()) return y + " censored";
  if (!js[y].is_number()) return y + " ?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %.4g", y.c_str(), js[y].get<double>());
  return buf;
}

void run_sweep(const SweepOptions& o) {
  const std::string path = resolve_sweep(o.sweep);
  const auto sweep = eval::parse_sweep(read_text_file(path), path);
  std::vector<std::string> labels;
  for (const auto& m : sweep.models) labels.push_back(m.label);
  for (const auto& m : o.models)
    if (std::find(labels.begin(), labels.end(), m) == labels.end())
      throw UserError("sweep has no model '" + m + "' (valid: " + join_names(labels) + ")");
  const std::string out = o.out.empty() ? "runs/" + sweep.name : o.out;
  const auto shard = o.shard.empty() ? std::make_pair(1, 1) : eval::parse_shard(o.shard);

  const auto all = eval::sweep_cells(sweep);
  std::vector<eval::SweepCell> kept;  // the cells the merge covers (model filter)
  std::vector<std::string> dirs;
  std::vector<CellSpec> to_run;  // this shard's share
  for (size_t k = 0; k < all.size(); ++k) {
    const auto& c = all[k];
    if (!o.models.empty() &&
        std::find(o.models.begin(), o.models.end(), c.model_label) == o.models.end())
      continue;
    const std::string dir = (fs::path(out) / c.name).string();
    kept.push_back(c);
    dirs.push_back(dir);
    if (eval::in_shard(k, shard)) to_run.push_back({c.name, c.preset, c.sets, dir});
  }
  std::vector<std::string> failed;
  if (!o.merge_only) {
    CellRunOptions run;
    run.jobs = o.jobs > 0 ? o.jobs : std::max(1, default_threads() / o.threads_per_job);
    run.threads_per_job = o.threads_per_job;
    run.dry_run = o.dry_run;
    run.force = o.force;
    run.score = [&](const std::string& dir) { return cell_value(dir, sweep.analysis.y); };
    std::string header = "seqlab sweep " + sweep.name + " -> " + out;
    if (!o.shard.empty()) header += " (shard " + o.shard + ")";
    failed = run_cells(to_run, run, header);
    if (o.dry_run) return;
  }
  if (!o.shard.empty() && !o.merge_only) {
    std::printf("shard %s done; merge once every shard is: seqlab sweep %s --out %s --merge\n",
                o.shard.c_str(), o.sweep.c_str(), out.c_str());
  } else {
    const auto results = report::load_sweep_results(sweep, kept, dirs);
    report::write_sweep_results(results, out);
    std::printf("\n%s\n-> %s/results.{json,md%s}\n", report::sweep_markdown(results).c_str(),
                out.c_str(), fs::exists(fs::path(out) / "results.svg") ? ",svg,png" : "");
  }
  if (!failed.empty())
    throw UserError(std::to_string(failed.size()) + " cell(s) failed: " + join_names(failed) +
                    " (logs: " + out + "/<cell>.log)");
}

}  // namespace

void add_sweep(CLI::App& app) {
  auto o = std::make_shared<SweepOptions>();
  auto* sub = app.add_subcommand(
      "sweep",
      "Run a sweep (models x grid of overrides x seeds) and merge it: medians, log-log slopes "
      "with 95% CIs, plot");
  sub->add_option("sweep", o->sweep, "Sweep file or name in configs/sweeps/ (e.g. qstr_1str_cpu)")
      ->required();
  sub->add_option("--out", o->out, "Output folder (default: runs/<sweep name>)");
  sub->add_option("--models", o->models, "Only these model labels (comma-separated)")
      ->delimiter(',');
  sub->add_option("--jobs", o->jobs, "Cells run at once (0 = cores / --threads-per-job)");
  sub->add_option("--threads-per-job", o->threads_per_job, "Threads of each cell's training")
      ->check(CLI::Range(1, 1024));
  sub->add_option("--shard", o->shard,
                  "Run only shard i of n (cells k with k mod n = i - 1), e.g. "
                  "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT; no merge");
  sub->add_flag("--merge", o->merge_only, "Run nothing; merge the cells' results that exist");
  sub->add_flag("--dry-run", o->dry_run, "Print the cells and their state, run nothing");
  sub->add_flag("--force", o->force, "Retrain cells whose folder holds a different config");
  sub->callback([o] {
    if (o->jobs < 0) throw UserError("--jobs must be >= 0 (0 = cores / --threads-per-job)");
    run_sweep(*o);
  });
}

}  // namespace seqlab::cli
