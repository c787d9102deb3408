// Results table of a protocol grid (grid_results.h).
#include "seqlab/report/grid_results.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "seqlab/report/plot.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string cell_text(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

}  // namespace

CellResult read_cell_result(const std::string& run_dir, const std::string& metric) {
  CellResult c{kNaN, kNaN, ""};
  const fs::path eval = fs::path(run_dir) / "eval.json";
  if (!fs::exists(eval)) {
    c.status = "no " + eval.string();
    return c;
  }
  const auto js = read_json_file(eval.string());
  if (js.contains(metric) && js[metric].is_number())
    c.score = js[metric].get<double>();
  else
    c.status = eval.string() + " has no number '" + metric + "'";
  if (js.contains("train_seconds") && js["train_seconds"].is_number())
    c.train_seconds = js["train_seconds"].get<double>();
  return c;
}

GridResults load_grid_results(const std::string& name, const std::string& metric,
                              const std::vector<std::string>& tasks,
                              const std::vector<std::string>& models,
                              const std::vector<std::string>& expected,
                              const std::vector<std::vector<std::string>>& run_dirs) {
  if (run_dirs.size() != tasks.size() || expected.size() != tasks.size())
    throw UserError("grid results: " + std::to_string(run_dirs.size()) + " run rows and " +
                    std::to_string(expected.size()) + " notes for " + std::to_string(tasks.size()) +
                    " tasks");
  GridResults r{name, metric, tasks, models, expected, {}, {}, {}};
  for (size_t t = 0; t < tasks.size(); ++t) {
    if (run_dirs[t].size() != models.size())
      throw UserError("grid results: task " + tasks[t] + " has " +
                      std::to_string(run_dirs[t].size()) + " runs for " +
                      std::to_string(models.size()) + " models");
    std::vector<double> score(models.size(), kNaN), seconds(models.size(), kNaN);
    std::vector<std::string> status(models.size());
    for (size_t m = 0; m < models.size(); ++m) {
      const auto c = read_cell_result(run_dirs[t][m], metric);
      score[m] = c.score;
      seconds[m] = c.train_seconds;
      status[m] = c.status;
    }
    r.score.push_back(score);
    r.train_seconds.push_back(seconds);
    r.status.push_back(status);
  }
  return r;
}

std::string grid_markdown(const GridResults& r) {
  bool notes = false;
  for (const auto& e : r.expected) notes = notes || !e.empty();
  std::string out = "| task |";
  for (const auto& m : r.models) out += " " + md_cell(m) + " |";
  if (notes) out += " paper / expected |";
  out += "\n|---|";
  for (size_t m = 0; m < r.models.size(); ++m) out += "---:|";
  if (notes) out += "---|";
  out += "\n";
  for (size_t t = 0; t < r.tasks.size(); ++t) {
    double best = -std::numeric_limits<double>::infinity();
    for (double v : r.score[t])
      if (std::isfinite(v)) best = std::max(best, v);
    out += "| " + md_cell(r.tasks[t]) + " |";
    for (double v : r.score[t]) {
      const std::string s = cell_text(v);
      out +=
          " " + (std::isfinite(v) && cell_text(v) == cell_text(best) ? "**" + s + "**" : s) + " |";
    }
    if (notes) out += " " + md_cell(r.expected[t]) + " |";
    out += "\n";
  }
  return out;
}

nlohmann::json grid_json(const GridResults& r) {
  nlohmann::json cells = nlohmann::json::array();
  for (size_t t = 0; t < r.tasks.size(); ++t)
    for (size_t m = 0; m < r.models.size(); ++m) {
      nlohmann::json c = {{"task", r.tasks[t]},
                          {"model", r.models[m]},
                          {r.metric, number_or_null(r.score[t][m])},
                          {"train_seconds", number_or_null(r.train_seconds[t][m])}};
      if (!r.status[t][m].empty()) c["status"] = r.status[t][m];
      cells.push_back(c);
    }
  nlohmann::json expected = nlohmann::json::object();
  for (size_t t = 0; t < r.tasks.size(); ++t)
    if (!r.expected[t].empty()) expected[r.tasks[t]] = r.expected[t];
  return {{"protocol", r.name}, {"metric", r.metric},   {"tasks", r.tasks},
          {"models", r.models}, {"expected", expected}, {"cells", cells}};
}

void write_grid_results(const GridResults& r, const std::string& out_dir) {
  fs::create_directories(out_dir);
  write_file_atomic((fs::path(out_dir) / "results.json").string(), grid_json(r).dump(2) + "\n");
  double total = 0;
  for (const auto& row : r.train_seconds)
    for (double s : row)
      if (std::isfinite(s)) total += s;
  char footer[160];
  std::snprintf(footer, sizeof(footer),
                "\n%s per cell (eval.json); training time %.1f min in all.\n", r.metric.c_str(),
                total / 60.0);
  write_file_atomic((fs::path(out_dir) / "results.md").string(),
                    "# " + r.name + "\n\n" + grid_markdown(r) + footer);
  if (gnuplot_available()) {
    // R² and accuracies share the [0, 1] colour scale; a negative R² is as red as 0.
    plot_score_grid(r.tasks, r.models, r.score, 0.0, 1.0, r.name + ": " + r.metric,
                    (fs::path(out_dir) / "results").string());
  }
}

}  // namespace seqlab::report
