// Fixed sets of sequences drawn once: the training set of n samples of the sample-size protocols
// (train.train_samples; spec/tasks.md §4.2, §5.3), the validation set of early stopping, and the
// noise-free test set of regression evaluation (the threshold checks of n* and eval.json use the
// same one).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "seqlab/tasks/task.h"
#include "seqlab/util/rng.h"

namespace seqlab::model {
class SequenceModel;
}

namespace seqlab::train {

struct FixedSet {
  torch::Tensor inputs, targets;  // (n, T[, F]) and (n, l_out[, O]), as the task's batches
  int64_t size() const { return inputs.defined() ? inputs.size(0) : 0; }
  // The sequences at `indices` (int64, any order) as one batch.
  tasks::Batch gather(const torch::Tensor& indices) const;
};

// n sequences of `length`, drawn from `rng` in blocks of 256 (so a set depends only on the rng
// state, the task and n, never on a batch size or the thread count).
FixedSet draw_fixed_set(const tasks::Task& task, Rng& rng, int64_t n, int64_t length);

// Regression: mean squared error of the model's last l_out outputs over the whole set (fp64
// accumulation, no gradients, evaluation mode; the model's training mode is restored).
// Classification: the error rate over scored positions. Runs in batches of `batch`.
struct SetScore {
  double mse = 0;  // regression MSE (classification: 1 - accuracy)
  double r2 = 0;   // regression: 1 - MSE / Var(targets); classification: accuracy
};
SetScore score_fixed_set(model::SequenceModel& model, const FixedSet& set, int64_t batch);

// A permutation of 0..n-1 (Fisher–Yates on seqlab::Rng: the same at any thread count).
std::vector<int64_t> shuffled_indices(Rng& rng, int64_t n);

}  // namespace seqlab::train
