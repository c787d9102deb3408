#include "seqlab/train/loss.h"

#include <torch/torch.h>

#include <algorithm>

#include "seqlab/tasks/task.h"

namespace seqlab::train {

ScoredLoss scored_loss(const torch::Tensor& logits, const torch::Tensor& targets,
                       bool class_weighted) {
  const int64_t classes = logits.size(-1);
  const auto flat_targets = targets.reshape({-1});
  const auto idx = (flat_targets != tasks::kIgnoreIndex).nonzero().reshape({-1});
  const auto picked_logits = logits.reshape({-1, classes}).index_select(0, idx);
  const auto picked_targets = flat_targets.index_select(0, idx);
  ScoredLoss out;
  if (class_weighted) {
    // cross_entropy's weighted mean divides by Σ w_{y_i}, which is exactly §0.4's formula.
    const auto counts = torch::bincount(picked_targets, {}, classes).to(picked_logits.dtype());
    const auto weight = torch::where(counts > 0, counts.reciprocal(), torch::zeros_like(counts));
    out.loss = torch::nn::functional::cross_entropy(
        picked_logits, picked_targets,
        torch::nn::functional::CrossEntropyFuncOptions().weight(weight));
  } else {
    out.loss = torch::nn::functional::cross_entropy(picked_logits, picked_targets);
  }
  {
    torch::NoGradGuard no_grad;
    out.correct = (picked_logits.argmax(-1) == picked_targets).sum().item<double>();
    out.scored = static_cast<double>(idx.numel());
  }
  return out;
}

torch::Tensor sequence_correct(const torch::Tensor& logits, const torch::Tensor& targets) {
  torch::NoGradGuard no_grad;
  const auto scored = targets != tasks::kIgnoreIndex;
  const auto right = (logits.argmax(-1) == targets) | ~scored;
  return right.all(1);
}

double batch_r2(const torch::Tensor& predictions, const torch::Tensor& targets) {
  torch::NoGradGuard no_grad;
  auto y = targets.to(torch::kFloat64);
  const double mse = (predictions.to(torch::kFloat64) - y).pow(2).mean().item<double>();
  const double var = (y - y.mean()).pow(2).mean().item<double>();
  return 1.0 - mse / std::max(var, 1e-5);
}

RegressionLoss regression_loss(const torch::Tensor& outputs, const torch::Tensor& targets) {
  TORCH_CHECK(outputs.dim() == 3 && targets.dim() == 3 && outputs.size(0) == targets.size(0) &&
                  outputs.size(2) == targets.size(2) && outputs.size(1) >= targets.size(1),
              "regression_loss: outputs (B, T, O) and targets (B, l_out <= T, O) expected, got ",
              outputs.sizes(), " and ", targets.sizes());
  const int64_t T = outputs.size(1), l_out = targets.size(1);
  auto pred = outputs.narrow(1, T - l_out, l_out);  // the last l_out positions (§2.1 readout)
  RegressionLoss r;
  r.loss = (pred - targets.to(pred.scalar_type())).pow(2).mean();
  r.mse = r.loss.item<double>();
  r.r2 = batch_r2(pred.detach(), targets);
  return r;
}

}  // namespace seqlab::train
