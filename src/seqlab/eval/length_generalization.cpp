#include "seqlab/eval/length_generalization.h"

#include <torch/torch.h>

#include <chrono>

#include "seqlab/train/loss.h"
#include "seqlab/util/rng.h"

namespace seqlab::eval {

std::vector<int64_t> evaluation_lengths(const config::EvalConfig& cfg) {
  std::vector<int64_t> out;
  const int64_t id_end = std::min(cfg.id_max_length, cfg.max_length);
  for (int64_t L = 1; L <= id_end; ++L) out.push_back(L);
  for (int64_t L = std::max(cfg.ood_from, id_end + 1); L <= cfg.max_length; L += cfg.length_stride)
    out.push_back(L);
  if (out.empty() || out.back() != cfg.max_length) out.push_back(cfg.max_length);
  // Lengths between id_end and ood_from (if any) are not scored and not evaluated.
  return out;
}

LengthGenResult evaluate_length_generalization(
    model::SequenceModel& model, const tasks::Task& task, const config::EvalConfig& cfg,
    const std::function<void(size_t, size_t)>& on_length) {
  const auto t0 = std::chrono::steady_clock::now();
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  LengthGenResult result;
  result.lengths = evaluation_lengths(cfg);
  const Rng base(static_cast<uint64_t>(cfg.seed));
  double id_sum = 0, ood_sum = 0;
  int64_t id_n = 0, ood_n = 0;
  for (size_t li = 0; li < result.lengths.size(); ++li) {
    const int64_t L = result.lengths[li];
    Rng rng = base.fork(static_cast<uint64_t>(L));
    int64_t correct = 0, nonfinite = 0;
    for (int64_t done = 0; done < cfg.samples_per_length; done += cfg.batch_size) {
      const int64_t b = std::min(cfg.batch_size, cfg.samples_per_length - done);
      const auto batch = task.sample(rng, b, L);
      const auto logits = model.forward(batch.inputs);
      correct += train::sequence_correct(logits, batch.targets).sum().item<int64_t>();
      nonfinite += (~torch::isfinite(logits).all(-1).all(-1)).sum().item<int64_t>();
    }
    const double acc = static_cast<double>(correct) / static_cast<double>(cfg.samples_per_length);
    result.accuracy.push_back(acc);
    result.nonfinite.push_back(nonfinite);
    if (L <= cfg.id_max_length) {
      id_sum += acc;
      ++id_n;
    }
    if (L >= cfg.ood_from) {
      ood_sum += acc;
      ++ood_n;
    }
    if (on_length) on_length(li + 1, result.lengths.size());
  }
  result.id_accuracy = id_n ? id_sum / static_cast<double>(id_n) : 0.0;
  result.ood_accuracy = ood_n ? ood_sum / static_cast<double>(ood_n) : 0.0;
  if (was_training) model.train();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace seqlab::eval
