#include "seqlab/report/report.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "seqlab/report/plot.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::report {
namespace {

// ---- eval.json fields ---------------------------------------------------------------------------

template <typename T>
T required(const nlohmann::json& js, const char* key, const std::string& path, const char* type) {
  const auto it = js.find(key);
  if (it == js.end()) throw UserError(path + ": missing key '" + key + "'");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw UserError(path + ": key '" + key + "' should be " + type + ", got " + it->dump());
  }
}

template <typename T>
T optional(const nlohmann::json& js, const char* key, const std::string& path, const char* type,
           T fallback) {
  const auto it = js.find(key);
  if (it == js.end() || it->is_null()) return fallback;
  return required<T>(js, key, path, type);
}

void read_range(const nlohmann::json& js, const char* key, const std::string& path,
                int64_t out[2]) {
  const auto v = optional<std::vector<int64_t>>(js, key, path, "[first, last] lengths", {});
  if (v.empty()) return;
  if (v.size() != 2) throw UserError(path + ": key '" + key + "' should be [first, last]");
  out[0] = v[0];
  out[1] = v[1];
}

// ---- Text helpers -------------------------------------------------------------------------------

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  return out;
}

// A file-name-safe version of a label.
std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
    out += ok ? c : '_';
  }
  return out.empty() ? "run" : out;
}

std::string fmt_acc(double v) {
  if (!std::isfinite(v)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

std::string fmt_seconds(double s) {
  char buf[48];
  if (!std::isfinite(s) || s < 0) return "n/a";
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%.1f s", s);
  } else if (s < 3600) {
    const auto t = static_cast<int64_t>(std::lround(s));
    std::snprintf(buf, sizeof(buf), "%lldm %02llds", static_cast<long long>(t / 60),
                  static_cast<long long>(t % 60));
  } else {
    const auto t = static_cast<int64_t>(std::lround(s / 60));
    std::snprintf(buf, sizeof(buf), "%lldh %02lldm", static_cast<long long>(t / 60),
                  static_cast<long long>(t % 60));
  }
  return buf;
}

std::string fmt_range(const int64_t r[2]) {
  if (r[0] == 0 && r[1] == 0) return "";
  return std::to_string(r[0]) + "&ndash;" + std::to_string(r[1]);
}

// gnuplot's SVG, ready to inline: from <svg on (no XML prolog), every id and reference prefixed
// so that several plots on one page cannot resolve each other's definitions.
std::string inline_svg(const std::string& svg, const std::string& prefix, const std::string& alt) {
  const size_t start = svg.find("<svg");
  if (start == std::string::npos) return "";
  std::string out;
  out.reserve(svg.size() + 4096);
  const std::string patterns[] = {"id='", "id=\"", "href='#", "href=\"#", "url(#"};
  size_t i = start;
  while (i < svg.size()) {
    bool matched = false;
    for (const auto& p : patterns) {
      const bool attr_start = p[0] == 'u' || (i > 0 && (svg[i - 1] == ' ' || svg[i - 1] == ':' ||
                                                        svg[i - 1] == '\t' || svg[i - 1] == '\n'));
      if (attr_start && svg.compare(i, p.size(), p) == 0) {
        out += p + prefix;
        i += p.size();
        matched = true;
        break;
      }
    }
    if (!matched) out += svg[i++];
  }
  const std::string open = "<svg";
  return open + " class=\"plot\" role=\"img\" aria-label=\"" + html_escape(alt) + "\"" +
         out.substr(open.size());
}

bool is_curve_row(const nlohmann::json& row) {
  if (!row.is_object()) return false;
  const auto s = row.find("step"), l = row.find("loss");
  return s != row.end() && l != row.end() && s->is_number() && l->is_number();
}

constexpr const char* kCss = R"(
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
         max-width: 1100px; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
  h1 { font-size: 1.6rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
  h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 1px solid #eaecef; }
  h3 { font-size: 1.05rem; margin-bottom: .2rem; }
  table { border-collapse: collapse; width: 100%; font-size: .92rem; }
  th, td { border: 1px solid #d0d7de; padding: .35rem .6rem; text-align: left; }
  th { background: #f6f8fa; }
  tr:nth-child(even) td { background: #fbfbfc; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.good { color: #116329; font-weight: 600; }
  code { font-size: .85rem; background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; }
  svg.plot { width: 100%; height: auto; max-width: 900px; display: block; }
  .note { color: #6e7781; font-size: .9rem; }
  .meta { color: #57606a; font-size: .88rem; margin: 0 0 .4rem 0; }
)";

}  // namespace

RunSummary load_run_summary(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UserError("run directory " + dir + " does not exist");
  const std::string eval_path = (fs::path(dir) / "eval.json").string();
  if (!fs::exists(eval_path, ec))
    throw UserError("run " + dir + " has no eval.json: run `seqlab eval " + dir + "` first");
  const nlohmann::json js = read_json_file(eval_path);
  if (!js.is_object()) throw UserError(eval_path + ": expected a JSON object");

  if (js.contains("metric"))  // regression (r2) or ListOps (node_accuracy) runs
    throw UserError("run " + dir + " reports " + js["metric"].get<std::string>() +
                    " in its eval.json; `seqlab report` tables length-generalization runs only");
  RunSummary r;
  r.dir = dir;
  r.task = required<std::string>(js, "task", eval_path, "a string");
  r.model = required<std::string>(js, "model", eval_path, "a string");
  r.lengths = required<std::vector<int64_t>>(js, "lengths", eval_path, "a list of integers");
  r.accuracy = required<std::vector<double>>(js, "accuracy", eval_path, "a list of numbers");
  if (r.lengths.empty() || r.lengths.size() != r.accuracy.size())
    throw UserError(eval_path + ": 'lengths' and 'accuracy' must be non-empty and equally long (" +
                    std::to_string(r.lengths.size()) + " vs " + std::to_string(r.accuracy.size()) +
                    ")");
  r.id_accuracy = required<double>(js, "id_accuracy", eval_path, "a number");
  r.ood_accuracy = required<double>(js, "ood_accuracy", eval_path, "a number");
  read_range(js, "id_range", eval_path, r.id_range);
  read_range(js, "ood_range", eval_path, r.ood_range);
  r.num_classes = optional<int64_t>(js, "num_classes", eval_path, "an integer", 0);
  r.train_max_length = optional<int64_t>(js, "train_max_length", eval_path, "an integer", 0);
  r.steps = optional<int64_t>(js, "steps", eval_path, "an integer", 0);
  r.wall_seconds = optional<double>(js, "wall_seconds", eval_path, "a number", NAN);
  r.train_seconds = optional<double>(js, "train_seconds", eval_path, "a number", NAN);
  r.samples_per_length = optional<int64_t>(js, "samples_per_length", eval_path, "an integer", 0);

  const std::string config_path = (fs::path(dir) / "config.yaml").string();
  if (fs::exists(config_path, ec)) {
    try {
      const YAML::Node cfg = YAML::LoadFile(config_path);
      if (cfg.IsMap() && cfg["name"] && cfg["name"].IsScalar())
        r.name = cfg["name"].as<std::string>();
    } catch (const YAML::Exception& e) {
      throw UserError(config_path + ": malformed YAML (" + e.what() + ")");
    }
  }
  r.label = r.task + "/" + r.model;
  // Preset names like "parity_check_sdssm" repeat task and model; other names tell runs apart.
  if (!r.name.empty() && r.name != r.task + "_" + r.model) r.label += "/" + r.name;
  return r;
}

std::string markdown_table(const std::vector<RunSummary>& runs) {
  std::string out = "| run | task | model | ID acc | OOD acc | steps | train time |\n";
  out += "|---|---|---|---:|---:|---:|---:|\n";
  for (const auto& r : runs) {
    out += "| " + md_escape(r.label) + " | " + md_escape(r.task) + " | " + md_escape(r.model) +
           " | " + fmt_acc(r.id_accuracy) + " | " + fmt_acc(r.ood_accuracy) + " | " +
           std::to_string(r.steps) + " | " + fmt_seconds(r.train_seconds) + " |\n";
  }
  return out;
}

void write_report(const std::vector<std::string>& run_dirs, const std::string& out_dir) {
  if (run_dirs.empty()) throw UserError("report: no run directories given");
  std::vector<RunSummary> runs;
  for (const auto& d : run_dirs) runs.push_back(load_run_summary(d));
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec || !fs::is_directory(out_dir, ec))
    throw UserError("cannot create report directory " + out_dir +
                    (ec ? ": " + ec.message() : std::string()));
  const bool plots = gnuplot_available();
  if (!plots)
    std::fprintf(stderr,
                 "seqlab report: gnuplot not found, report.html has no plots (run "
                 "scripts/deps.sh)\n");

  // Tasks in order of first appearance; one accuracy-vs-length plot per task.
  std::vector<std::string> tasks;
  for (const auto& r : runs)
    if (std::find(tasks.begin(), tasks.end(), r.task) == tasks.end()) tasks.push_back(r.task);

  int svg_count = 0;
  auto inline_plot = [&](const std::string& base, const std::string& alt) {
    return inline_svg(read_text_file(base + ".svg"), "p" + std::to_string(svg_count++) + "_", alt);
  };

  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>seqlab report</title>\n<style>" + std::string(kCss) + "</style>\n</head>\n";
  html += "<body>\n<h1>seqlab report</h1>\n";
  html += "<p class=\"meta\">" + std::to_string(runs.size()) + " run" +
          (runs.size() == 1 ? "" : "s") + ", " + std::to_string(tasks.size()) + " task" +
          (tasks.size() == 1 ? "" : "s") +
          ". ID and OOD accuracy are means of the per-length accuracy over the given length "
          "ranges (spec/tasks.md &sect;1.1).</p>\n";
  if (!plots)
    html +=
        "<p class=\"note\">Plots are missing: gnuplot was not found when this report was "
        "written (run <code>scripts/deps.sh</code>).</p>\n";

  html +=
      "<h2>Summary</h2>\n<table>\n<thead><tr><th>run</th><th>task</th><th>model</th>"
      "<th>ID acc</th><th>OOD acc</th><th>ID lengths</th><th>OOD lengths</th><th>steps</th>"
      "<th>train time</th><th>directory</th></tr></thead>\n<tbody>\n";
  for (const auto& r : runs) {
    auto acc_cell = [](double v) {
      return std::string("<td class=\"num") + (v >= 0.99 ? " good" : "") + "\">" + fmt_acc(v) +
             "</td>";
    };
    html += "<tr><td>" + html_escape(r.label) + "</td><td>" + html_escape(r.task) + "</td><td>" +
            html_escape(r.model) + "</td>" + acc_cell(r.id_accuracy) + acc_cell(r.ood_accuracy) +
            "<td class=\"num\">" + fmt_range(r.id_range) + "</td><td class=\"num\">" +
            fmt_range(r.ood_range) + "</td><td class=\"num\">" + std::to_string(r.steps) +
            "</td><td class=\"num\">" + fmt_seconds(r.train_seconds) + "</td><td><code>" +
            html_escape(r.dir) + "</code></td></tr>\n";
  }
  html += "</tbody>\n</table>\n";

  html += "<h2>Accuracy vs sequence length</h2>\n";
  for (const auto& task : tasks) {
    std::vector<Curve> curves;
    PlotOptions opts;
    opts.title = "Accuracy vs length: " + task;
    for (const auto& r : runs) {
      if (r.task != task) continue;
      curves.push_back({r.label, r.lengths, r.accuracy});
      opts.train_max_length = std::max(opts.train_max_length, r.train_max_length);
      if (opts.chance == 0.0 && r.num_classes > 0) opts.chance = 1.0 / r.num_classes;
    }
    html += "<h3>" + html_escape(task) + "</h3>\n";
    if (!plots) continue;
    const std::string base =
        (fs::path(out_dir) / (tasks.size() == 1 ? std::string("accuracy_vs_length")
                                                : "accuracy_vs_length_" + slug(task)))
            .string();
    plot_accuracy_vs_length(curves, opts, base);
    html += inline_plot(base, opts.title) + "\n";
    html +=
        "<p class=\"note\">Dashed vertical line: longest training length. Dotted horizontal "
        "line: chance (1/classes).</p>\n";
  }

  html += "<h2>Training curves</h2>\n";
  for (size_t k = 0; k < runs.size(); ++k) {
    const auto& r = runs[k];
    html += "<h3>" + html_escape(r.label) + "</h3>\n<p class=\"meta\"><code>" + html_escape(r.dir) +
            "</code> &middot; " + std::to_string(r.steps) + " steps &middot; " + "train " +
            fmt_seconds(r.train_seconds) + " &middot; wall " + fmt_seconds(r.wall_seconds) +
            " &middot; " + std::to_string(r.samples_per_length) +
            " evaluation samples per length</p>\n";
    const std::string log_path = (fs::path(r.dir) / "log.jsonl").string();
    if (!fs::exists(log_path, ec)) {
      html += "<p class=\"note\">No log.jsonl in this run directory.</p>\n";
      continue;
    }
    const auto rows = read_jsonl_file(log_path);
    if (std::none_of(rows.begin(), rows.end(), is_curve_row)) {
      html += "<p class=\"note\">log.jsonl has no rows with a step and a loss.</p>\n";
      continue;
    }
    if (!plots) continue;
    PlotOptions opts;
    opts.title = "Training: " + r.label;
    const std::string base =
        (fs::path(out_dir) / ("training_" + std::to_string(k) + "_" + slug(r.label))).string();
    plot_training_curve(rows, opts, base);
    html += inline_plot(base, opts.title) + "\n";
  }
  html += "</body>\n</html>\n";
  write_file_atomic((fs::path(out_dir) / "report.html").string(), html);
}

}  // namespace seqlab::report
