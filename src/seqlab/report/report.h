// Tables and the HTML report of evaluated runs, built from run directories alone
// (design/architecture.md "Run directory"): config.yaml, eval.json and log.jsonl.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace seqlab::report {

// One evaluated run: the fields of its eval.json plus where it lives and how to name it.
struct RunSummary {
  std::string dir;
  std::string label;  // task/model, then /name when config.yaml names the run otherwise
  std::string name;   // config.yaml `name` ("" when absent)
  std::string task;
  std::string model;
  std::vector<int64_t> lengths;
  std::vector<double> accuracy;  // acc(L) for each entry of lengths (spec/tasks.md §1.1)
  double id_accuracy = 0.0;
  double ood_accuracy = 0.0;
  int64_t id_range[2] = {0, 0};
  int64_t ood_range[2] = {0, 0};
  int64_t num_classes = 0;
  int64_t train_max_length = 0;
  int64_t steps = 0;
  double wall_seconds = 0.0;
  double train_seconds = 0.0;
  int64_t samples_per_length = 0;
};

// Reads <dir>/eval.json (and the run name from <dir>/config.yaml when present). Throws
// seqlab::UserError if the directory or eval.json is missing ("run `seqlab eval <dir>` first"),
// or a field is missing or has the wrong type (naming the file and the key).
RunSummary load_run_summary(const std::string& dir);

// A Markdown table, one row per run: run, task, model, ID acc, OOD acc, steps, train time.
std::string markdown_table(const std::vector<RunSummary>& runs);

// Writes <out_dir>/report.html: a self-contained page (inline CSS and SVG) with the summary table,
// one accuracy-vs-length plot per task (one line per run) and each run's training curve. The
// plots are also written as <out_dir>/accuracy_vs_length.{svg,png} (one task) or
// accuracy_vs_length_<task>.{svg,png} (several) and training_<k>_<label>.{svg,png}. Without
// gnuplot the page has the table and a note instead of plots. Throws seqlab::UserError on no runs,
// a run that load_run_summary rejects, a malformed log.jsonl or an unwritable out_dir.
void write_report(const std::vector<std::string>& run_dirs, const std::string& out_dir);

}  // namespace seqlab::report
