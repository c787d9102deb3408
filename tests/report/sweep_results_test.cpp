// Merged sweep results (src/seqlab/report/sweep_results.h) from run folders holding only an
// eval.json: medians and quartiles over seeds, censored and missing cells, the fitted slope, the
// slope difference, and the files written.
#include "seqlab/report/sweep_results.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace sweep_results_test {

const char* kSweep = R"(sweep:
  name: s
  models: [{label: a, preset: p}, {label: b, preset: p}]
  grid: {task.tokens: [2, 4, 8]}
  seeds: [0, 1, 2]
  analysis: {x: task.tokens, y: n_star, compare: [[a, b]]}
)";

TEST(SweepResults, MediansFitsAndCensoredCells) {
  const auto sweep = seqlab::eval::parse_sweep(kSweep, "s.yaml");
  const auto cells = seqlab::eval::sweep_cells(sweep);
  const fs::path root =
      fs::temp_directory_path() / ("seqlab_sweep_results_" + std::to_string(getpid()));
  fs::remove_all(root);
  std::vector<std::string> dirs;
  for (const auto& c : cells) {
    const auto dir = root / c.name;
    dirs.push_back(dir.string());
    const double n = std::stod(c.values[0].second), seed = std::stod(c.seed);
    if (c.model_label == "b" && n == 8 && seed == 2) continue;  // not run
    fs::create_directories(dir);
    nlohmann::json js = {{"train_seconds", 1.0}};
    if (c.model_label == "a")
      js["n_star"] = 100.0 * n * n * (1.0 + 0.1 * seed);  // slope 2
    else if (n == 8 && seed == 1)
      js["n_star"] = nullptr;  // censored
    else
      js["n_star"] = 500.0 * (1.0 + 0.1 * seed);  // flat
    std::ofstream(dir / "eval.json") << js.dump();
  }
  const auto r = seqlab::report::load_sweep_results(sweep, cells, dirs);
  EXPECT_EQ(r.cells, 18);
  EXPECT_EQ(r.cells_done, 17);
  ASSERT_EQ(r.series.size(), 2u);
  const auto& a = r.series[0];
  const auto& b = r.series[1];
  ASSERT_EQ(a.by_x.size(), 3u);
  EXPECT_DOUBLE_EQ(a.by_x[0].median, 400.0 * 1.1);
  EXPECT_DOUBLE_EQ(a.by_x[0].q25, 400.0 * 1.05);
  ASSERT_TRUE(a.fit && b.fit);
  EXPECT_NEAR(a.fit->slope, 2.0, 1e-9);
  EXPECT_EQ(a.fit->points, 9);
  EXPECT_NEAR(b.fit->slope, 0.0, 0.1);
  EXPECT_EQ(b.fit->points, 7);
  EXPECT_EQ(b.by_x[2].censored, 1);
  EXPECT_EQ(b.by_x[2].missing, 1);
  EXPECT_EQ(b.by_x[2].measured, 1);
  ASSERT_EQ(r.comparisons.size(), 1u);
  EXPECT_NEAR(r.comparisons[0].diff.delta, a.fit->slope - b.fit->slope, 1e-12);

  seqlab::report::write_sweep_results(r, (root / "out").string());
  const auto js = seqlab::read_json_file((root / "out" / "results.json").string());
  EXPECT_EQ(js["series"].size(), 2u);
  EXPECT_NEAR(js["series"][0]["fit"]["slope"].get<double>(), 2.0, 1e-9);
  std::ifstream md(root / "out" / "results.md");
  const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("1 censored"), std::string::npos);
  EXPECT_NE(text.find("1 missing"), std::string::npos);
  EXPECT_NE(text.find("2.000"), std::string::npos);
  fs::remove_all(root);
}

// analysis.select: per (x, seed) the width with the lower best_val_mse gives the point (its
// test mse), the selection axis leaves the series name, a point waits until every candidate ran.
TEST(SweepResults, SelectionKeepsTheCellWithTheLowestScore) {
  const auto sweep = seqlab::eval::parse_sweep(R"(sweep:
  name: s
  models: [{label: a, preset: p}]
  grid: {train.train_samples: [100, 200, 400], model.d_model: [8, 16]}
  seeds: [0, 1]
  analysis: {x: train.train_samples, y: mse, select: {axis: model.d_model, by: best_val_mse}}
)",
                                               "s.yaml");
  const auto cells = seqlab::eval::sweep_cells(sweep);
  ASSERT_EQ(cells.size(), 12u);
  const fs::path root =
      fs::temp_directory_path() / ("seqlab_sweep_select_" + std::to_string(getpid()));
  fs::remove_all(root);
  std::vector<std::string> dirs;
  for (const auto& c : cells) {
    const auto dir = root / c.name;
    dirs.push_back(dir.string());
    const double n = std::stod(c.values[0].second), d = std::stod(c.values[1].second);
    if (n == 400 && d == 16 && c.seed == "1") continue;  // not run: that point is pending
    // The narrow model wins validation at n = 100, the wide one from n = 200. The winner's test
    // mse is 1/n; the loser's is 1, so any wrong choice breaks the slope of -1.
    const bool wins = (n == 100) == (d == 8);
    fs::create_directories(dir);
    nlohmann::json js = {
        {"train_seconds", 2.0}, {"best_val_mse", wins ? 0.1 : 0.2}, {"mse", wins ? 1.0 / n : 1.0}};
    std::ofstream(dir / "eval.json") << js.dump();
  }
  const auto r = seqlab::report::load_sweep_results(sweep, cells, dirs);
  EXPECT_EQ(r.cells, 12);
  EXPECT_EQ(r.cells_done, 11);
  EXPECT_DOUBLE_EQ(r.train_seconds, 22.0);  // every candidate's training counts
  ASSERT_EQ(r.series.size(), 1u);
  const auto& s = r.series[0];
  EXPECT_EQ(s.label, "a");
  ASSERT_EQ(s.points.size(), 6u);
  for (const auto& p : s.points) {
    ASSERT_EQ(p.candidates.size(), 2u) << p.cell;
    if (p.x == 400 && p.seed == "1") {
      EXPECT_TRUE(std::isnan(p.y));
      EXPECT_NE(p.status.find("selection pending (1 of 2"), std::string::npos) << p.status;
      EXPECT_EQ(p.selected, "");
      continue;
    }
    EXPECT_EQ(p.selected, p.x == 100 ? "8" : "16") << p.cell;
    EXPECT_DOUBLE_EQ(p.y, 1.0 / p.x);
    EXPECT_NE(p.cell.find("d_model" + p.selected), std::string::npos) << p.cell;
  }
  ASSERT_TRUE(s.fit);
  EXPECT_NEAR(s.fit->slope, -1.0, 1e-9);
  EXPECT_EQ(s.fit->points, 5);
  EXPECT_EQ(s.by_x[2].missing, 1);

  seqlab::report::write_sweep_results(r, (root / "out").string());
  const auto js = seqlab::read_json_file((root / "out" / "results.json").string());
  EXPECT_EQ(js["select"]["axis"], "model.d_model");
  EXPECT_EQ(js["series"][0]["points"][0]["selected"], "8");
  EXPECT_EQ(js["series"][0]["points"][0]["candidates"].size(), 2u);
  std::ifstream md(root / "out" / "results.md");
  const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("| 100 | 8, 8 |"), std::string::npos) << text;
  EXPECT_NE(text.find("| 400 | 16, ? |"), std::string::npos) << text;
  fs::remove_all(root);
}

}  // namespace sweep_results_test
