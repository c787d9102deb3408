#include "seqlab/report/sweep_results.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "seqlab/report/plot.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::report {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Linear-interpolated quantile of sorted values (numpy's default).
double quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return kNaN;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// "%.4g", except that whole numbers from 1,000 to 10^9 (sample counts) print in full.
std::string fmt(double v, const char* f = "%.4g") {
  if (!std::isfinite(v)) return "n/a";
  char buf[48];
  if (std::string(f) == "%.4g" && std::fabs(v) >= 1000 && std::fabs(v) < 1e9 && v == std::round(v))
    f = "%.0f";
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Reads the cell's eval.json once: y into the point and, when `score_key` is not empty, that
// number (NaN when absent) into *score.
SweepPoint read_point(const eval::SweepCell& cell, const std::string& dir, const std::string& y,
                      const std::string& x_key, const std::string& score_key, double* score) {
  *score = kNaN;
  SweepPoint p;
  p.cell = cell.name;
  p.seed = cell.seed;
  p.y = kNaN;
  for (const auto& [key, value] : cell.values)
    if (key == x_key) {
      try {
        p.x = std::stod(value);
      } catch (const std::exception&) {
        throw UserError("sweep: the x axis " + x_key + " has the value '" + value +
                        "', which is not a number");
      }
    }
  const fs::path eval = fs::path(dir) / "eval.json";
  if (!fs::exists(eval)) {
    p.status = "not run";
    return p;
  }
  const auto js = read_json_file(eval.string());
  if (!score_key.empty() && js.contains(score_key) && js[score_key].is_number())
    *score = js[score_key].get<double>();
  p.train_seconds = js.value("train_seconds", 0.0);
  if (!js.contains(y))
    p.status = "eval.json has no '" + y + "'";
  else if (js[y].is_null())
    p.censored = true;
  else if (js[y].is_number())
    p.y = js[y].get<double>();
  else
    p.status = "eval.json '" + y + "' is not a number";
  return p;
}

// analysis.select: the candidates of one point (same model, x, other axes and seed) reduced to
// the one with the lowest score. Pending while a candidate has not run. candidates is not empty.
SweepPoint select_point(const std::vector<SweepPoint>& candidates,
                        const std::vector<std::string>& values, const std::vector<double>& scores,
                        const std::string& by) {
  std::vector<SweepCandidate> all;
  int run = 0;
  size_t best = candidates.size();
  for (size_t i = 0; i < candidates.size(); ++i) {
    const auto& c = candidates[i];
    all.push_back({c.cell, values[i], scores[i], c.y});
    if (c.status == "not run") continue;
    ++run;
    if (std::isfinite(scores[i]) && (best == candidates.size() || scores[i] < scores[best]))
      best = i;
  }
  const int n = static_cast<int>(candidates.size());
  SweepPoint out = candidates[best < candidates.size() ? best : 0];
  if (run < n) {
    out = SweepPoint{};
    out.cell = candidates.front().cell;
    out.seed = candidates.front().seed;
    out.x = candidates.front().x;
    out.y = kNaN;
    out.status =
        "selection pending (" + std::to_string(run) + " of " + std::to_string(n) + " cells run)";
  } else if (best == candidates.size()) {
    out.y = kNaN;
    out.censored = false;
    out.status = "no cell has a number '" + by + "' to select by";
  } else {
    out.selected = values[best];
  }
  out.candidates = std::move(all);
  return out;
}

}  // namespace

SweepResults load_sweep_results(const eval::Sweep& sweep, const std::vector<eval::SweepCell>& cells,
                                const std::vector<std::string>& dirs) {
  if (cells.size() != dirs.size()) throw UserError("sweep results: cells and folders differ");
  SweepResults r;
  r.sweep = sweep;
  const auto& an = sweep.analysis;
  const bool selecting = !an.select_axis.empty();
  std::map<std::string, size_t> index;  // series label -> position
  // With selection, the candidates of each point in cell order: key -> (points, values, scores).
  struct Group {
    size_t series;
    std::vector<SweepPoint> points;
    std::vector<std::string> values;
    std::vector<double> scores;
  };
  std::vector<Group> groups;
  std::map<std::string, size_t> group_index;
  for (size_t i = 0; i < cells.size(); ++i) {
    const auto& c = cells[i];
    std::vector<std::pair<std::string, std::string>> others;
    std::string label = c.model_label, selected_value;
    for (const auto& kv : c.values)
      if (kv.first == an.select_axis) {
        selected_value = kv.second;
      } else if (kv.first != an.x) {
        others.push_back(kv);
        label += " " + eval::axis_leaf(kv.first) + "=" + kv.second;
      }
    auto it = index.find(label);
    if (it == index.end()) {
      it = index.emplace(label, r.series.size()).first;
      r.series.push_back({label, c.model_label, others, {}, {}, std::nullopt, ""});
    }
    double score = kNaN;
    auto p = read_point(c, dirs[i], an.y, an.x, an.select_by, &score);
    ++r.cells;
    if (p.status != "not run") {
      ++r.cells_done;
      r.train_seconds += p.train_seconds;
    }
    if (!selecting) {
      r.series[it->second].points.push_back(std::move(p));
      continue;
    }
    char xbuf[48];
    std::snprintf(xbuf, sizeof xbuf, "%.17g", p.x);
    const std::string key = label + "\n" + xbuf + "\n" + c.seed;
    auto g = group_index.find(key);
    if (g == group_index.end()) {
      g = group_index.emplace(key, groups.size()).first;
      groups.push_back({it->second, {}, {}, {}});
    }
    auto& group = groups[g->second];
    group.scores.push_back(score);
    group.values.push_back(selected_value);
    group.points.push_back(std::move(p));
  }
  for (const auto& g : groups)
    r.series[g.series].points.push_back(select_point(g.points, g.values, g.scores, an.select_by));
  for (auto& s : r.series) {
    std::set<double> xs;
    for (const auto& p : s.points) xs.insert(p.x);
    std::vector<double> fx, fy;
    for (double x : xs) {
      SweepSummary sum;
      sum.x = x;
      std::vector<double> ys;
      for (const auto& p : s.points) {
        if (p.x != x) continue;
        if (p.censored)
          ++sum.censored;
        else if (std::isfinite(p.y))
          ys.push_back(p.y), ++sum.measured;
        else
          ++sum.missing;
        if (std::isfinite(p.y) && x >= an.fit_min_x) fx.push_back(x), fy.push_back(p.y);
      }
      std::sort(ys.begin(), ys.end());
      sum.median = quantile(ys, 0.5);
      sum.q25 = quantile(ys, 0.25);
      sum.q75 = quantile(ys, 0.75);
      s.by_x.push_back(sum);
    }
    if (an.fit == "loglog") {
      try {
        s.fit = eval::fit_loglog(fx, fy);
      } catch (const UserError& e) {
        s.fit_note = e.what();
      }
    }
  }
  for (const auto& [a, b] : an.compare)
    for (const auto& sa : r.series) {
      if (sa.model != a || !sa.fit) continue;
      for (const auto& sb : r.series)
        if (sb.model == b && sb.others == sa.others && sb.fit)
          r.comparisons.push_back({sa.label, sb.label, eval::slope_difference(*sa.fit, *sb.fit)});
    }
  return r;
}

namespace {

// A markdown table with one row per x and one column per series; cell(series, x) fills a cell.
std::string series_table(const SweepResults& r, const std::set<double>& xs, const char* align,
                         const std::function<std::string(const SweepSeries&, double)>& cell) {
  std::string md = "| " + r.sweep.analysis.x_label + " |";
  for (const auto& s : r.series) md += " " + s.label + " |";
  md += "\n|---|";
  for (size_t i = 0; i < r.series.size(); ++i) md += std::string(align) + "|";
  md += "\n";
  for (double x : xs) {
    md += "| " + fmt(x, "%g") + " |";
    for (const auto& s : r.series) md += " " + cell(s, x) + " |";
    md += "\n";
  }
  return md;
}

}  // namespace

std::string sweep_markdown(const SweepResults& r) {
  const auto& an = r.sweep.analysis;
  std::set<double> xs;
  for (const auto& s : r.series)
    for (const auto& b : s.by_x) xs.insert(b.x);
  // Median [quartiles] (censored / missing counts) per series and x.
  std::string md = series_table(r, xs, "---:", [](const SweepSeries& s, double x) {
    const auto it =
        std::find_if(s.by_x.begin(), s.by_x.end(), [&](const SweepSummary& b) { return b.x == x; });
    if (it == s.by_x.end()) return std::string();
    std::string cell = fmt(it->median);
    if (it->measured > 1) cell += " [" + fmt(it->q25) + "–" + fmt(it->q75) + "]";
    if (it->censored) cell += " (" + std::to_string(it->censored) + " censored)";
    if (it->missing) cell += " (" + std::to_string(it->missing) + " missing)";
    return cell;
  });
  md += "\n" + an.y_label + ": median over seeds [quartiles]";
  md +=
      "; censored = the run ended without reaching the threshold (left out of the median and "
      "the fit).\n";
  if (!an.select_axis.empty()) {
    md += "\nEach point is the cell with the lowest " + an.select_by + " among the values of " +
          an.select_axis + "; the values chosen, per seed in seed order (? = pending):\n\n";
    md += series_table(r, xs, "---", [](const SweepSeries& s, double x) {
      std::string chosen;
      for (const auto& p : s.points) {
        if (p.x != x) continue;
        if (!chosen.empty()) chosen += ", ";
        chosen += p.selected.empty() ? "?" : p.selected;
      }
      return chosen;
    });
  }
  if (an.fit == "loglog") {
    md += "\n| series | points | slope of log " + an.y + " on log " + eval::axis_leaf(an.x) +
          " | 95 % CI | predicted | expected |\n|---|---:|---:|---|---:|---|\n";
    for (const auto& s : r.series) {
      const auto pred = an.predicted.find(s.model);
      const auto exp = an.expected.find(s.model);
      md += "| " + s.label + " | ";
      if (s.fit)
        md += std::to_string(s.fit->points) + " | " + fmt(s.fit->slope, "%.3f") + " | [" +
              fmt(s.fit->ci_low, "%.3f") + ", " + fmt(s.fit->ci_high, "%.3f") + "] | ";
      else
        md += "0 | n/a | " + s.fit_note + " | ";
      md += (pred != an.predicted.end() ? fmt(pred->second, "%.3f") : std::string()) + " | " +
            (exp != an.expected.end() ? exp->second : std::string()) + " |\n";
    }
    if (!r.comparisons.empty()) {
      md += "\n| difference of slopes | Δ | 95 % CI |\n|---|---:|---|\n";
      for (const auto& c : r.comparisons)
        md += "| " + c.a + " − " + c.b + " | " + fmt(c.diff.delta, "%.3f") + " | [" +
              fmt(c.diff.ci_low, "%.3f") + ", " + fmt(c.diff.ci_high, "%.3f") + "] |\n";
    }
  }
  return md;
}

nlohmann::json sweep_json(const SweepResults& r) {
  const auto& an = r.sweep.analysis;
  nlohmann::json js;
  js["name"] = r.sweep.name;
  js["x"] = an.x;
  js["y"] = an.y;
  js["fit"] = an.fit;
  if (!an.select_axis.empty()) js["select"] = {{"axis", an.select_axis}, {"by", an.select_by}};
  js["cells"] = r.cells;
  js["cells_done"] = r.cells_done;
  js["train_seconds"] = r.train_seconds;
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); };
  for (const auto& s : r.series) {
    nlohmann::json sj;
    sj["label"] = s.label;
    sj["model"] = s.model;
    for (const auto& [k, v] : s.others) sj["axes"][k] = v;
    for (const auto& p : s.points) {
      nlohmann::json pj = {{"cell", p.cell}, {"seed", p.seed},         {"x", p.x},
                           {"y", num(p.y)},  {"censored", p.censored}, {"status", p.status}};
      if (!an.select_axis.empty()) {
        pj["selected"] = p.selected.empty() ? nlohmann::json() : nlohmann::json(p.selected);
        for (const auto& c : p.candidates)
          pj["candidates"].push_back(
              {{"cell", c.cell}, {"value", c.value}, {"score", num(c.score)}, {"y", num(c.y)}});
      }
      sj["points"].push_back(pj);
    }
    for (const auto& b : s.by_x)
      sj["summary"].push_back({{"x", b.x},
                               {"median", num(b.median)},
                               {"q25", num(b.q25)},
                               {"q75", num(b.q75)},
                               {"measured", b.measured},
                               {"censored", b.censored},
                               {"missing", b.missing}});
    if (s.fit)
      sj["fit"] = {{"points", s.fit->points},
                   {"slope", s.fit->slope},
                   {"intercept", s.fit->intercept},
                   {"stderr", num(s.fit->stderr_slope)},
                   {"ci95", {num(s.fit->ci_low), num(s.fit->ci_high)}},
                   {"dof", s.fit->dof}};
    else if (an.fit == "loglog")
      sj["fit_note"] = s.fit_note;
    const auto pred = an.predicted.find(s.model);
    if (pred != an.predicted.end()) sj["predicted_slope"] = pred->second;
    const auto exp = an.expected.find(s.model);
    if (exp != an.expected.end()) sj["expected"] = exp->second;
    js["series"].push_back(sj);
  }
  for (const auto& c : r.comparisons)
    js["comparisons"].push_back({{"a", c.a},
                                 {"b", c.b},
                                 {"delta", c.diff.delta},
                                 {"stderr", num(c.diff.stderr_delta)},
                                 {"ci95", {num(c.diff.ci_low), num(c.diff.ci_high)}}});
  return js;
}

void write_sweep_results(const SweepResults& r, const std::string& out_dir) {
  fs::create_directories(out_dir);
  write_file_atomic((fs::path(out_dir) / "results.json").string(), sweep_json(r).dump(2) + "\n");
  char footer[200];
  std::snprintf(footer, sizeof footer,
                "\n%d of %d cells have an eval.json; training time %.1f min in all.\n",
                r.cells_done, r.cells, r.train_seconds / 60.0);
  write_file_atomic((fs::path(out_dir) / "results.md").string(),
                    "# " + r.sweep.analysis.title + "\n\n" + sweep_markdown(r) + footer);
  if (!gnuplot_available()) return;
  // Medians per series, and each fitted power law over the range it was fitted on.
  std::vector<Series> plot;
  for (const auto& s : r.series) {
    Series med{s.label, {}, {}};
    for (const auto& b : s.by_x)
      if (std::isfinite(b.median) && b.median > 0 && b.x > 0) {
        med.x.push_back(b.x);
        med.y.push_back(b.median);
      }
    if (med.x.empty()) continue;
    if (s.fit) {
      char label[96];
      std::snprintf(label, sizeof label, " (slope %.2f)", s.fit->slope);
      med.label += label;
    }
    plot.push_back(med);
  }
  if (plot.empty()) return;
  plot_loglog(plot, r.sweep.analysis.x_label, r.sweep.analysis.y_label, r.sweep.analysis.title,
              (fs::path(out_dir) / "results").string());
}

}  // namespace seqlab::report
