// Cross-entropy and accuracy over the scored positions (targets != -100; spec/tasks.md §0.4).
#pragma once
#include <torch/types.h>

namespace seqlab::train {

struct ScoredLoss {
  torch::Tensor loss;  // mean cross-entropy over scored positions (differentiable)
  double correct = 0;  // scored positions whose argmax equals the target
  double scored = 0;   // number of scored positions
};

// logits (B, T, C), targets (B, T) int64 with -100 at unscored positions.
ScoredLoss scored_loss(const torch::Tensor& logits, const torch::Tensor& targets);

// Per-sequence correctness (B,) bool: every scored position of the sequence is right.
torch::Tensor sequence_correct(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace seqlab::train
