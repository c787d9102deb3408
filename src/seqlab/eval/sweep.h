// Sweeps (issue "statistical claims", item 4): a grid of config overrides x seeds x models, one
// training run per cell, and an analysis over the cells' eval.json files (report/sweep_results.h).
// `seqlab sweep` runs the cells (in parallel processes, resumable, `--shard i/n` for schedulers)
// and merges them.
//
// File format (YAML, configs/theory/<name>.yaml or any path):
//   sweep:
//     name: cpu_qstr_1str
//     models:                                # label: column / series name and cell-name prefix
//       - {label: transformer, preset: theory/qstr_attention_mlp}
//       - {label: ffn, preset: theory/qstr_flat_mlp, sets: [train.lr=1e-3],
//          grid: {task.tokens: [2, 4, 8]}}   # this model's own values for an axis
//     sets: [task.test_pattern=train]        # every cell
//     grid:                                  # axes (cartesian product, in this order)
//       task.tokens: [2, 4, 6, 8, 10, 12]    # an axis may set several keys to its value:
//       # "task.tokens,train.min_length,train.max_length": [2, 4, 8]
//       # and a value may bring overrides of its own:
//       # train.train_samples: [256, {value: 4096, sets: [model.d_model=32]}]
//     seeds: [0, 1, 2]                       # train.seed of the repetitions
//     seed_keys: [train.seed]                # keys set to the seed (default [train.seed])
//     analysis:
//       x: task.tokens                       # an axis
//       y: n_star                            # a number in eval.json (null = censored)
//       fit: loglog                          # loglog (slope with 95 % CI) | none
//       x_label: N                           # optional axis labels and title
//       y_label: "n*"
//       title: "..."
//       predicted: {transformer: 0.0}        # optional: the theory's slope per model label
//       expected: {transformer: "≈ 0"}       # optional: a note per model label
//       compare: [[ssm2, tr2]]               # optional: slope differences with their CI
//       fit_min_x: 0                         # optional: fit only points with x >= this
//       select: {axis: model.d_model, by: best_val_mse}
//         # optional: model selection over an axis (not x). Per model, x, other axes and seed,
//         # the cell with the lowest eval.json `by` (a validation score) gives the point, and
//         # the axis leaves the series names; the chosen values are reported.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace seqlab::eval {

// One value of an axis, with overrides that come with it (e.g. a capacity that grows with n).
struct AxisValue {
  std::string value;              // YAML scalar as written
  std::vector<std::string> sets;  // extra key=value overrides at this value
};

struct SweepAxis {
  std::string key;  // config key, e.g. task.tokens
  std::vector<AxisValue> values;
};

struct SweepModel {
  std::string label, preset;
  std::vector<std::string> sets;
  std::map<std::string, std::vector<AxisValue>> grid;  // axis key -> this model's values
};

struct SweepAnalysis {
  std::string x, y, fit = "loglog", x_label, y_label, title;
  std::map<std::string, double> predicted;
  std::map<std::string, std::string> expected;
  std::vector<std::pair<std::string, std::string>> compare;
  double fit_min_x = 0;
  std::string select_axis, select_by;  // empty axis = no selection
};

struct Sweep {
  std::string name;
  std::vector<SweepModel> models;
  std::vector<std::string> sets;
  std::vector<SweepAxis> grid;
  std::vector<std::string> seeds;
  std::vector<std::string> seed_keys = {"train.seed"};
  SweepAnalysis analysis;
};

// One run: name "<label>-<leaf><value>...-s<seed>" (leaf = the key after its last '.').
struct SweepCell {
  std::string name, model_label, preset, seed;
  std::vector<std::pair<std::string, std::string>> values;  // (axis key, value), grid order
  // name=, the sweep's sets, the model's, each axis's keys and its value's own sets, seed keys
  std::vector<std::string> sets;
};

// Parses and checks a sweep file (unknown keys, empty lists, repeated labels, an analysis x that
// is not an axis, a model grid for an unknown axis, compare labels). UserError naming `origin`.
Sweep parse_sweep(const std::string& yaml_text, const std::string& origin);

// Every cell, seed-major (all grid points and models of the first seed, then the next), so a
// partial sweep (or shard) covers the whole grid early.
std::vector<SweepCell> sweep_cells(const Sweep& sweep);

// The config keys an axis sets ("a.b,c.d" -> {a.b, c.d}) and its short name (the first key's
// last part: "tokens"), used in cell and series names.
std::vector<std::string> axis_keys(const std::string& axis);
std::string axis_leaf(const std::string& axis);

// "i/n" (1 <= i <= n) -> {i, n}; UserError otherwise. A shard takes cells k with k % n == i - 1.
std::pair<int, int> parse_shard(const std::string& text);
bool in_shard(size_t cell_index, std::pair<int, int> shard);

}  // namespace seqlab::eval
