#include "seqlab/eval/run_eval.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "seqlab/tasks/listops.h"
#include "seqlab/tasks/pathfinder.h"
#include "seqlab/train/fixed_set.h"
#include "seqlab/train/loss.h"
#include "seqlab/train/progress.h"
#include "seqlab/train/run_dir.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"

namespace fs = std::filesystem;

namespace seqlab::eval {
namespace {

// The training figures every eval.json carries, from the run's train_summary.json when it exists:
// checkpoint_step, steps, train_seconds, tokens_per_s, parameters. Returns the summary ({} when
// absent) for the callers that report more of it.
nlohmann::json add_training_figures(nlohmann::json& js, const std::string& run_dir,
                                    int64_t checkpoint_step) {
  nlohmann::json summary = nlohmann::json::object();
  const auto summary_path = (fs::path(run_dir) / "train_summary.json").string();
  if (fs::exists(summary_path)) summary = read_json_file(summary_path);
  js["checkpoint_step"] = checkpoint_step;
  js["steps"] = summary.value("steps", checkpoint_step);
  js["train_seconds"] = summary.value("train_seconds", 0.0);
  js["tokens_per_s"] = summary.value("tokens_per_s", 0.0);
  js["parameters"] = summary.value("parameters", int64_t{0});
  // Sample-size protocols: the training-set size, samples seen, the selected (best-validation)
  // step and the threshold check's n* (null: censored).
  for (const char* key : {"train_samples", "samples_seen", "best_step", "best_val_mse", "threshold",
                          "threshold_step", "n_star"})
    if (summary.contains(key)) js[key] = summary[key];
  return summary;
}

// Regression: MSE and R² on the test set, eval.samples_per_length samples drawn from eval.seed
// (train/fixed_set.h) without label noise (train::make_test_task): for the smoothness tasks the
// MSE is the excess risk (tasks.md §5.2 item 8). The n* threshold checks use the same set.
RunEvaluation evaluate_regression(train::LoadedRun& run, const std::string& run_dir) {
  const auto& cfg = run.config;
  const int64_t length = cfg.train.max_length;
  const int64_t samples = cfg.eval.samples_per_length;
  const auto t0 = std::chrono::steady_clock::now();
  const auto test_task = train::make_test_task(cfg);
  Rng rng(static_cast<uint64_t>(cfg.eval.seed));
  const auto test_set = train::draw_fixed_set(*test_task, rng, samples, length);
  const auto score =
      train::score_fixed_set(*run.model, test_set, std::max<int64_t>(cfg.eval.batch_size, 1));
  RunEvaluation ev;
  ev.regression = true;
  ev.r2 = score.r2;
  ev.mse = score.mse;
  const int64_t batches = (samples + cfg.eval.batch_size - 1) / cfg.eval.batch_size;
  char line[160];
  std::snprintf(line, sizeof line, "R² %.4f, MSE %.4g on %lld test samples of length %lld", ev.r2,
                ev.mse, static_cast<long long>(samples), static_cast<long long>(length));
  ev.headline = line;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto& js = ev.eval_json;
  js["task"] = cfg.task.name;
  js["model"] = cfg.model.name;
  js["name"] = cfg.name;
  js["metric"] = "r2";
  js["r2"] = ev.r2;
  js["mse"] = ev.mse;
  js["length"] = length;
  js["samples"] = samples;
  js["batches"] = batches;
  js["eval_seed"] = cfg.eval.seed;
  js["test_pattern"] = cfg.task.test_pattern;
  add_training_figures(js, run_dir, run.step);
  if (js.contains("n_star"))
    ev.headline +=
        js["n_star"].is_null()
            ? "; test MSE never below " + std::to_string(cfg.train.stop_below) + " (n* censored)"
            : "; n* = " + std::to_string(js["n_star"].get<int64_t>()) + " samples";
  js["eval_seconds"] = seconds;
  write_file_atomic((fs::path(run_dir) / "eval.json").string(), js.dump(2) + "\n");
  return ev;
}

// ListOpsSubTrees (§2.2): every test tree once, in order; node accuracy overall, by operator and
// by sub-tree height (the paper's two tables).
RunEvaluation evaluate_listops(train::LoadedRun& run, const std::string& run_dir,
                               const tasks::ListOpsTask& task) {
  const auto& test = task.dataset().test;
  const int64_t l_max = task.dataset().params.l_max, batch = run.config.train.batch_size;
  torch::NoGradGuard no_grad;
  run.model->eval();
  const auto t0 = std::chrono::steady_clock::now();
  tasks::ListOpsScores scores;
  for (int64_t first = 0; first < static_cast<int64_t>(test.size()); first += batch) {
    const int64_t count = std::min<int64_t>(batch, static_cast<int64_t>(test.size()) - first);
    const auto b = tasks::listops_batch(test, first, count, l_max);
    scores.add(test, first, run.model->forward(b.inputs).argmax(-1));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RunEvaluation ev;
  const double acc = scores.nodes ? double(scores.correct) / double(scores.nodes) : 0.0;
  auto& js = ev.eval_json;
  js["task"] = run.config.task.name;
  js["model"] = run.config.model.name;
  js["name"] = run.config.name;
  js["metric"] = "node_accuracy";
  js["node_accuracy"] = acc;
  js["node_error"] = 1.0 - acc;
  js["nodes"] = scores.nodes;
  js["test_trees"] = static_cast<int64_t>(test.size());
  const char* ops[4] = {"MIN", "MAX", "MED", "SM"};
  for (int o = 0; o < 4; ++o) {
    js["error_by_op"][ops[o]] =
        scores.op_nodes[o] ? 1.0 - double(scores.op_correct[o]) / double(scores.op_nodes[o]) : 0.0;
    js["nodes_by_op"][ops[o]] = scores.op_nodes[o];
  }
  js["by_height"] = nlohmann::json::array();
  for (size_t h = 1; h < scores.height_nodes.size(); ++h) {
    if (scores.height_nodes[h] == 0) continue;
    js["by_height"].push_back(
        {{"height", h},
         {"nodes", scores.height_nodes[h]},
         {"frequency", double(scores.height_nodes[h]) / double(scores.nodes)},
         {"error", 1.0 - double(scores.height_correct[h]) / double(scores.height_nodes[h])}});
  }
  add_training_figures(js, run_dir, run.step);
  js["eval_seconds"] = seconds;
  write_file_atomic((fs::path(run_dir) / "eval.json").string(), js.dump(2) + "\n");
  char line[200];
  std::snprintf(line, sizeof line,
                "node accuracy %.4f on %lld test trees (error MIN %.3f, MAX %.3f, MED %.3f, SM "
                "%.3f)",
                acc, static_cast<long long>(test.size()), js["error_by_op"]["MIN"].get<double>(),
                js["error_by_op"]["MAX"].get<double>(), js["error_by_op"]["MED"].get<double>(),
                js["error_by_op"]["SM"].get<double>());
  ev.headline = line;
  return ev;
}

// PathfinderSegmentation (§2.3.5): every test image once; macro-F1 and balanced accuracy per
// batch, averaged over batches (the DLR reference's monitored metrics), and over all test pixels.
RunEvaluation evaluate_pathfinder(train::LoadedRun& run, const std::string& run_dir,
                                  const tasks::PathfinderTask& task) {
  const auto& data = task.dataset();
  const auto& test = data.test;
  const int64_t batch = run.config.train.batch_size;
  torch::NoGradGuard no_grad;
  run.model->eval();
  const auto t0 = std::chrono::steady_clock::now();
  tasks::SegmentationScores pooled;
  double sum_f1 = 0, sum_balanced = 0;
  int64_t batches = 0;
  for (size_t first = 0; first < test.size(); first += batch) {
    const std::vector<int64_t> ids(test.begin() + first,
                                   test.begin() + std::min(test.size(), first + batch));
    const auto b = tasks::pathfinder_batch(data, ids);
    const auto predictions = run.model->forward(b.inputs).argmax(-1);
    tasks::SegmentationScores s;
    s.add(b.targets, predictions);
    pooled.add(b.targets, predictions);
    sum_f1 += s.macro_f1();
    sum_balanced += s.balanced_accuracy();
    ++batches;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  RunEvaluation ev;
  auto& js = ev.eval_json;
  js["task"] = run.config.task.name;
  js["model"] = run.config.model.name;
  js["name"] = run.config.name;
  js["metric"] = "macro_f1";
  js["macro_f1"] = batches ? sum_f1 / batches : 0.0;
  js["balanced_accuracy"] = batches ? sum_balanced / batches : 0.0;
  js["pixel_accuracy"] = pooled.accuracy();
  js["pooled_macro_f1"] = pooled.macro_f1();
  js["pooled_balanced_accuracy"] = pooled.balanced_accuracy();
  js["confusion"] = nlohmann::json::array();  // [true class][predicted class]
  for (const auto& row : pooled.confusion)
    js["confusion"].push_back(std::vector<int64_t>(row, row + tasks::SegmentationScores::kClasses));
  js["test_images"] = static_cast<int64_t>(test.size());
  js["batches"] = batches;
  add_training_figures(js, run_dir, run.step);
  js["eval_seconds"] = seconds;
  write_file_atomic((fs::path(run_dir) / "eval.json").string(), js.dump(2) + "\n");
  char line[200];
  std::snprintf(line, sizeof line,
                "macro-F1 %.4f, balanced accuracy %.4f on %lld test images (pixel accuracy %.4f)",
                js["macro_f1"].get<double>(), js["balanced_accuracy"].get<double>(),
                static_cast<long long>(test.size()), pooled.accuracy());
  ev.headline = line;
  return ev;
}

}  // namespace

RunEvaluation evaluate_run(const std::string& run_dir,
                           const std::vector<std::string>& eval_overrides, bool show_progress) {
  // eval.* keys, and model.renorm_state: an inference-only option of the SD-SSM models (power-of-
  // two state rescaling, spec/mixers.md §3.4) that a trained run can be evaluated with or without.
  for (const auto& o : eval_overrides) {
    if (o.rfind("eval.", 0) != 0 && o.rfind("model.renorm_state=", 0) != 0)
      throw UserError("--set '" + o +
                      "': only eval.* keys and model.renorm_state (an inference option) can be "
                      "changed when evaluating a run");
  }
  auto run = train::load_run(run_dir, eval_overrides);  // validates the overridden config
  const auto& ec = run.config.eval;
  const auto& info = run.task->info();
  if (info.kind == tasks::TaskKind::kRegression) return evaluate_regression(run, run_dir);
  if (const auto* listops = dynamic_cast<const tasks::ListOpsTask*>(run.task.get()))
    return evaluate_listops(run, run_dir, *listops);
  if (const auto* pathfinder = dynamic_cast<const tasks::PathfinderTask*>(run.task.get()))
    return evaluate_pathfinder(run, run_dir, *pathfinder);
  train::Progress progress("eval " + run.config.task.name + "/" + run.config.model.name,
                           static_cast<int64_t>(evaluation_lengths(ec).size()),
                           show_progress && train::Progress::stderr_is_terminal());
  RunEvaluation out;
  out.result = evaluate_length_generalization(*run.model, *run.task, ec, [&](size_t done, size_t) {
    progress.update(static_cast<int64_t>(done), "lengths");
  });
  progress.finish();

  auto& js = out.eval_json;
  js["task"] = run.config.task.name;
  js["model"] = run.config.model.name;
  js["name"] = run.config.name;
  js["query_token"] = run.config.task.query_token;
  js["lengths"] = out.result.lengths;
  js["accuracy"] = out.result.accuracy;
  js["nonfinite_sequences"] = out.result.nonfinite;
  int64_t first_overflow = 0;
  for (size_t i = 0; i < out.result.lengths.size() && first_overflow == 0; ++i)
    if (out.result.nonfinite[i] > 0) first_overflow = out.result.lengths[i];
  js["first_overflow_length"] = first_overflow;  // 0 = none
  js["id_accuracy"] = out.result.id_accuracy;
  js["ood_accuracy"] = out.result.ood_accuracy;
  js["id_range"] = {1, ec.id_max_length};
  js["ood_range"] = {ec.ood_from, ec.max_length};
  js["num_classes"] = info.num_classes;
  js["chance"] = 1.0 / static_cast<double>(info.num_classes);
  js["train_max_length"] = run.config.train.max_length;
  js["samples_per_length"] = ec.samples_per_length;
  js["eval_seed"] = ec.seed;
  const auto train_summary = add_training_figures(js, run_dir, run.step);
  js["early_stopped"] = train_summary.value("early_stopped", false);
  js["eval_seconds"] = out.result.seconds;
  js["wall_seconds"] = train_summary.value("train_seconds", 0.0) + out.result.seconds;
  write_file_atomic((fs::path(run_dir) / "eval.json").string(), js.dump(2) + "\n");
  return out;
}

}  // namespace seqlab::eval
