// Report from run directories: eval.json summaries, the Markdown table, gnuplot plots and the
// self-contained report.html. Run directories are faked in a temporary folder.
#include "seqlab/report/report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "seqlab/report/plot.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::report {
namespace report_test {

class Report : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("seqlab_report_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A run directory as `seqlab train` + `seqlab eval` leave it; `with_log` adds log.jsonl.
  std::string make_run(const std::string& dir_name, const std::string& name,
                       const std::string& task, const std::string& model, double ood,
                       bool with_log = true, int64_t classes = 2) {
    const fs::path dir = root_ / dir_name;
    fs::create_directories(dir);
    std::ofstream(dir / "config.yaml")
        << "name: \"" << name << "\"\ntask:\n  name: " << task << "\nmodel:\n  name: " << model
        << "\ntrain:\n  steps: 300\n";
    nlohmann::json js;
    js["task"] = task;
    js["model"] = model;
    std::vector<int64_t> lengths;
    std::vector<double> acc;
    for (int64_t l = 1; l <= 100; ++l) {
      lengths.push_back(l);
      acc.push_back(l <= 40 ? 1.0 : ood);
    }
    js["lengths"] = lengths;
    js["accuracy"] = acc;
    js["id_accuracy"] = 1.0;
    js["ood_accuracy"] = ood;
    js["id_range"] = {1, 40};
    js["ood_range"] = {41, 100};
    js["num_classes"] = classes;
    js["train_max_length"] = 40;
    js["steps"] = 300;
    js["wall_seconds"] = 95.5;
    js["train_seconds"] = 80.25;
    js["samples_per_length"] = 64;
    std::ofstream(dir / "eval.json") << js.dump(2);
    if (with_log) {
      std::ofstream log(dir / "log.jsonl");
      for (int step = 50; step <= 300; step += 50)
        log << nlohmann::json{{"step", step},
                              {"loss", 1.0 / step},
                              {"accuracy", 0.5 + step / 700.0},
                              {"lr", 1e-3},
                              {"tokens_per_s", 1e5},
                              {"elapsed_s", step * 0.3}}
                   .dump()
            << "\n";
    }
    return dir.string();
  }

  static std::string error_of(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const UserError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no UserError thrown";
    return "";
  }

  static bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }

  fs::path root_;
};

TEST_F(Report, LoadRunSummaryReadsEvalJsonAndLabel) {
  const auto dir = make_run("r1", "parity_check_sdssm", "parity_check", "sdssm", 0.75);
  const RunSummary r = load_run_summary(dir);
  EXPECT_EQ(r.dir, dir);
  EXPECT_EQ(r.label, "parity_check/sdssm");  // the preset name only repeats task and model
  EXPECT_EQ(r.name, "parity_check_sdssm");
  EXPECT_EQ(r.task, "parity_check");
  EXPECT_EQ(r.model, "sdssm");
  ASSERT_EQ(r.lengths.size(), 100u);
  EXPECT_EQ(r.lengths[99], 100);
  EXPECT_DOUBLE_EQ(r.accuracy[99], 0.75);
  EXPECT_DOUBLE_EQ(r.ood_accuracy, 0.75);
  EXPECT_EQ(r.id_range[1], 40);
  EXPECT_EQ(r.ood_range[0], 41);
  EXPECT_EQ(r.num_classes, 2);
  EXPECT_EQ(r.train_max_length, 40);
  EXPECT_EQ(r.steps, 300);
  EXPECT_DOUBLE_EQ(r.train_seconds, 80.25);
  EXPECT_EQ(r.samples_per_length, 64);

  const auto named = make_run("r2", "lr sweep 3", "d4", "lstm", 0.1);
  EXPECT_EQ(load_run_summary(named).label, "d4/lstm/lr sweep 3");
}

TEST_F(Report, LoadRunSummaryErrors) {
  EXPECT_TRUE(
      contains(error_of([&] { load_run_summary((root_ / "none").string()); }), "does not exist"));
  const fs::path fresh = root_ / "fresh";
  fs::create_directories(fresh);
  EXPECT_EQ(error_of([&] { load_run_summary(fresh.string()); }),
            "run " + fresh.string() + " has no eval.json: run `seqlab eval " + fresh.string() +
                "` first");

  const auto dir = make_run("r", "x", "a5", "sdssm", 0.5);
  auto js = read_json_file(dir + "/eval.json");
  js.erase("ood_accuracy");
  write_file_atomic(dir + "/eval.json", js.dump());
  std::string msg = error_of([&] { load_run_summary(dir); });
  EXPECT_TRUE(contains(msg, "eval.json: missing key 'ood_accuracy'")) << msg;

  js["ood_accuracy"] = "high";
  write_file_atomic(dir + "/eval.json", js.dump());
  msg = error_of([&] { load_run_summary(dir); });
  EXPECT_TRUE(contains(msg, "'ood_accuracy' should be a number")) << msg;

  js["ood_accuracy"] = 0.5;
  js["accuracy"] = {0.5};
  write_file_atomic(dir + "/eval.json", js.dump());
  msg = error_of([&] { load_run_summary(dir); });
  EXPECT_TRUE(contains(msg, "equally long")) << msg;

  write_file_atomic(dir + "/eval.json", "{\"task\": ");
  msg = error_of([&] { load_run_summary(dir); });
  EXPECT_TRUE(contains(msg, "malformed JSON")) << msg;
}

TEST_F(Report, MarkdownTableHasOneRowPerRun) {
  const std::vector<RunSummary> runs = {
      load_run_summary(make_run("a", "", "parity_check", "sdssm", 0.9876)),
      load_run_summary(make_run("b", "", "d4", "lstm", 0.25))};
  const std::string md = markdown_table(runs);
  EXPECT_EQ(md,
            "| run | task | model | ID acc | OOD acc | steps | train time |\n"
            "|---|---|---|---:|---:|---:|---:|\n"
            "| parity_check/sdssm | parity_check | sdssm | 1.000 | 0.988 | 300 | 1m 20s |\n"
            "| d4/lstm | d4 | lstm | 1.000 | 0.250 | 300 | 1m 20s |\n");
}

TEST_F(Report, WriteReportHtmlTableAndInlinePlots) {
  const std::vector<std::string> runs = {
      make_run("p_sdssm", "parity_check_sdssm", "parity_check", "sdssm", 1.0),
      make_run("p_lstm", "lstm <&> run", "parity_check", "lstm", 0.5),
      make_run("d4_sdssm", "", "d4", "sdssm", 0.3, /*with_log=*/false, 8)};
  const std::string out = (root_ / "out").string();
  write_report(runs, out);
  const std::string html = read_text_file(out + "/report.html");
  EXPECT_TRUE(contains(html, "<!DOCTYPE html>"));
  EXPECT_TRUE(contains(html, "<td>parity_check/sdssm</td>"));
  EXPECT_TRUE(contains(html, "<td>parity_check/lstm/lstm &lt;&amp;&gt; run</td>"));
  EXPECT_TRUE(contains(html, "<td>d4/sdssm</td>"));
  EXPECT_TRUE(contains(html, ">0.300</td>"));
  EXPECT_TRUE(contains(html, "No log.jsonl"));
  EXPECT_FALSE(contains(html, "<&>"));
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot not installed: plot checks skipped";

  EXPECT_FALSE(contains(html, "<?xml"));
  // One accuracy plot per task and one training curve per logged run, all inline.
  size_t svgs = 0;
  for (size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++svgs;
  EXPECT_EQ(svgs, 4u);
  // Ids are prefixed per plot so that no two inline SVGs share one.
  std::set<std::string> ids;
  const std::regex id_re(R"( id=['"]([^'"]+)['"])");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), id_re);
       it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(ids.insert((*it)[1]).second) << "duplicate id " << (*it)[1];
  }
  EXPECT_GT(ids.size(), 4u);
  for (const char* f : {"accuracy_vs_length_parity_check", "accuracy_vs_length_d4",
                        "training_0_parity_check_sdssm"}) {
    for (const char* ext : {".svg", ".png"}) {
      const auto path = out + "/" + f + ext;
      ASSERT_TRUE(fs::exists(path)) << path;
      EXPECT_GT(fs::file_size(path), 1000u) << path;
    }
  }
  const std::string png = read_text_file(out + "/accuracy_vs_length_d4.png");
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  // Legend labels and the reference lines appear in the plot text.
  const std::string svg = read_text_file(out + "/accuracy_vs_length_parity_check.svg");
  EXPECT_TRUE(contains(svg, "parity_check/sdssm"));
  EXPECT_TRUE(contains(svg, "train max length"));
  EXPECT_TRUE(contains(svg, "chance"));
  // Nothing half-written is left behind.
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_FALSE(contains(e.path().filename().string(), ".tmp.")) << e.path();
}

TEST_F(Report, SingleTaskReportUsesPlainPlotName) {
  const auto run = make_run("only", "", "a5", "sdssm", 0.2, true, 60);
  const std::string out = (root_ / "single").string();
  write_report({run}, out);
  EXPECT_TRUE(fs::exists(out + "/report.html"));
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot not installed";
  EXPECT_TRUE(fs::exists(out + "/accuracy_vs_length.svg"));
  EXPECT_TRUE(fs::exists(out + "/accuracy_vs_length.png"));
  EXPECT_FALSE(fs::exists(out + "/accuracy_vs_length_a5.png"));
}

TEST_F(Report, WriteReportRejectsBadInput) {
  EXPECT_THROW(write_report({}, (root_ / "o").string()), UserError);
  const fs::path fresh = root_ / "fresh";
  fs::create_directories(fresh);
  EXPECT_THROW(write_report({fresh.string()}, (root_ / "o").string()), UserError);
  const auto run = make_run("r", "", "a5", "sdssm", 0.2);
  std::ofstream(fs::path(run) / "log.jsonl", std::ios::app) << "{\"step\": 350, \"lo\n";
  const std::string msg = error_of([&] { write_report({run}, (root_ / "o2").string()); });
  EXPECT_TRUE(contains(msg, "log.jsonl line 7")) << msg;
}

TEST_F(Report, WithoutGnuplotPlotsFailClearlyAndReportStillHasTable) {
  const auto run = make_run("r", "", "parity_check", "sdssm", 0.6);
  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  ::setenv("PATH", (root_ / "empty_bin").c_str(), 1);
  const std::string msg = error_of([&] {
    plot_accuracy_vs_length({{"a", {1, 2}, {1.0, 0.5}}}, {}, (root_ / "p").string());
  });
  const std::string out = (root_ / "o").string();
  std::string report_error;
  try {
    write_report({run}, out);
  } catch (const UserError& e) {
    report_error = e.what();
  }
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_TRUE(contains(msg, "scripts/deps.sh")) << msg;
  EXPECT_EQ(report_error, "");
  const std::string html = read_text_file(out + "/report.html");
  EXPECT_TRUE(contains(html, "<td>parity_check/sdssm</td>"));
  EXPECT_TRUE(contains(html, "gnuplot was not found"));
  EXPECT_FALSE(contains(html, "<svg"));
}

TEST_F(Report, PlotInputValidation) {
  EXPECT_THROW(plot_accuracy_vs_length({}, {}, (root_ / "p").string()), UserError);
  EXPECT_THROW(plot_accuracy_vs_length({{"a", {1, 2, 3}, {1.0, 0.5}}}, {}, (root_ / "p").string()),
               UserError);
  EXPECT_THROW(
      plot_training_curve({nlohmann::json{{"event", "resume"}}}, {}, (root_ / "t").string()),
      UserError);
}

TEST_F(Report, TrainingCurvePlot) {
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot not installed";
  std::vector<nlohmann::json> rows = {{{"step", 0}, {"loss", 0.7}, {"accuracy", 0.5}},
                                      {{"event", "resume"}},          // not a curve row: skipped
                                      {{"step", 10}, {"loss", 0.2}},  // no accuracy: a gap
                                      {{"step", 20}, {"loss", 0.01}, {"accuracy", 1.0}}};
  PlotOptions opts;
  opts.title = "it's a 'quoted' title";
  const std::string base = (root_ / "sub" / "curve").string();
  plot_training_curve(rows, opts, base);
  const std::string svg = read_text_file(base + ".svg");
  EXPECT_TRUE(contains(svg, "train accuracy"));
  EXPECT_TRUE(contains(svg, "it&apos;s a &apos;quoted&apos; title") ||
              contains(svg, "it's a 'quoted' title"));
  EXPECT_TRUE(fs::exists(base + ".png"));
}

// A heatmap names its axes: time indices by default (coefficient maps), or what the caller says
// (query and key features for W_Qᵀ W_K).
TEST_F(Report, HeatmapAxisTitles) {
  if (!gnuplot_available()) GTEST_SKIP() << "gnuplot not installed";
  const std::vector<std::vector<double>> m = {{1.0, -0.5}, {0.0, 2.0}};
  const std::string coef = (root_ / "coef").string(), wqk = (root_ / "wqk").string();
  plot_heatmap(m, "alpha", coef);
  plot_heatmap(m, "W", wqk, "key feature", "query feature");
  const std::string a = read_text_file(coef + ".svg"), b = read_text_file(wqk + ".svg");
  EXPECT_TRUE(contains(a, "source j") && contains(a, "output i"));
  EXPECT_TRUE(contains(b, "key feature") && contains(b, "query feature"));
  EXPECT_FALSE(contains(b, "source j"));
  EXPECT_THROW(plot_heatmap({{1.0, 2.0}, {3.0}}, "ragged", wqk), UserError);
}

}  // namespace report_test
}  // namespace seqlab::report
