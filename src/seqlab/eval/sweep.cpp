// Sweep files (sweep.h).
#include "seqlab/eval/sweep.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "seqlab/eval/yaml_fields.h"
#include "seqlab/util/error.h"

namespace seqlab::eval {
namespace {

using yaml_fields::check_keys;
using yaml_fields::fail;
using yaml_fields::override_list;
using yaml_fields::scalar;
using yaml_fields::scalar_list;
using yaml_fields::valid_label;

// An axis's values: scalars, or {value: V, sets: [key=value, ...]}.
std::vector<AxisValue> axis_values(const YAML::Node& n, const std::string& where,
                                   const std::string& origin) {
  if (!n.IsSequence() || n.size() == 0) fail(origin, where + " must be a non-empty list");
  std::vector<AxisValue> out;
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string w = where + "[" + std::to_string(i) + "]";
    AxisValue v;
    if (n[i].IsMap()) {
      check_keys(n[i], {"value", "sets"}, w, origin);
      v.value = scalar(n[i]["value"], w + ".value", origin);
      if (n[i]["sets"]) v.sets = override_list(n[i]["sets"], w + ".sets", origin);
    } else {
      v.value = scalar(n[i], w, origin);
    }
    out.push_back(std::move(v));
  }
  return out;
}

// A value as part of a folder name: letters, digits, '.', '_' and '-' kept, the rest '_'.
std::string name_part(const std::string& v) {
  std::string out = v;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  return out;
}

}  // namespace

std::vector<std::string> axis_keys(const std::string& axis) {
  std::vector<std::string> keys;
  size_t start = 0;
  while (true) {
    const auto comma = axis.find(',', start);
    keys.push_back(axis.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return keys;
}

std::string axis_leaf(const std::string& axis) {
  const auto first = axis_keys(axis).front();
  return first.substr(first.rfind('.') + 1);
}

Sweep parse_sweep(const std::string& yaml_text, const std::string& origin) {
  const YAML::Node root = yaml_fields::load(yaml_text, origin);
  if (!root.IsMap() || !root["sweep"]) fail(origin, "a sweep file has one top-level key 'sweep'");
  check_keys(root, {"sweep"}, "the file", origin);
  const YAML::Node p = root["sweep"];
  check_keys(p, {"name", "models", "sets", "grid", "seeds", "seed_keys", "analysis"}, "sweep",
             origin);
  Sweep s;
  s.name = scalar(p["name"], "sweep.name", origin);
  if (!valid_label(s.name))
    fail(origin, "sweep.name '" + s.name + "' may hold only letters, digits, '_' and '.'");
  if (p["sets"]) s.sets = override_list(p["sets"], "sweep.sets", origin);
  if (p["grid"]) {
    if (!p["grid"].IsMap()) fail(origin, "sweep.grid must map config keys to lists of values");
    for (const auto& kv : p["grid"]) {
      SweepAxis a;
      a.key = kv.first.as<std::string>();
      for (const auto& key : axis_keys(a.key))
        if (key.empty() || key.find('.') == std::string::npos)
          fail(origin, "sweep.grid key '" + a.key +
                           "' is not a config key (section.key) or a comma-separated list of them");
      a.values = axis_values(kv.second, "sweep.grid." + a.key, origin);
      s.grid.push_back(std::move(a));
    }
  }
  auto is_axis = [&](const std::string& key) {
    return std::any_of(s.grid.begin(), s.grid.end(),
                       [&](const SweepAxis& a) { return a.key == key; });
  };
  if (!p["models"] || !p["models"].IsSequence() || p["models"].size() == 0)
    fail(origin, "sweep.models must be a non-empty list of {label, preset, sets, grid}");
  std::set<std::string> labels;
  for (size_t i = 0; i < p["models"].size(); ++i) {
    const auto m = p["models"][i];
    const std::string where = "sweep.models[" + std::to_string(i) + "]";
    check_keys(m, {"label", "preset", "sets", "grid"}, where, origin);
    SweepModel sm;
    sm.label = yaml_fields::model_label(m, where, "sweep.models", labels, origin);
    sm.preset = scalar(m["preset"], where + ".preset", origin);
    if (m["sets"]) sm.sets = override_list(m["sets"], where + ".sets", origin);
    if (m["grid"]) {
      if (!m["grid"].IsMap()) fail(origin, where + ".grid must map axis keys to lists of values");
      for (const auto& kv : m["grid"]) {
        const auto key = kv.first.as<std::string>();
        if (!is_axis(key))
          fail(origin, where + ".grid names '" + key + "', which is not an axis of sweep.grid");
        sm.grid[key] = axis_values(kv.second, where + ".grid." + key, origin);
      }
    }
    s.models.push_back(std::move(sm));
  }
  s.seeds = p["seeds"] ? scalar_list(p["seeds"], "sweep.seeds", origin, false)
                       : std::vector<std::string>{"0"};
  if (p["seed_keys"]) s.seed_keys = scalar_list(p["seed_keys"], "sweep.seed_keys", origin, false);
  if (!p["analysis"]) fail(origin, "sweep.analysis is missing (x, y and fit at least)");
  const YAML::Node a = p["analysis"];
  check_keys(a,
             {"x", "y", "fit", "x_label", "y_label", "title", "predicted", "expected", "compare",
              "fit_min_x", "select"},
             "sweep.analysis", origin);
  auto& an = s.analysis;
  an.x = scalar(a["x"], "sweep.analysis.x", origin);
  if (!is_axis(an.x)) fail(origin, "sweep.analysis.x '" + an.x + "' is not an axis of sweep.grid");
  an.y = scalar(a["y"], "sweep.analysis.y", origin);
  if (a["fit"]) an.fit = scalar(a["fit"], "sweep.analysis.fit", origin);
  if (an.fit != "loglog" && an.fit != "none")
    fail(origin, "sweep.analysis.fit '" + an.fit + "' is not valid (loglog, none)");
  an.x_label = a["x_label"] ? scalar(a["x_label"], "sweep.analysis.x_label", origin) : an.x;
  an.y_label = a["y_label"] ? scalar(a["y_label"], "sweep.analysis.y_label", origin) : an.y;
  an.title = a["title"] ? scalar(a["title"], "sweep.analysis.title", origin) : s.name;
  auto check_label = [&](const std::string& label, const std::string& where) {
    if (!labels.count(label))
      fail(origin, where + " names model '" + label + "', which is not in sweep.models");
  };
  if (a["predicted"]) {
    if (!a["predicted"].IsMap()) fail(origin, "sweep.analysis.predicted must map labels to slopes");
    for (const auto& kv : a["predicted"]) {
      const auto label = kv.first.as<std::string>();
      check_label(label, "sweep.analysis.predicted");
      try {
        an.predicted[label] = kv.second.as<double>();
      } catch (const YAML::Exception&) {
        fail(origin, "sweep.analysis.predicted." + label + " must be a number");
      }
    }
  }
  if (a["expected"]) {
    if (!a["expected"].IsMap()) fail(origin, "sweep.analysis.expected must map labels to notes");
    for (const auto& kv : a["expected"]) {
      const auto label = kv.first.as<std::string>();
      check_label(label, "sweep.analysis.expected");
      an.expected[label] = scalar(kv.second, "sweep.analysis.expected." + label, origin);
    }
  }
  if (a["compare"]) {
    if (!a["compare"].IsSequence()) fail(origin, "sweep.analysis.compare must be a list of pairs");
    for (size_t i = 0; i < a["compare"].size(); ++i) {
      const auto pair =
          scalar_list(a["compare"][i], "sweep.analysis.compare[" + std::to_string(i) + "]", origin);
      if (pair.size() != 2)
        fail(origin, "sweep.analysis.compare[" + std::to_string(i) + "] must be [label, label]");
      check_label(pair[0], "sweep.analysis.compare");
      check_label(pair[1], "sweep.analysis.compare");
      an.compare.emplace_back(pair[0], pair[1]);
    }
  }
  if (a["fit_min_x"]) {
    try {
      an.fit_min_x = a["fit_min_x"].as<double>();
    } catch (const YAML::Exception&) {
      fail(origin, "sweep.analysis.fit_min_x must be a number");
    }
  }
  if (a["select"]) {
    const auto sel = a["select"];
    if (!sel.IsMap())
      fail(origin, "sweep.analysis.select must be {axis: <grid axis>, by: <eval.json number>}");
    check_keys(sel, {"axis", "by"}, "sweep.analysis.select", origin);
    an.select_axis = scalar(sel["axis"], "sweep.analysis.select.axis", origin);
    an.select_by = scalar(sel["by"], "sweep.analysis.select.by", origin);
    if (!is_axis(an.select_axis))
      fail(origin,
           "sweep.analysis.select.axis '" + an.select_axis + "' is not an axis of sweep.grid");
    if (an.select_axis == an.x)
      fail(origin, "sweep.analysis.select.axis is the x axis '" + an.x +
                       "'; selection runs over another axis at each x");
  }
  return s;
}

std::vector<SweepCell> sweep_cells(const Sweep& sweep) {
  std::vector<SweepCell> cells;
  for (const auto& seed : sweep.seeds) {
    // Odometer over the axes; each model may replace an axis's values.
    using Point = std::vector<std::pair<std::string, const AxisValue*>>;
    std::vector<std::vector<Point>> points_by_model;
    for (const auto& m : sweep.models) {
      std::vector<Point> points = {Point{}};
      for (const auto& axis : sweep.grid) {
        const auto it = m.grid.find(axis.key);
        const auto& values = it != m.grid.end() ? it->second : axis.values;
        std::vector<Point> next;
        for (const auto& p : points)
          for (const auto& v : values) {
            auto q = p;
            q.emplace_back(axis.key, &v);
            next.push_back(std::move(q));
          }
        points = std::move(next);
      }
      points_by_model.push_back(std::move(points));
    }
    // Grid-point-major within a seed: every model at a point before the next point.
    size_t most = 0;
    for (const auto& p : points_by_model) most = std::max(most, p.size());
    for (size_t k = 0; k < most; ++k)
      for (size_t mi = 0; mi < sweep.models.size(); ++mi) {
        if (k >= points_by_model[mi].size()) continue;
        const auto& m = sweep.models[mi];
        SweepCell c;
        c.model_label = m.label;
        c.preset = m.preset;
        c.seed = seed;
        const auto& point = points_by_model[mi][k];
        for (const auto& [key, v] : point) c.values.emplace_back(key, v->value);
        c.name = m.label;
        for (const auto& [key, value] : c.values) c.name += "-" + axis_leaf(key) + name_part(value);
        c.name += "-s" + name_part(seed);
        c.sets = {"name=" + sweep.name + "/" + c.name};
        c.sets.insert(c.sets.end(), sweep.sets.begin(), sweep.sets.end());
        c.sets.insert(c.sets.end(), m.sets.begin(), m.sets.end());
        for (const auto& [axis, v] : point) {
          for (const auto& key : axis_keys(axis)) c.sets.push_back(key + "=" + v->value);
          c.sets.insert(c.sets.end(), v->sets.begin(), v->sets.end());
        }
        for (const auto& key : sweep.seed_keys) c.sets.push_back(key + "=" + seed);
        cells.push_back(std::move(c));
      }
  }
  return cells;
}

std::pair<int, int> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  int i = 0, n = 0;
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    size_t used = 0;
    i = std::stoi(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("trailing");
    const auto rest = text.substr(slash + 1);
    n = std::stoi(rest, &used);
    if (used != rest.size()) throw std::invalid_argument("trailing");
  } catch (const std::exception&) {
    throw UserError("--shard '" + text + "' is not of the form i/n (e.g. 2/8)");
  }
  if (n < 1 || i < 1 || i > n)
    throw UserError("--shard " + text + ": need 1 <= i <= n (shards are numbered from 1)");
  return {i, n};
}

bool in_shard(size_t cell_index, std::pair<int, int> shard) {
  return static_cast<int>(cell_index % static_cast<size_t>(shard.second)) == shard.first - 1;
}

}  // namespace seqlab::eval
