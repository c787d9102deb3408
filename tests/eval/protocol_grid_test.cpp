// Protocol grid files (src/seqlab/eval/protocol_grid.h): parsing, cell expansion and the errors
// a researcher gets for a malformed grid.
#include "seqlab/eval/protocol_grid.h"

#include <gtest/gtest.h>

#include "seqlab/util/error.h"

namespace protocol_grid_test {

using seqlab::eval::grid_cells;
using seqlab::eval::parse_protocol_grid;

const char* kGrid = R"(protocol:
  name: g
  metric: r2
  tasks: [shift, cumsum]
  task_sets: {cumsum: [train.steps=7]}
  models:
    - {label: dlr, preset: dlr/atomic/dlr, task_sets: {shift: [model.state_size=64]}}
    - {label: s6, preset: dlr/atomic/mamba1}
  expected: {shift: "≈ 1"}
)";

std::string error_of(const std::string& text) {
  try {
    parse_protocol_grid(text, "p.yaml");
  } catch (const seqlab::UserError& e) {
    return e.what();
  }
  return "";
}

TEST(ProtocolGrid, ParsesAndExpandsCellsTaskMajorWithOverridesInOrder) {
  const auto g = parse_protocol_grid(kGrid, "p.yaml");
  EXPECT_EQ(g.name, "g");
  EXPECT_EQ(g.metric, "r2");
  ASSERT_EQ(g.models.size(), 2u);
  EXPECT_EQ(g.expected.at("shift"), "≈ 1");
  const auto cells = grid_cells(g);
  ASSERT_EQ(cells.size(), 4u);
  EXPECT_EQ(cells[0].name, "shift-dlr");
  EXPECT_EQ(cells[1].name, "shift-s6");
  EXPECT_EQ(cells[2].name, "cumsum-dlr");
  EXPECT_EQ(cells[3].preset, "dlr/atomic/mamba1");
  EXPECT_EQ(cells[0].sets,
            (std::vector<std::string>{"name=shift-dlr", "task.name=shift", "model.state_size=64"}));
  EXPECT_EQ(cells[1].sets, (std::vector<std::string>{"name=shift-s6", "task.name=shift"}));
  EXPECT_EQ(cells[3].sets,
            (std::vector<std::string>{"name=cumsum-s6", "task.name=cumsum", "train.steps=7"}));
}

TEST(ProtocolGrid, MetricDefaultsToR2) {
  const auto g = parse_protocol_grid(
      "protocol: {name: x, tasks: [shift], models: [{label: a, preset: p}]}", "p.yaml");
  EXPECT_EQ(g.metric, "r2");
  EXPECT_TRUE(g.expected.empty());
}

TEST(ProtocolGrid, MalformedGridsNameTheProblem) {
  const std::string models = "models: [{label: a, preset: p}]";
  auto grid = [&](const std::string& body) { return "protocol: {name: x, " + body + "}"; };
  EXPECT_NE(error_of("protocol: [1, 2").find("malformed YAML"), std::string::npos);
  EXPECT_NE(error_of("tasks: [a]").find("top-level key 'protocol'"), std::string::npos);
  EXPECT_NE(error_of(grid("taks: [a], " + models)).find("unknown key 'taks'"), std::string::npos);
  EXPECT_NE(error_of(grid("taks: [a], " + models)).find("tasks"), std::string::npos);
  EXPECT_NE(error_of(grid(models)).find("protocol.tasks is missing"), std::string::npos);
  EXPECT_NE(error_of(grid("tasks: [], " + models)).find("empty"), std::string::npos);
  EXPECT_NE(error_of(grid("tasks: [a, a], " + models)).find("appears twice"), std::string::npos);
  EXPECT_NE(error_of(grid("tasks: [a]")).find("protocol.models"), std::string::npos);
  EXPECT_NE(error_of(grid("tasks: [a], models: [{label: a, preset: p}, {label: a, preset: q}]"))
                .find("label 'a' appears twice"),
            std::string::npos);
  EXPECT_NE(error_of(grid("tasks: [a], models: [{label: 'x/y', preset: p}]")).find("letters"),
            std::string::npos);
  EXPECT_NE(error_of(grid("tasks: [a], models: [{label: b}]")).find("preset"), std::string::npos);
  EXPECT_NE(
      error_of(grid("tasks: [a], models: [{label: b, preset: p, lr: 1}]")).find("unknown key 'lr'"),
      std::string::npos);
  EXPECT_NE(error_of(grid("tasks: [a], task_sets: {b: [train.steps=1]}, " + models))
                .find("task 'b', which is not in protocol.tasks"),
            std::string::npos);
  EXPECT_NE(error_of(grid("tasks: [a], task_sets: {a: [train.steps]}, " + models))
                .find("not a key=value override"),
            std::string::npos);
  EXPECT_NE(error_of(grid("tasks: [a], expected: {z: hi}, " + models)).find("task 'z'"),
            std::string::npos);
  EXPECT_EQ(error_of(grid("tasks: [a], taks: [b], " + models)).rfind("p.yaml: ", 0), 0u);
  EXPECT_EQ(error_of(grid("tasks: [a], " + models)), "");
}

}  // namespace protocol_grid_test
