// The results table of a task x model protocol (`seqlab protocol`): one score per cell read from
// the cell's eval.json, written as results.json, results.md and a coloured grid
// results.{svg,png}. Reads run folders only (design/architecture.md: the report reads files).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace seqlab::report {

struct GridResults {
  std::string name;    // the protocol's name
  std::string metric;  // the eval.json key, e.g. "r2"
  std::vector<std::string> tasks, models;
  std::vector<std::string> expected;               // per task; "" = no note
  std::vector<std::vector<double>> score;          // [task][model]; NaN = missing
  std::vector<std::vector<double>> train_seconds;  // [task][model]; NaN = missing
  std::vector<std::vector<std::string>> status;    // [task][model]: "" (done) or why not
};

// One cell's <run_dir>/eval.json: the number `metric` and train_seconds (NaN where missing), and
// status = "" or why the score is missing (no eval.json, no such number). Throws
// seqlab::UserError on an eval.json that is not valid JSON.
struct CellResult {
  double score, train_seconds;
  std::string status;
};
CellResult read_cell_result(const std::string& run_dir, const std::string& metric);

// Fills score/train_seconds/status from run_dirs[t][m]/eval.json (a missing folder or eval.json,
// or a missing metric, gives NaN and a status saying which). Throws seqlab::UserError on a
// run_dirs shape other than tasks x models, or an eval.json that is not valid JSON.
GridResults load_grid_results(const std::string& name, const std::string& metric,
                              const std::vector<std::string>& tasks,
                              const std::vector<std::string>& models,
                              const std::vector<std::string>& expected,
                              const std::vector<std::vector<std::string>>& run_dirs);

// Markdown: one row per task, one column per model (3 decimals, the row's best in bold, "n/a"
// where missing), then the expectation column when any task has one.
std::string grid_markdown(const GridResults& r);
nlohmann::json grid_json(const GridResults& r);

// results.json, results.md and (when gnuplot is present) results.{svg,png} in out_dir, each
// written atomically.
void write_grid_results(const GridResults& r, const std::string& out_dir);

}  // namespace seqlab::report
