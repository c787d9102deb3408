// The training loop of the length-generalization protocol (protocols.md §2.2): a fresh batch every
// step, one uniformly drawn length per batch, Adam/AdamW, global-norm clipping, a schedule,
// periodic atomic checkpoints, `log.jsonl`, and resume that continues the identical trajectory.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "seqlab/config/config.h"
#include "seqlab/model/model.h"
#include "seqlab/tasks/task.h"

namespace torch::optim {
class Optimizer;
}

namespace seqlab::train {

struct TrainOptions {
  bool resume = false;     // continue from the newest checkpoint in the run directory
  bool progress = true;    // show the progress line (only on a terminal)
  int64_t stop_after = 0;  // stop (with a checkpoint) after this step; 0 = run to the end. Tests.
};

struct TrainSummary {
  int64_t steps = 0;  // optimizer steps done (total, across resumes)
  bool early_stopped = false;
  double train_seconds = 0;      // wall time of the training loop (across resumes)
  double tokens_per_second = 0;  // over this invocation
  double final_loss = 0;         // mean over the last logging interval
  double final_accuracy = 0;     // regression tasks: the mean batch R² instead
  bool regression = false;       // the task is a regression task (spec/tasks.md §2.1)
  int64_t parameters = 0;
};

// Adam or AdamW with the config's hyperparameters and the parameter groups of spec §5.6 (in this
// order, empty ones left out): ordinary weights (lr, weight_decay); norm parameters (lr, no
// decay); dynamics parameters (dynamics_lr or lr, no decay). See model/param_roles.h.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const config::TrainConfig& cfg,
                                                        torch::nn::Module& model);

// One optimizer step on `batch`: forward, scored cross-entropy, backward, global-norm clipping
// (grad_clip > 0), update. Returns the loss and accuracy of the batch. Used by train() and bench.
// Classification: correct / scored positions. Regression (float targets): correct = the batch
// R² (spec/tasks.md §0.4) and scored = 1, so correct / scored averages R² over steps.
struct StepResult {
  double loss = 0;
  double correct = 0;
  double scored = 0;
};
// class_weighted: per-batch inverse-frequency class weights in the cross-entropy (§0.4).
StepResult train_step(model::SequenceModel& model, torch::optim::Optimizer& optimizer,
                      const tasks::Batch& batch, double grad_clip, bool class_weighted = false);

// Trains cfg in run_dir (created if needed; config.yaml written there). Throws UserError.
TrainSummary train(const config::RunConfig& cfg, const std::string& run_dir,
                   const TrainOptions& options);

}  // namespace seqlab::train
