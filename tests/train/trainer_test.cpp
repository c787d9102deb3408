#include "seqlab/train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "seqlab/eval/run_eval.h"
#include "seqlab/model/registry.h"
#include "seqlab/train/checkpoint.h"
#include "seqlab/train/loss.h"
#include "seqlab/train/run_dir.h"
#include "seqlab/util/error.h"
#include "seqlab/util/rng.h"

namespace fs = std::filesystem;

namespace seqlab::train {
namespace trainer_test {

config::RunConfig tiny_config() {
  config::RunConfig cfg;
  cfg.name = "tiny";
  cfg.task.name = "parity_check";
  cfg.task.query_token = true;
  cfg.model.name = "sdssm";
  cfg.model.state_size = 8;
  cfg.model.dict_size = 2;
  cfg.train.steps = 20;
  cfg.train.batch_size = 8;
  cfg.train.max_length = 6;
  cfg.train.lr = 1e-2;
  cfg.train.log_every = 2;
  cfg.train.checkpoint_every = 5;
  cfg.train.keep_checkpoints = 2;
  return cfg;
}

std::string temp_dir(const std::string& name) {
  const auto dir = fs::temp_directory_path() /
                   ("seqlab_trainer_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir.string();
}

// log.jsonl rows without the timing fields, which legitimately differ between runs.
std::vector<nlohmann::json> deterministic_rows(const std::string& run_dir) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(fs::path(run_dir) / "log.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto row = nlohmann::json::parse(line);
    row.erase("tokens_per_s");
    row.erase("elapsed_s");
    rows.push_back(row);
  }
  return rows;
}

// Spec §5.6: ordinary weights, norms and dynamics parameters are three optimizer groups; only the
// first decays, the last trains at train.dynamics_lr.
// The newest checkpoints of two runs hold bit-identical weights.
void expect_same_weights(const std::string& run_a, const std::string& run_b) {
  auto r1 = load_run(run_a), r2 = load_run(run_b);
  auto p1 = r1.model->parameters(), p2 = r2.model->parameters();
  ASSERT_EQ(p1.size(), p2.size());
  for (size_t i = 0; i < p1.size(); ++i) EXPECT_TRUE(torch::equal(p1[i], p2[i]));
}

TEST(Trainer, OptimizerGroupsFollowParameterRoles) {
  auto cfg = tiny_config();
  cfg.model.name = "mamba2";
  cfg.model.d_model = 16;
  cfg.model.heads = 2;
  cfg.model.state_size = 4;
  cfg.train.optimizer = "adamw";
  cfg.train.lr = 1e-3;
  cfg.train.weight_decay = 0.1;
  cfg.train.dynamics_lr = 5e-3;
  torch::manual_seed(0);
  auto model = model::make_model(cfg.model, 5, 3);
  auto opt = make_optimizer(cfg.train, *model);
  auto& groups = opt->param_groups();
  ASSERT_EQ(groups.size(), 3u);
  const auto& o = [&](size_t g) -> torch::optim::AdamWOptions& {
    return static_cast<torch::optim::AdamWOptions&>(groups[g].options());
  };
  EXPECT_DOUBLE_EQ(o(0).lr(), 1e-3);
  EXPECT_DOUBLE_EQ(o(0).weight_decay(), 0.1);
  EXPECT_DOUBLE_EQ(o(1).lr(), 1e-3);
  EXPECT_DOUBLE_EQ(o(1).weight_decay(), 0.0);
  EXPECT_DOUBLE_EQ(o(2).lr(), 5e-3);
  EXPECT_DOUBLE_EQ(o(2).weight_decay(), 0.0);
  EXPECT_EQ(groups[2].params().size(), 2u * 3u);  // A_log, dt_bias, D per layer
  size_t total = 0;
  for (auto& g : groups) total += g.params().size();
  EXPECT_EQ(total, model->parameters().size());
}

// train.lambda_lr puts the parameters named Lambda* (DLR's Λ: Lambda_log_neg_re, Lambda_im) in a
// fourth group; W and D stay at dynamics_lr.
TEST(Trainer, LambdaLrIsItsOwnGroup) {
  auto cfg = tiny_config();
  cfg.model.name = "dlr";
  cfg.model.d_model = 8;
  cfg.model.state_size = 4;
  cfg.train.lr = 1e-3;
  cfg.train.dynamics_lr = 2e-3;
  cfg.train.lambda_lr = 1e-5;
  torch::manual_seed(0);
  auto model = model::make_model(cfg.model, 5, 3);
  auto opt = make_optimizer(cfg.train, *model);
  auto& groups = opt->param_groups();
  ASSERT_EQ(groups.size(), 4u);
  EXPECT_DOUBLE_EQ(groups[2].options().get_lr(), 2e-3);
  EXPECT_DOUBLE_EQ(groups[3].options().get_lr(), 1e-5);
  EXPECT_EQ(groups[3].params().size(), 2u * static_cast<size_t>(cfg.model.layers));
  cfg.train.lambda_lr = 0;  // off: Λ joins the dynamics group
  EXPECT_EQ(make_optimizer(cfg.train, *model)->param_groups().size(), 3u);
  // Frozen: Λ is in no group and needs no gradient; W still trains.
  cfg.train.freeze_lambda = true;
  auto frozen = make_optimizer(cfg.train, *model);
  size_t in_groups = 0;
  for (auto& g : frozen->param_groups()) in_groups += g.params().size();
  EXPECT_EQ(in_groups + 2u * static_cast<size_t>(cfg.model.layers), model->parameters().size());
  for (const auto& p : model->named_parameters()) {
    const bool lambda = p.key().find(".Lambda") != std::string::npos;
    EXPECT_EQ(p.value().requires_grad(), !lambda) << p.key();
  }
}

TEST(Trainer, SameSeedSameTrajectory) {
  const auto a = temp_dir("a"), b = temp_dir("b");
  train(tiny_config(), a, {});
  train(tiny_config(), b, {});
  const auto ra = deterministic_rows(a), rb = deterministic_rows(b);
  ASSERT_EQ(ra.size(), 10u);
  EXPECT_EQ(ra, rb);
  auto other = tiny_config();
  other.train.seed = 1;
  const auto c = temp_dir("c");
  train(other, c, {});
  EXPECT_NE(deterministic_rows(c), ra);
  for (const auto& d : {a, b, c}) fs::remove_all(d);
}

TEST(Trainer, ResumeContinuesIdenticalTrajectory) {
  const auto full = temp_dir("full"), split = temp_dir("split");
  train(tiny_config(), full, {});
  TrainOptions first;
  first.stop_after = 7;  // not a multiple of log_every or checkpoint_every
  const auto s1 = train(tiny_config(), split, first);
  EXPECT_EQ(s1.steps, 7);
  TrainOptions resume;
  resume.resume = true;
  const auto s2 = train(tiny_config(), split, resume);
  EXPECT_EQ(s2.steps, 20);
  EXPECT_EQ(deterministic_rows(split), deterministic_rows(full));
  expect_same_weights(full, split);
  fs::remove_all(full);
  fs::remove_all(split);
}

TEST(Trainer, CheckpointsAreAtomicAndPruned) {
  const auto dir = temp_dir("ckpt");
  train(tiny_config(), dir, {});
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "checkpoints"))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"step_15", "step_20"}));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "config.yaml"));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "train_summary.json"));
  fs::remove_all(dir);
}

TEST(Trainer, CorruptedOrMissingCheckpointIsAClearError) {
  const auto dir = temp_dir("corrupt");
  train(tiny_config(), dir, {});
  const auto ckpt = latest_checkpoint(dir);
  ASSERT_TRUE(ckpt.has_value());
  {
    std::ofstream out(fs::path(*ckpt) / "model.pt", std::ios::trunc);
    out << "not a checkpoint";
  }
  try {
    load_run(dir);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupted"), std::string::npos) << e.what();
  }
  fs::remove_all(fs::path(dir) / "checkpoints");
  try {
    load_run(dir);
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no checkpoint"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST(Trainer, EarlyStopWhenRunningAccuracyReached) {
  auto cfg = tiny_config();
  cfg.train.steps = 400;
  cfg.train.max_length = 1;  // length-1 parity: trivially learnable
  cfg.train.early_stop_accuracy = 0.99;
  cfg.train.early_stop_window = 10;
  const auto dir = temp_dir("early");
  const auto s = train(cfg, dir, {});
  EXPECT_TRUE(s.early_stopped);
  EXPECT_LT(s.steps, 400);
  EXPECT_TRUE(latest_checkpoint(dir).has_value());
  fs::remove_all(dir);
}

// §0.4: R² = 1 − MSE / max(Var(y), 1e−5), Var pooled over the batch; golden y = [1, 2, 3, 4],
// ŷ = [1, 2, 3, 5] gives MSE 0.25, Var 1.25, R² 0.8. regression_loss reads the last l_out outputs.
TEST(RegressionLoss, GoldenR2AndLastPositionsReadout) {
  auto y = torch::tensor({1.0, 2.0, 3.0, 4.0}).view({1, 4, 1});
  auto yhat = torch::tensor({1.0, 2.0, 3.0, 5.0}).view({1, 4, 1});
  EXPECT_NEAR(batch_r2(yhat, y), 0.8, 1e-12);
  auto outputs = torch::cat({torch::full({1, 3, 1}, 100.0), yhat}, 1);  // 3 leading positions
  const auto r = regression_loss(outputs, y);
  EXPECT_NEAR(r.mse, 0.25, 1e-12);
  EXPECT_NEAR(r.r2, 0.8, 1e-12);
  // Constant targets: the variance floor 1e-5 keeps R² finite.
  EXPECT_NEAR(batch_r2(torch::zeros({1, 2, 1}), torch::zeros({1, 2, 1})), 1.0, 1e-12);
}

// A DLR atomic task end to end: float features through the zoo model's Linear encoder, MSE on
// the last outputs, "r2" in the log, and eval.json with the regression metric.
TEST(Trainer, RegressionTaskTrainsAndEvaluatesWithR2) {
  config::RunConfig cfg;
  cfg.name = "cumsum";
  cfg.task.name = "cumsum";
  cfg.model.name = "dlr";
  cfg.model.d_model = 16;
  cfg.model.layers = 1;
  cfg.model.state_size = 8;
  cfg.model.channel_mixer = "none";
  cfg.train.steps = 40;
  cfg.train.batch_size = 8;
  cfg.train.min_length = 16;
  cfg.train.max_length = 16;
  cfg.train.lr = 1e-2;
  cfg.train.log_every = 20;
  cfg.train.checkpoint_every = 40;
  cfg.eval.samples_per_length = 16;
  const auto dir = temp_dir("regression");
  train(cfg, dir, {});
  const auto rows = deterministic_rows(dir);
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_TRUE(rows.back().contains("r2"));
  EXPECT_GT(rows.back()["r2"].get<double>(), rows.front()["r2"].get<double>());
  const auto ev = eval::evaluate_run(dir, {}, false);
  EXPECT_TRUE(ev.regression);
  EXPECT_EQ(ev.eval_json["metric"], "r2");
  EXPECT_GT(ev.r2, 0.0);  // better than predicting the mean after 40 steps
  EXPECT_NEAR(ev.eval_json["r2"].get<double>(), ev.r2, 0);
  // Token models refuse float features with a clear error.
  auto bad = cfg;
  bad.model.name = "sdssm";
  EXPECT_THROW(train(bad, temp_dir("regression_bad"), {}), UserError);
  fs::remove_all(dir);
}

// A small qstr run for the sample-size features (fixed sets, validation, n* threshold).
config::RunConfig qstr_config() {
  config::RunConfig cfg;
  cfg.name = "qstr";
  cfg.task.name = "qstr";
  cfg.task.tokens = 4;
  cfg.model.name = "attention_mlp";
  cfg.model.heads = 1;
  cfg.model.mlp_size = 16;
  cfg.train.steps = 30;
  cfg.train.batch_size = 8;
  cfg.train.min_length = 4;
  cfg.train.max_length = 4;
  cfg.train.optimizer = "adamw";
  cfg.train.lr = 3e-3;
  cfg.train.grad_clip = 0;
  cfg.train.log_every = 10;
  cfg.train.checkpoint_every = 10;
  cfg.eval.samples_per_length = 64;
  cfg.eval.batch_size = 32;
  return cfg;
}

std::vector<nlohmann::json> check_rows(const std::string& run_dir) {
  std::vector<nlohmann::json> out;
  for (const auto& r : deterministic_rows(run_dir))
    if (r.contains("samples")) out.push_back(r);
  return out;
}

TEST(Trainer, FixedTrainingSetIsSeenInEpochs) {
  auto cfg = qstr_config();
  cfg.train.train_samples = 20;  // batches of 8, 8, 4 per epoch
  cfg.train.eval_every = 3;
  cfg.train.val_samples = 16;
  const auto dir = temp_dir("fixed_set");
  train(cfg, dir, {});
  const auto rows = check_rows(dir);
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_EQ(rows[0]["samples"], 20);   // one epoch after 3 steps
  EXPECT_EQ(rows[9]["samples"], 200);  // ten epochs after 30
  EXPECT_TRUE(rows[0].contains("val_mse"));
  const auto summary = nlohmann::json::parse(std::ifstream(fs::path(dir) / "train_summary.json"));
  EXPECT_EQ(summary["train_samples"], 20);
  EXPECT_EQ(summary["samples_seen"], 200);
  // The best validation step is kept: the final weights score its validation MSE.
  double best = 1e300;
  for (const auto& r : rows) best = std::min(best, r["val_mse"].get<double>());
  EXPECT_DOUBLE_EQ(summary["best_val_mse"].get<double>(), best);
  fs::remove_all(dir);

  // A fixed set holds sequences of one length.
  auto bad = cfg;
  bad.train.min_length = 2;
  EXPECT_THROW(train(bad, temp_dir("fixed_bad"), {}), UserError);
}

TEST(Trainer, FixedSetResumeContinuesIdenticalTrajectory) {
  auto cfg = qstr_config();

  cfg.train.train_samples = 20;
  cfg.train.eval_every = 5;
  cfg.train.val_samples = 16;
  const auto full = temp_dir("fixed_full"), split = temp_dir("fixed_split");
  train(cfg, full, {});
  TrainOptions first;
  first.stop_after = 11;  // mid-epoch, between checks
  train(cfg, split, first);
  TrainOptions resume;
  resume.resume = true;
  train(cfg, split, resume);
  EXPECT_EQ(deterministic_rows(split), deterministic_rows(full));
  expect_same_weights(full, split);
  fs::remove_all(full);
  fs::remove_all(split);
}

TEST(Trainer, ThresholdStopRecordsNStar) {
  auto cfg = qstr_config();
  cfg.train.eval_every = 4;
  cfg.train.stop_below = 1e6;  // met at the first check: n* = 4 steps x 8 samples
  const auto dir = temp_dir("nstar");
  const auto s = train(cfg, dir, {});
  EXPECT_EQ(s.steps, 4);
  EXPECT_TRUE(s.early_stopped);
  const auto ev = eval::evaluate_run(dir, {}, false);
  EXPECT_EQ(ev.eval_json["n_star"], 32);
  EXPECT_EQ(ev.eval_json["threshold_step"], 4);
  // The check's test MSE is the one eval.json reports (same noise-free test set).
  const auto rows = check_rows(dir);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NEAR(rows[0]["test_mse"].get<double>(), ev.mse, 1e-9);
  fs::remove_all(dir);

  cfg.train.stop_below = 1e-12;  // never met: censored
  const auto dir2 = temp_dir("nstar_censored");
  train(cfg, dir2, {});
  const auto ev2 = eval::evaluate_run(dir2, {}, false);
  EXPECT_TRUE(ev2.eval_json["n_star"].is_null());
  fs::remove_all(dir2);

  auto bad = qstr_config();
  bad.train.stop_below = 0.5;  // without eval_every
  EXPECT_THROW(config::validate(bad), UserError);
  bad.train.eval_every = 1;
  bad.train.patience = 2;  // without a validation set
  EXPECT_THROW(config::validate(bad), UserError);
}

TEST(Trainer, SimpleTestPatternDrawsSharedPointerTestPrompts) {
  auto cfg = qstr_config();
  cfg.task.test_pattern = "simple";
  const auto test = make_test_task(cfg);
  Rng rng(3);
  const auto b = test->sample(rng, 4, 4);
  // simple-qSTR: one target per prompt, repeated at every position.
  for (int64_t i = 0; i < 4; ++i)
    EXPECT_TRUE(torch::allclose(b.targets[i], b.targets[i][0].expand_as(b.targets[i])));
  cfg.task.name = "cumsum";
  EXPECT_THROW(make_test_task(cfg), UserError);
}

}  // namespace trainer_test
}  // namespace seqlab::train
