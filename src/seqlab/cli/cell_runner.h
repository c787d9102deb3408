// Runs many training cells as `seqlab train` child processes (`seqlab protocol`, `seqlab sweep`):
// each cell writes its own run folder (log in <folder>.log), up to `jobs` run at once, with one
// progress line per finished cell (its score, time and the ETA). Resumable: a cell whose folder
// already holds the same config and an eval.json is done; one with checkpoints but no eval.json
// resumes; a folder with another config is an error unless `force` (then it is retrained).
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace seqlab::cli {

struct CellSpec {
  std::string name;               // shown in progress lines
  std::string preset;             // preset name or YAML path
  std::vector<std::string> sets;  // --set overrides, in order
  std::string dir;                // run folder
};

struct CellRunOptions {
  int jobs = 1, threads_per_job = 1;
  bool dry_run = false;  // print each cell's state and command, run nothing
  bool force = false;
  // One line about a finished cell for its progress line (e.g. "r2 0.9990"); empty = none.
  std::function<std::string(const std::string& dir)> score;
};

// Loads and validates every cell's config first (UserError naming the cell), then runs the cells
// that are not done. `header` is printed with the counts ("<header>: N cells (d done, r to
// resume, k to run) ..."). Returns the names of the cells that failed (their logs say why).
std::vector<std::string> run_cells(const std::vector<CellSpec>& cells, const CellRunOptions& o,
                                   const std::string& header);

// "1h02m" / "3m05s".
std::string format_duration(double seconds);

}  // namespace seqlab::cli
