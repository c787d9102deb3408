#include "seqlab/train/fixed_set.h"

#include <torch/torch.h>

#include <numeric>

#include "seqlab/model/model.h"
#include "seqlab/util/error.h"

namespace seqlab::train {
namespace {
constexpr int64_t kDrawBlock = 256;
}

tasks::Batch FixedSet::gather(const torch::Tensor& indices) const {
  return {inputs.index_select(0, indices), targets.index_select(0, indices)};
}

FixedSet draw_fixed_set(const tasks::Task& task, Rng& rng, int64_t n, int64_t length) {
  if (n <= 0)
    throw UserError("a fixed set needs at least one sample (got " + std::to_string(n) + ")");
  std::vector<torch::Tensor> inputs, targets;
  for (int64_t done = 0; done < n; done += kDrawBlock) {
    const auto b = task.sample(rng, std::min(kDrawBlock, n - done), length);
    inputs.push_back(b.inputs);
    targets.push_back(b.targets);
  }
  return {torch::cat(inputs, 0), torch::cat(targets, 0)};
}

SetScore score_fixed_set(model::SequenceModel& model, const FixedSet& set, int64_t batch) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const bool regression = set.targets.is_floating_point();
  double sum_sq = 0, sum_y = 0, sum_y2 = 0, count = 0, correct = 0;
  for (int64_t start = 0; start < set.size(); start += batch) {
    const int64_t b = std::min(batch, set.size() - start);
    const auto x = set.inputs.narrow(0, start, b);
    const auto y = set.targets.narrow(0, start, b);
    const auto out = model.forward(x);
    if (regression) {
      const int64_t T = out.size(1), l_out = y.size(1);
      const auto pred = out.narrow(1, T - l_out, l_out).to(torch::kFloat64);
      const auto yd = y.to(torch::kFloat64);
      sum_sq += (pred - yd).pow(2).sum().item<double>();
      sum_y += yd.sum().item<double>();
      sum_y2 += yd.pow(2).sum().item<double>();
      count += static_cast<double>(yd.numel());
    } else {
      const auto mask = y != tasks::kIgnoreIndex;
      correct += (out.argmax(-1).eq(y) & mask).sum().item<double>();
      count += mask.sum().item<double>();
    }
  }
  if (was_training) model.train();
  SetScore s;
  if (count == 0) return s;
  if (regression) {
    s.mse = sum_sq / count;
    const double mean = sum_y / count, var = sum_y2 / count - mean * mean;
    s.r2 = 1.0 - s.mse / std::max(var, 1e-5);
  } else {
    s.r2 = correct / count;
    s.mse = 1.0 - s.r2;
  }
  return s;
}

std::vector<int64_t> shuffled_indices(Rng& rng, int64_t n) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), int64_t{0});
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(rng.uniform_range(0, i))]);
  return idx;
}

}  // namespace seqlab::train
