// Protocol grid files (protocol_grid.h).
#include "seqlab/eval/protocol_grid.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "seqlab/eval/yaml_fields.h"
#include "seqlab/util/error.h"

namespace seqlab::eval {
namespace {

using yaml_fields::check_keys;
using yaml_fields::fail;
using yaml_fields::scalar;

std::vector<std::string> string_list(const YAML::Node& n, const std::string& where,
                                     const std::string& origin) {
  return yaml_fields::scalar_list(n, where, origin);
}

// task -> ["key=value", ...]; every task must be one of `tasks`.
std::map<std::string, std::vector<std::string>> task_sets(const YAML::Node& n,
                                                          const std::vector<std::string>& tasks,
                                                          const std::string& where,
                                                          const std::string& origin) {
  std::map<std::string, std::vector<std::string>> out;
  if (!n) return out;
  if (!n.IsMap()) fail(origin, where + " must map task names to lists of key=value overrides");
  for (const auto& kv : n) {
    const auto task = kv.first.as<std::string>();
    if (std::find(tasks.begin(), tasks.end(), task) == tasks.end())
      fail(origin, where + " names task '" + task + "', which is not in protocol.tasks (" +
                       join_names(tasks) + ")");
    auto sets = string_list(kv.second, where + "." + task, origin);
    for (const auto& s : sets)
      if (s.find('=') == std::string::npos)
        fail(origin, where + "." + task + ": '" + s + "' is not a key=value override");
    out[task] = std::move(sets);
  }
  return out;
}

}  // namespace

ProtocolGrid parse_protocol_grid(const std::string& yaml_text, const std::string& origin) {
  const YAML::Node root = yaml_fields::load(yaml_text, origin);
  if (!root.IsMap() || !root["protocol"])
    fail(origin, "a protocol file has one top-level key 'protocol'");
  check_keys(root, {"protocol"}, "the file", origin);
  const YAML::Node p = root["protocol"];
  check_keys(p, {"name", "metric", "tasks", "task_sets", "models", "expected"}, "protocol", origin);

  ProtocolGrid g;
  g.name = scalar(p["name"], "protocol.name", origin);
  if (p["metric"]) g.metric = scalar(p["metric"], "protocol.metric", origin);
  if (!p["tasks"]) fail(origin, "protocol.tasks is missing");
  g.tasks = string_list(p["tasks"], "protocol.tasks", origin);
  if (g.tasks.empty()) fail(origin, "protocol.tasks is empty");
  std::set<std::string> seen;
  for (const auto& t : g.tasks)
    if (!seen.insert(t).second) fail(origin, "task '" + t + "' appears twice in protocol.tasks");
  g.task_sets = task_sets(p["task_sets"], g.tasks, "protocol.task_sets", origin);

  if (!p["models"] || !p["models"].IsSequence() || p["models"].size() == 0)
    fail(origin, "protocol.models must be a non-empty list of {label, preset, task_sets}");
  std::set<std::string> labels;
  for (size_t i = 0; i < p["models"].size(); ++i) {
    const auto m = p["models"][i];
    const std::string where = "protocol.models[" + std::to_string(i) + "]";
    check_keys(m, {"label", "preset", "task_sets"}, where, origin);
    GridModel gm;
    gm.label = yaml_fields::model_label(m, where, "protocol.models", labels, origin);
    gm.preset = scalar(m["preset"], where + ".preset", origin);
    gm.task_sets = task_sets(m["task_sets"], g.tasks, where + ".task_sets", origin);
    g.models.push_back(std::move(gm));
  }
  if (p["expected"]) {
    if (!p["expected"].IsMap()) fail(origin, "protocol.expected must map task names to notes");
    for (const auto& kv : p["expected"]) {
      const auto task = kv.first.as<std::string>();
      if (std::find(g.tasks.begin(), g.tasks.end(), task) == g.tasks.end())
        fail(origin, "protocol.expected names task '" + task + "', which is not in protocol.tasks");
      g.expected[task] = scalar(kv.second, "protocol.expected." + task, origin);
    }
  }
  return g;
}

std::vector<GridCell> grid_cells(const ProtocolGrid& grid) {
  std::vector<GridCell> cells;
  for (const auto& task : grid.tasks) {
    for (const auto& m : grid.models) {
      GridCell c;
      c.task = task;
      c.model_label = m.label;
      c.preset = m.preset;
      c.name = task + "-" + m.label;
      c.sets = {"name=" + c.name, "task.name=" + task};
      for (const auto* sets : {&grid.task_sets, &m.task_sets}) {
        const auto it = sets->find(task);
        if (it != sets->end()) c.sets.insert(c.sets.end(), it->second.begin(), it->second.end());
      }
      cells.push_back(std::move(c));
    }
  }
  return cells;
}

}  // namespace seqlab::eval
