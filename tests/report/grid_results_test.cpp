// Results table of a protocol grid (src/seqlab/report/grid_results.h) from faked run folders.
#include "seqlab/report/grid_results.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "seqlab/report/plot.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace grid_results_test {

using namespace seqlab::report;

class GridResultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("seqlab_grid_results_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string run(const std::string& name, const nlohmann::json& eval) {
    const fs::path d = root_ / name;
    fs::create_directories(d);
    if (!eval.is_null()) std::ofstream(d / "eval.json") << eval.dump();
    return d.string();
  }
  fs::path root_;
};

TEST_F(GridResultsTest, ReadsScoresMarksMissingCellsAndBoldsTheRowBest) {
  const std::vector<std::vector<std::string>> dirs = {
      {run("shift-a", {{"r2", 0.99}, {"train_seconds", 60.0}}),
       run("shift-b", {{"r2", 0.25}, {"train_seconds", 30.0}})},
      {run("cumsum-a", {{"mse", 0.1}}), (root_ / "cumsum-b").string()}};
  const auto r = load_grid_results("g", "r2", {"shift", "cumsum"}, {"a", "b"}, {"≈ 1", ""}, dirs);
  EXPECT_DOUBLE_EQ(r.score[0][0], 0.99);
  EXPECT_DOUBLE_EQ(r.score[0][1], 0.25);
  EXPECT_DOUBLE_EQ(r.train_seconds[0][1], 30.0);
  EXPECT_TRUE(std::isnan(r.score[1][0]));
  EXPECT_NE(r.status[1][0].find("no number 'r2'"), std::string::npos) << r.status[1][0];
  EXPECT_NE(r.status[1][1].find("no "), std::string::npos);
  EXPECT_TRUE(r.status[0][0].empty());

  const auto md = grid_markdown(r);
  EXPECT_NE(md.find("| task | a | b | paper / expected |"), std::string::npos) << md;
  EXPECT_NE(md.find("| shift | **0.990** | 0.250 | ≈ 1 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| cumsum | n/a | n/a |  |"), std::string::npos) << md;

  const auto js = grid_json(r);
  EXPECT_EQ(js["cells"].size(), 4u);
  EXPECT_EQ(js["cells"][0]["r2"], 0.99);
  EXPECT_TRUE(js["cells"][2]["r2"].is_null());
  EXPECT_TRUE(js["cells"][2].contains("status"));
  EXPECT_EQ(js["expected"]["shift"], "≈ 1");

  const auto out = (root_ / "table").string();
  write_grid_results(r, out);
  EXPECT_EQ(seqlab::read_json_file(out + "/results.json"), js);
  EXPECT_NE(seqlab::read_text_file(out + "/results.md").find("1.5 min"), std::string::npos);
  if (gnuplot_available()) {
    EXPECT_GT(fs::file_size(out + "/results.svg"), 500u);
    EXPECT_GT(fs::file_size(out + "/results.png"), 500u);
  }
}

TEST_F(GridResultsTest, ShapeMismatchIsAnError) {
  EXPECT_THROW(load_grid_results("g", "r2", {"shift"}, {"a", "b"}, {""}, {{"x"}}),
               seqlab::UserError);
  EXPECT_THROW(load_grid_results("g", "r2", {"shift"}, {"a"}, {}, {{"x"}}), seqlab::UserError);
  EXPECT_THROW(plot_score_grid({"r"}, {"a", "b"}, {{1.0}}, 0, 1, "", (root_ / "p").string()),
               seqlab::UserError);
  EXPECT_THROW(plot_score_grid({"r"}, {"a"}, {{1.0}}, 1, 1, "", (root_ / "p").string()),
               seqlab::UserError);
}

}  // namespace grid_results_test
