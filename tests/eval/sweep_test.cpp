// Sweep files (src/seqlab/eval/sweep.h): parsing, cell expansion (order, names, overrides, a
// model's own axis values, multi-key axes), shards, and the errors of malformed files.
#include "seqlab/eval/sweep.h"

#include <gtest/gtest.h>

#include <set>

#include "seqlab/util/error.h"

namespace sweep_test {

using seqlab::eval::parse_sweep;
using seqlab::eval::sweep_cells;

const char* kSweep = R"(sweep:
  name: s
  models:
    - {label: tr, preset: theory/qstr_attention_mlp, sets: [model.heads=2]}
    - {label: ffn, preset: theory/qstr_flat_mlp, grid: {"task.tokens,train.max_length": [2]}}
  sets: [train.steps=5]
  grid:
    "task.tokens,train.max_length": [2, 4]
    task.link: [linear]
  seeds: [0, 7]
  analysis: {x: "task.tokens,train.max_length", y: n_star, predicted: {tr: 0}, compare: [[tr, ffn]]}
)";

std::string error_of(const std::string& text) {
  try {
    parse_sweep(text, "s.yaml");
  } catch (const seqlab::UserError& e) {
    return e.what();
  }
  return "";
}

TEST(Sweep, ExpandsSeedMajorWithEveryOverrideInOrder) {
  const auto s = parse_sweep(kSweep, "s.yaml");
  EXPECT_EQ(s.analysis.fit, "loglog");
  EXPECT_EQ(s.analysis.predicted.at("tr"), 0.0);
  const auto cells = sweep_cells(s);
  // Per seed: tr at N = 2 and 4, ffn at N = 2 only (its own values).
  ASSERT_EQ(cells.size(), 6u);
  std::vector<std::string> names;
  for (const auto& c : cells) names.push_back(c.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"tr-tokens2-linklinear-s0", "ffn-tokens2-linklinear-s0",
                                      "tr-tokens4-linklinear-s0", "tr-tokens2-linklinear-s7",
                                      "ffn-tokens2-linklinear-s7", "tr-tokens4-linklinear-s7"}));
  EXPECT_EQ(cells[2].sets,
            (std::vector<std::string>{"name=s/tr-tokens4-linklinear-s0", "train.steps=5",
                                      "model.heads=2", "task.tokens=4", "train.max_length=4",
                                      "task.link=linear", "train.seed=0"}));
  EXPECT_EQ(cells[3].seed, "7");
}

TEST(Sweep, AxisValuesMayBringTheirOwnOverrides) {
  const auto s = parse_sweep(R"(sweep:
  name: s
  models: [{label: a, preset: p}]
  grid: {train.train_samples: [256, {value: 4096, sets: [model.d_model=32]}]}
  analysis: {x: train.train_samples, y: mse}
)",
                             "s.yaml");
  const auto cells = sweep_cells(s);
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_EQ(cells[1].name, "a-train_samples4096-s0");
  EXPECT_EQ(cells[1].values[0].second, "4096");
  EXPECT_EQ(cells[1].sets,
            (std::vector<std::string>{"name=s/a-train_samples4096-s0", "train.train_samples=4096",
                                      "model.d_model=32", "train.seed=0"}));
  EXPECT_EQ(cells[0].sets.size(), 3u);
  EXPECT_NE(error_of("sweep:\n  name: s\n  models: [{label: a, preset: p}]\n  grid: "
                     "{task.q: [{value: 1, sets: [oops]}]}\n  analysis: {x: task.q, y: mse}\n")
                .find("not a key=value override"),
            std::string::npos);
}

TEST(Sweep, ShardsPartitionTheCells) {
  const auto cells = sweep_cells(parse_sweep(kSweep, "s.yaml"));
  std::multiset<size_t> seen;
  for (int i = 1; i <= 4; ++i)
    for (size_t k = 0; k < cells.size(); ++k)
      if (seqlab::eval::in_shard(k, {i, 4})) seen.insert(k);
  EXPECT_EQ(seen.size(), cells.size());
  EXPECT_EQ(std::set<size_t>(seen.begin(), seen.end()).size(), cells.size());
  EXPECT_EQ(seqlab::eval::parse_shard("3/8"), std::make_pair(3, 8));
  for (const char* bad : {"0/8", "9/8", "3", "a/b", "3/8x", "1/0"})
    EXPECT_THROW(seqlab::eval::parse_shard(bad), seqlab::UserError) << bad;
}

TEST(Sweep, MalformedSweepsNameTheProblem) {
  const std::string head = "sweep:\n  name: s\n  models: [{label: a, preset: p}]\n";
  EXPECT_NE(error_of(head + "  grid: {task.q: [1]}\n  analysis: {x: task.tokens, y: mse}\n")
                .find("not an axis"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  grid: {task.q: [1]}\n").find("analysis is missing"),
            std::string::npos);
  EXPECT_NE(
      error_of(head + "  grid: {q: [1]}\n  analysis: {x: q, y: mse}\n").find("not a config key"),
      std::string::npos);
  EXPECT_NE(error_of(head + "  grid: {task.q: [1]}\n  analysis: {x: task.q, y: mse, fit: lin}\n")
                .find("loglog, none"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  grid: {task.q: [1]}\n  analysis: {x: task.q, y: mse, "
                            "compare: [[a, b]]}\n")
                .find("model 'b'"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  grid: {task.q: []}\n  analysis: {x: task.q, y: mse}\n")
                .find("non-empty list"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  seedz: [1]\n").find("unknown key 'seedz'"), std::string::npos);
  const std::string two_axes = head + "  grid: {task.q: [1], model.d_model: [8, 16]}\n";
  EXPECT_NE(error_of(two_axes + "  analysis: {x: task.q, y: mse, select: {axis: model.width, by: "
                                "best_val_mse}}\n")
                .find("select.axis 'model.width' is not an axis"),
            std::string::npos);
  EXPECT_NE(error_of(two_axes +
                     "  analysis: {x: task.q, y: mse, select: {axis: task.q, by: best_val_mse}}\n")
                .find("is the x axis"),
            std::string::npos);
  EXPECT_NE(error_of(two_axes + "  analysis: {x: task.q, y: mse, select: model.d_model}\n")
                .find("select must be {axis"),
            std::string::npos);
  EXPECT_NE(error_of(two_axes + "  analysis: {x: task.q, y: mse, select: {axis: model.d_model, "
                                "by: best_val_mse, lower: true}}\n")
                .find("unknown key 'lower'"),
            std::string::npos);
  EXPECT_NE(error_of("sweep:\n  name: s\n  models: [{label: a, preset: p}, {label: a, preset: "
                     "q}]\n  grid: {task.q: [1]}\n  analysis: {x: task.q, y: mse}\n")
                .find("appears twice"),
            std::string::npos);
}

}  // namespace sweep_test
