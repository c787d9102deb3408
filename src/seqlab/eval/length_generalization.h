// The length-generalization protocol (spec/tasks.md §1.1, protocols.md §2.2): accuracy at each
// evaluated length from a fixed evaluation seed, the ID score (mean over 1..id_max_length) and the
// OOD score (mean over ood_from..max_length).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "seqlab/config/config.h"
#include "seqlab/model/model.h"
#include "seqlab/tasks/task.h"

namespace seqlab::eval {

struct LengthGenResult {
  std::vector<int64_t> lengths;
  std::vector<double> accuracy;
  // Sequences per length whose logits were not finite (state overflow, spec/mixers.md §3.4).
  std::vector<int64_t> nonfinite;
  double id_accuracy = 0;
  double ood_accuracy = 0;
  double seconds = 0;
};

// Every length 1..id_max_length, then ood_from, ood_from + stride, ... and always max_length.
std::vector<int64_t> evaluation_lengths(const config::EvalConfig& cfg);

// Evaluates `model` (switched to eval mode, no grad). The batch for length L depends only on
// (cfg.seed, L): Rng(seed).fork(L), drawn in sub-batches of cfg.batch_size.
LengthGenResult evaluate_length_generalization(
    model::SequenceModel& model, const tasks::Task& task, const config::EvalConfig& cfg,
    const std::function<void(size_t done, size_t total)>& on_length = nullptr);

}  // namespace seqlab::eval
