// Cross-entropy and accuracy over the scored positions (targets != -100; spec/tasks.md §0.4).
#pragma once
#include <torch/types.h>

namespace seqlab::train {

struct ScoredLoss {
  torch::Tensor loss;  // mean cross-entropy over scored positions (differentiable)
  double correct = 0;  // scored positions whose argmax equals the target
  double scored = 0;   // number of scored positions
};

// logits (B, T, C), targets (B, T) int64 with -100 at unscored positions. class_weighted: the
// class-weighted CE of §0.4 (DLR Pathfinder): w_c = 1/count_c over the batch's scored positions
// for the classes present, loss = Σ w_{y_i} nll_i / Σ w_{y_i} (the mean over present classes of
// each class's mean NLL).
ScoredLoss scored_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                       bool class_weighted = false);

// Per-sequence correctness (B,) bool: every scored position of the sequence is right.
torch::Tensor sequence_correct(const torch::Tensor& logits, const torch::Tensor& targets);

// Regression (spec/tasks.md §0.4, §2.1): the model's last l_out outputs against targets
// (B, l_out, O). loss = MSE over all target elements (differentiable); r2 = 1 − MSE /
// max(Var(y), 1e−5) with Var the population variance pooled over the batch's target elements.
struct RegressionLoss {
  torch::Tensor loss;
  double mse = 0;
  double r2 = 0;
};
// outputs (B, T, O) with T >= l_out.
RegressionLoss regression_loss(const torch::Tensor& outputs, const torch::Tensor& targets);
// R² of predictions against targets of the same shape (§0.4), as a double.
double batch_r2(const torch::Tensor& predictions, const torch::Tensor& targets);

}  // namespace seqlab::train
