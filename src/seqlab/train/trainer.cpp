#include "seqlab/train/trainer.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>

#include "seqlab/model/param_roles.h"
#include "seqlab/model/registry.h"
#include "seqlab/train/checkpoint.h"
#include "seqlab/train/fixed_set.h"
#include "seqlab/train/loss.h"
#include "seqlab/train/progress.h"
#include "seqlab/train/run_dir.h"
#include "seqlab/train/schedule.h"
#include "seqlab/util/error.h"
#include "seqlab/util/json_io.h"
#include "seqlab/util/rng.h"

namespace fs = std::filesystem;

namespace seqlab::train {
namespace {

// Data stream seed: distinct from the initialization seed but derived from the same train.seed.
constexpr uint64_t kDataStream = 0x5e91ab;
// The fixed training and validation sets (train.train_samples, train.val_samples) get their own
// streams of the same seed, so n changes the set but not the initialization.
constexpr uint64_t kTrainSetStream = 0x7a1d5e7;
constexpr uint64_t kValSetStream = 0x0a15e7;

}  // namespace

namespace {

template <typename Options>
std::unique_ptr<Options> group_options(const config::TrainConfig& t, double lr, double wd) {
  auto o = std::make_unique<Options>(lr);
  o->betas({t.beta1, t.beta2}).eps(t.eps).weight_decay(wd);
  return o;
}

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::TrainConfig& t,
                                                        torch::nn::Module& model) {
  // Spec §5.6: ordinary weights get train.weight_decay; norm and dynamics parameters none, and
  // dynamics parameters train at train.dynamics_lr (0 = train.lr), and those named Lambda* (the
  // eigenvalues of DLR, DSS, S4D: the reference's lr.Lambda, protocols.md §4.2) at
  // train.lambda_lr when it is set, or not at all with train.freeze_lambda (their requires_grad
  // is switched off). Empty groups are left out.
  std::vector<torch::Tensor> weights, norms, dynamics, lambdas;
  for (const auto& p : model::parameter_roles(model)) {
    if (p.role == model::ParamRole::kWeight) weights.push_back(p.tensor);
    if (p.role == model::ParamRole::kNorm) norms.push_back(p.tensor);
    if (p.role != model::ParamRole::kDynamics) continue;
    const auto leaf = p.name.substr(p.name.rfind('.') + 1);
    const bool lambda = leaf.rfind("Lambda", 0) == 0;
    if (lambda && t.freeze_lambda) {
      p.tensor.set_requires_grad(false);
      continue;
    }
    if (lambda && t.lambda_lr > 0)
      lambdas.push_back(p.tensor);
    else
      dynamics.push_back(p.tensor);
  }
  const double dyn_lr = t.dynamics_lr > 0 ? t.dynamics_lr : t.lr;
  const bool adamw = t.optimizer == "adamw";
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add = [&](std::vector<torch::Tensor> params, double lr, double wd) {
    if (params.empty()) return;
    if (adamw)
      groups.emplace_back(std::move(params), group_options<torch::optim::AdamWOptions>(t, lr, wd));
    else
      groups.emplace_back(std::move(params), group_options<torch::optim::AdamOptions>(t, lr, wd));
  };
  add(std::move(weights), t.lr, t.weight_decay);
  add(std::move(norms), t.lr, 0.0);
  add(std::move(dynamics), dyn_lr, 0.0);
  add(std::move(lambdas), t.lambda_lr, 0.0);
  if (adamw)
    return std::make_unique<torch::optim::AdamW>(
        groups, *group_options<torch::optim::AdamWOptions>(t, t.lr, t.weight_decay));
  return std::make_unique<torch::optim::Adam>(
      groups, *group_options<torch::optim::AdamOptions>(t, t.lr, t.weight_decay));
}

namespace {

// The schedule gives the learning rate of the ordinary weights; every group follows it in
// proportion to its own base rate (base_lrs, in group order).
void set_lr(torch::optim::Optimizer& opt, const std::vector<double>& base_lrs, double lr,
            double peak_lr) {
  auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    groups[g].options().set_lr(peak_lr > 0 ? base_lrs[g] * lr / peak_lr : 0.0);
}

std::vector<double> base_learning_rates(torch::optim::Optimizer& opt) {
  std::vector<double> lrs;
  for (auto& group : opt.param_groups()) lrs.push_back(group.options().get_lr());
  return lrs;
}

// Keeps only the log rows up to `step`, so a resumed run appends exactly where it left off.
void truncate_log(const fs::path& log_path, int64_t step) {
  if (!fs::exists(log_path)) return;
  std::ifstream in(log_path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    nlohmann::json row;
    try {
      row = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      break;  // a torn last line from a crash
    }
    if (row.value("step", int64_t{0}) > step) break;
    kept += line + "\n";
  }
  write_file_atomic(log_path.string(), kept);
}

nlohmann::json rng_to_json(const Rng& rng) {
  nlohmann::json a = nlohmann::json::array();
  for (uint64_t s : rng.state()) a.push_back(std::to_string(s));
  return a;
}

Rng rng_from_json(const nlohmann::json& a) {
  std::array<uint64_t, 4> s{};
  if (!a.is_array() || a.size() != 4) throw UserError("checkpoint state.json: malformed rng state");
  for (size_t i = 0; i < 4; ++i) s[i] = std::stoull(a[i].get<std::string>());
  Rng r;
  r.set_state(s);
  return r;
}

}  // namespace

StepResult train_step(model::SequenceModel& model, torch::optim::Optimizer& optimizer,
                      const tasks::Batch& batch, double grad_clip, bool class_weighted) {
  const auto logits = model.forward(batch.inputs);
  if (batch.targets.is_floating_point()) {  // regression (MSE on the last l_out outputs)
    const auto reg = regression_loss(logits, batch.targets);
    optimizer.zero_grad();
    reg.loss.backward();
    if (grad_clip > 0) torch::nn::utils::clip_grad_norm_(model.parameters(), grad_clip);
    optimizer.step();
    return {reg.mse, reg.r2, 1.0};
  }
  const auto scored = scored_loss(logits, batch.targets, class_weighted);
  optimizer.zero_grad();
  scored.loss.backward();
  if (grad_clip > 0) torch::nn::utils::clip_grad_norm_(model.parameters(), grad_clip);
  optimizer.step();
  return {scored.loss.item<double>(), scored.correct, scored.scored};
}

TrainSummary train(const config::RunConfig& cfg, const std::string& run_dir,
                   const TrainOptions& options) {
  config::validate(cfg);
  const auto& tc = cfg.train;
  fs::create_directories(run_dir);
  const fs::path dir(run_dir);
  const auto config_path = (dir / "config.yaml").string();
  if (options.resume) {
    if (!fs::exists(config_path))
      throw UserError("--resume: '" + run_dir + "' has no config.yaml to resume from");
  }
  write_file_atomic(config_path, config::to_yaml(cfg));

  auto task = make_run_task(cfg);
  const auto& info = task->info();
  const bool regression = info.kind == tasks::TaskKind::kRegression;
  torch::manual_seed(static_cast<uint64_t>(tc.seed));
  auto model = model::make_model(cfg.model, info.vocab_size, info.num_classes, info.input_features,
                                 tc.max_length);
  model->train();
  auto optimizer = make_optimizer(tc, *model);
  const auto base_lrs = base_learning_rates(*optimizer);
  Rng data_rng(static_cast<uint64_t>(tc.seed) ^ kDataStream);

  // Sample-size protocols: the fixed training set (epochs in a fresh order each), the validation
  // set and the noise-free test set of the threshold checks (the one eval.json uses too).
  const int64_t length_fixed = tc.max_length;
  FixedSet train_set, val_set, test_set;
  if (tc.train_samples > 0) {
    Rng r(static_cast<uint64_t>(tc.seed) ^ kTrainSetStream);
    train_set = draw_fixed_set(*task, r, tc.train_samples, length_fixed);
  }
  if (tc.val_samples > 0) {
    Rng r(static_cast<uint64_t>(tc.seed) ^ kValSetStream);
    val_set = draw_fixed_set(*task, r, tc.val_samples, length_fixed);
  }
  if (tc.stop_below > 0) {
    const auto test_task = make_test_task(cfg);
    Rng r(static_cast<uint64_t>(cfg.eval.seed));
    test_set = draw_fixed_set(*test_task, r, cfg.eval.samples_per_length, length_fixed);
  }
  uint64_t epoch_seed = 0;
  int64_t epoch_pos = train_set.size();  // at the end: the first step starts an epoch
  std::vector<int64_t> order;
  int64_t samples_seen = 0;
  double best_val = std::numeric_limits<double>::infinity();
  int64_t best_step = 0, checks_since_best = 0, threshold_step = 0, threshold_samples = 0;
  const fs::path best_dir = dir / "best";

  TrainSummary summary;
  summary.parameters = model::count_parameters(*model);
  summary.regression = regression;
  int64_t start_step = 0;
  double elapsed_before = 0;
  // Interval accumulators (reset at every log row) and the early-stop window.
  double sum_loss = 0, sum_correct = 0, sum_scored = 0, sum_len = 0;
  int64_t interval_steps = 0;
  std::deque<double> window;

  const fs::path log_path = dir / "log.jsonl";
  if (options.resume) {
    const auto ckpt = latest_checkpoint(run_dir);
    if (!ckpt) throw UserError("--resume: run '" + run_dir + "' has no checkpoint");
    const auto state = load_checkpoint(*ckpt, *model, optimizer.get());
    start_step = state.at("step").get<int64_t>();
    data_rng = rng_from_json(state.at("data_rng"));
    elapsed_before = state.value("elapsed_s", 0.0);
    sum_loss = state.value("sum_loss", 0.0);
    sum_correct = state.value("sum_correct", 0.0);
    sum_scored = state.value("sum_scored", 0.0);
    sum_len = state.value("sum_len", 0.0);
    interval_steps = state.value("interval_steps", int64_t{0});
    for (const auto& a : state.value("window", nlohmann::json::array()))
      window.push_back(a.get<double>());
    summary.early_stopped = state.value("early_stopped", false);
    samples_seen = state.value("samples_seen", int64_t{0});
    epoch_pos = state.value("epoch_pos", train_set.size());
    epoch_seed = std::stoull(state.value("epoch_seed", std::string("0")));
    if (train_set.size() > 0 && epoch_pos < train_set.size()) {
      Rng r(epoch_seed);
      order = shuffled_indices(r, train_set.size());
    }
    if (state.contains("best_val") && !state["best_val"].is_null())
      best_val = state["best_val"].get<double>();
    best_step = state.value("best_step", int64_t{0});
    checks_since_best = state.value("checks_since_best", int64_t{0});
    threshold_step = state.value("threshold_step", int64_t{0});
    threshold_samples = state.value("threshold_samples", int64_t{0});
    truncate_log(log_path, start_step);
    if (start_step >= tc.steps || summary.early_stopped) {
      summary.steps = start_step;
      summary.train_seconds = elapsed_before;
      return summary;
    }
  } else {
    fs::remove(log_path);
    fs::remove_all(dir / "checkpoints");
    fs::remove_all(best_dir);
  }

  std::ofstream log(log_path, std::ios::app);
  if (!log) throw UserError("cannot write '" + log_path.string() + "'");

  const auto t0 = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point a) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
  };
  const int64_t eval_batch = std::max<int64_t>(cfg.eval.batch_size, 1);
  Progress progress(cfg.task.name + "/" + cfg.model.name, tc.steps,
                    options.progress && Progress::stderr_is_terminal());
  int64_t tokens_this_run = 0;
  double window_sum = 0;
  for (double a : window) window_sum += a;
  int64_t interval_tokens = 0;
  auto interval_t0 = std::chrono::steady_clock::now();

  auto state_json = [&](int64_t step) {
    nlohmann::json s;
    s["data_rng"] = rng_to_json(data_rng);
    s["elapsed_s"] = elapsed_before + seconds_since(t0);
    s["sum_loss"] = sum_loss;
    s["sum_correct"] = sum_correct;
    s["sum_scored"] = sum_scored;
    s["sum_len"] = sum_len;
    s["interval_steps"] = interval_steps;
    s["window"] = nlohmann::json(std::vector<double>(window.begin(), window.end()));
    s["early_stopped"] = summary.early_stopped;
    s["samples_seen"] = samples_seen;
    s["epoch_pos"] = epoch_pos;
    s["epoch_seed"] = std::to_string(epoch_seed);
    if (std::isfinite(best_val)) s["best_val"] = best_val;
    s["best_step"] = best_step;
    s["checks_since_best"] = checks_since_best;
    s["threshold_step"] = threshold_step;
    s["threshold_samples"] = threshold_samples;
    s["step"] = step;
    return s;
  };

  int64_t step = start_step;
  const int64_t last_step =
      options.stop_after > 0 ? std::min(tc.steps, options.stop_after) : tc.steps;
  while (step < last_step) {
    ++step;
    const double lr = learning_rate(tc, step);
    set_lr(*optimizer, base_lrs, lr, tc.lr);
    int64_t length = length_fixed;
    tasks::Batch batch;
    if (train_set.size() > 0) {  // the next min(batch, n) samples of this epoch's order
      if (epoch_pos >= train_set.size()) {
        epoch_seed = data_rng.next_u64();
        Rng r(epoch_seed);
        order = shuffled_indices(r, train_set.size());
        epoch_pos = 0;
      }
      const int64_t b = std::min(tc.batch_size, train_set.size() - epoch_pos);
      batch = train_set.gather(torch::tensor(
          std::vector<int64_t>(order.begin() + epoch_pos, order.begin() + epoch_pos + b),
          torch::kInt64));
      epoch_pos += b;
    } else {
      length = data_rng.uniform_range(tc.min_length, tc.max_length);
      batch = task->sample(data_rng, tc.batch_size, length);
    }
    samples_seen += batch.inputs.size(0);
    const auto scored =
        train_step(*model, *optimizer, batch, tc.grad_clip, task->info().class_weighted_loss);
    const double loss_value = scored.loss;
    if (!std::isfinite(loss_value))
      throw UserError("training diverged: loss is " + std::to_string(loss_value) + " at step " +
                      std::to_string(step) + " (try a lower train.lr or train.grad_clip)");
    const double acc = scored.scored > 0 ? scored.correct / scored.scored : 0.0;
    sum_loss += loss_value;
    sum_correct += scored.correct;
    sum_scored += scored.scored;
    sum_len += static_cast<double>(length);
    ++interval_steps;
    const int64_t tokens = batch.inputs.size(0) * batch.inputs.size(1);  // B·T (not ·F)
    tokens_this_run += tokens;
    interval_tokens += tokens;
    window.push_back(acc);
    window_sum += acc;
    if (static_cast<int64_t>(window.size()) > tc.early_stop_window) {
      window_sum -= window.front();
      window.pop_front();
    }
    bool stop_early = tc.early_stop_accuracy > 0 &&
                      static_cast<int64_t>(window.size()) == tc.early_stop_window &&
                      window_sum / static_cast<double>(window.size()) >= tc.early_stop_accuracy;
    // Held-out checks: validation MSE (best weights kept in best/, patience) and the test
    // threshold of n* (protocols.md §3.2: n* = samples seen at the first check below tau).
    if (tc.eval_every > 0 && (step % tc.eval_every == 0 || step == tc.steps)) {
      nlohmann::json row;
      row["step"] = step;
      row["samples"] = samples_seen;
      if (val_set.size() > 0) {
        const double v = score_fixed_set(*model, val_set, eval_batch).mse;
        row["val_mse"] = v;
        if (v < best_val) {
          best_val = v;
          best_step = step;
          checks_since_best = 0;
          save_checkpoint(best_dir.string(), step, *model, nullptr, {{"val_mse", v}}, 1);
        } else if (tc.patience > 0 && ++checks_since_best >= tc.patience) {
          stop_early = true;
        }
      }
      if (test_set.size() > 0) {
        const double t = score_fixed_set(*model, test_set, eval_batch).mse;
        row["test_mse"] = t;
        if (t < tc.stop_below && threshold_step == 0) {
          threshold_step = step;
          threshold_samples = samples_seen;
          stop_early = true;
        }
      }
      log << row.dump() << "\n";
      log.flush();
    }
    const bool last = step == tc.steps || stop_early;

    if (step % tc.log_every == 0 || last) {
      const double dt = seconds_since(interval_t0);
      nlohmann::json row;
      row["step"] = step;
      row["loss"] = sum_loss / static_cast<double>(interval_steps);
      // Regression tasks log the mean batch R² as "r2" (and keep it in "accuracy" for early
      // stopping and summaries).
      row["accuracy"] = sum_scored > 0 ? sum_correct / sum_scored : 0.0;
      if (regression) row["r2"] = row["accuracy"];
      row["lr"] = lr;
      row["mean_length"] = sum_len / static_cast<double>(interval_steps);
      row["tokens_per_s"] = dt > 0 ? static_cast<double>(interval_tokens) / dt : 0.0;
      row["elapsed_s"] = elapsed_before + seconds_since(t0);
      log << row.dump() << "\n";
      log.flush();
      summary.final_loss = row["loss"];
      summary.final_accuracy = row["accuracy"];
      char fields[160];
      std::snprintf(fields, sizeof fields, "loss %.4f %s %.3f | %.0f tok/s",
                    row["loss"].get<double>(), regression ? "r2" : "acc",
                    row["accuracy"].get<double>(), row["tokens_per_s"].get<double>());
      progress.update(step, fields);
      sum_loss = sum_correct = sum_scored = sum_len = 0;
      interval_steps = 0;
      interval_tokens = 0;
      interval_t0 = std::chrono::steady_clock::now();
    }
    if (stop_early) summary.early_stopped = true;
    const bool ckpt_due = tc.checkpoint_every > 0 && step % tc.checkpoint_every == 0;
    if (ckpt_due || last || step == last_step)
      save_checkpoint(run_dir, step, *model, optimizer.get(), state_json(step),
                      tc.keep_checkpoints);
    if (stop_early) break;
  }
  progress.finish();
  // With a validation set, a finished run ends with the best-validation weights (a final
  // checkpoint at the last step holds them, so evaluation and inspection see the selected model).
  // A run stopped part-way (stop_after) keeps its own weights, so that it resumes exactly.
  const bool finished = step == tc.steps || summary.early_stopped;
  if (finished && val_set.size() > 0 && best_step > 0 && best_step != step) {
    if (const auto best = latest_checkpoint(best_dir.string())) {
      load_checkpoint(*best, *model, nullptr);
      save_checkpoint(run_dir, step, *model, optimizer.get(), state_json(step),
                      tc.keep_checkpoints);
    }
  }
  const double run_seconds = seconds_since(t0);
  summary.steps = step;
  summary.train_seconds = elapsed_before + run_seconds;
  summary.tokens_per_second =
      run_seconds > 0 ? static_cast<double>(tokens_this_run) / run_seconds : 0;
  nlohmann::json js;
  js["steps"] = summary.steps;
  js["early_stopped"] = summary.early_stopped;
  js["train_seconds"] = summary.train_seconds;
  js["tokens_per_s"] = summary.tokens_per_second;
  js["final_loss"] = summary.final_loss;
  js["final_accuracy"] = summary.final_accuracy;
  js["parameters"] = summary.parameters;
  js["samples_seen"] = samples_seen;
  if (tc.train_samples > 0) js["train_samples"] = tc.train_samples;
  if (val_set.size() > 0) {
    js["best_val_mse"] = best_val;
    js["best_step"] = best_step;
  }
  if (tc.stop_below > 0) {
    // n* (protocols.md §3.2); null = censored (the threshold was not reached within train.steps)
    js["threshold"] = tc.stop_below;
    js["threshold_step"] = threshold_step > 0 ? nlohmann::json(threshold_step) : nlohmann::json();
    js["n_star"] = threshold_step > 0 ? nlohmann::json(threshold_samples) : nlohmann::json();
  }
  write_file_atomic((dir / "train_summary.json").string(), js.dump(2) + "\n");
  return summary;
}

}  // namespace seqlab::train
