// The merged results of a sweep (eval/sweep.h): per series (a model label and the values of the
// axes other than x), the measured y of every seed at every x, its median and quartiles, and for
// fit = loglog the fitted log-log slope with its 95 % interval (eval/loglog_fit.h) beside the
// theory's slope; slope differences for the compared labels. Written as results.json,
// results.md and a log-log plot results.{svg,png}. Reads run folders only.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "seqlab/eval/loglog_fit.h"
#include "seqlab/eval/sweep.h"

namespace seqlab::report {

// With analysis.select: one cell competing for a point, its value of the selection axis, its
// selection score (eval.json `by`, NaN when absent) and its y.
struct SweepCandidate {
  std::string cell, value;
  double score = 0, y = 0;
};

struct SweepPoint {
  std::string cell, seed;
  double x = 0, y = 0;    // y NaN when missing or censored
  bool censored = false;  // eval.json holds y as null (n*: threshold never reached)
  std::string status;     // "" or why there is no y (no eval.json, ...)
  double train_seconds = 0;
  // With analysis.select: the chosen value of the selection axis (the cell above) and every
  // candidate; a point waits ("selection pending") until each candidate has an eval.json.
  std::string selected;
  std::vector<SweepCandidate> candidates;
};

struct SweepSummary {
  double x = 0, median = 0, q25 = 0, q75 = 0;  // over the finite y (NaN when none)
  int measured = 0, censored = 0, missing = 0;
};

struct SweepSeries {
  std::string label, model;
  std::vector<std::pair<std::string, std::string>> others;  // non-x axis values
  std::vector<SweepPoint> points;
  std::vector<SweepSummary> by_x;  // ascending x
  std::optional<eval::SlopeFit> fit;
  std::string fit_note;  // why there is no fit
};

struct SweepComparison {
  std::string a, b;  // series labels
  eval::SlopeDifference diff;
};

struct SweepResults {
  eval::Sweep sweep;
  std::vector<SweepSeries> series;
  std::vector<SweepComparison> comparisons;
  double train_seconds = 0;  // summed over cells with an eval.json
  int cells = 0, cells_done = 0;
};

// dirs[i] is the run folder of cells[i]. Throws seqlab::UserError on an eval.json that is not
// valid JSON, or an x value that is not a number.
SweepResults load_sweep_results(const eval::Sweep& sweep, const std::vector<eval::SweepCell>& cells,
                                const std::vector<std::string>& dirs);

std::string sweep_markdown(const SweepResults& r);
nlohmann::json sweep_json(const SweepResults& r);
// results.json, results.md and (gnuplot present, some y > 0) results.{svg,png} in out_dir.
void write_sweep_results(const SweepResults& r, const std::string& out_dir);

}  // namespace seqlab::report
