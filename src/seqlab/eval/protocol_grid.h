// A task x model protocol (issue "DLR's 13 long-range tasks", item 6; spec/protocols.md §4.3): a
// list of tasks, a list of models (each a run preset whose task is replaced), config overrides
// per task and per (model, task), and what the paper expects per task. `seqlab protocol` trains
// one run per cell and builds one results table from the cells' eval.json files.
//
// File format (YAML, configs/protocols/<name>.yaml):
//   protocol:
//     name: dlr_atomic_cpu
//     metric: r2                      # the eval.json key shown in the table
//     tasks: [shift, cumsum]
//     task_sets: {cumsum: [train.steps=100]}           # optional, every model
//     models:
//       - {label: dlr, preset: dlr/atomic/dlr, task_sets: {shift: [model.state_size=64]}}
//     expected: {shift: "≈ 1 (C4.3)"}                  # optional, one note per task
#pragma once
#include <map>
#include <string>
#include <vector>

namespace seqlab::eval {

struct GridModel {
  std::string label;                                          // column header and cell-name suffix
  std::string preset;                                         // preset name or YAML path
  std::map<std::string, std::vector<std::string>> task_sets;  // task -> "key=value" overrides
};

struct ProtocolGrid {
  std::string name;
  std::string metric = "r2";
  std::vector<std::string> tasks;
  std::map<std::string, std::vector<std::string>> task_sets;
  std::vector<GridModel> models;
  std::map<std::string, std::string> expected;
};

// One run of the grid. `name` = "<task>-<label>" is the run's config name and folder name; `sets`
// are the --set overrides in order: name, task.name, the task's sets, then the model's.
struct GridCell {
  std::string name, task, model_label, preset;
  std::vector<std::string> sets;
};

// Parses and checks a protocol file (unknown keys, empty or repeated tasks and labels, overrides
// for tasks not in the list, overrides without '='). Throws seqlab::UserError naming `origin`.
ProtocolGrid parse_protocol_grid(const std::string& yaml_text, const std::string& origin);

// The cells, task-major (every model on the first task, then the next task).
std::vector<GridCell> grid_cells(const ProtocolGrid& grid);

}  // namespace seqlab::eval
