#include "seqlab/train/loss.h"

#include <torch/torch.h>

#include "seqlab/tasks/task.h"

namespace seqlab::train {

ScoredLoss scored_loss(const torch::Tensor& logits, const torch::Tensor& targets) {
  const int64_t classes = logits.size(-1);
  const auto flat_targets = targets.reshape({-1});
  const auto idx = (flat_targets != tasks::kIgnoreIndex).nonzero().reshape({-1});
  const auto picked_logits = logits.reshape({-1, classes}).index_select(0, idx);
  const auto picked_targets = flat_targets.index_select(0, idx);
  ScoredLoss out;
  out.loss = torch::nn::functional::cross_entropy(picked_logits, picked_targets);
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

}  // namespace seqlab::train
