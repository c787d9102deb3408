// Losses of src/seqlab/train/loss.h: the class-weighted cross-entropy golden (spec/tasks.md §6
// row 49) and the ignore index.
#include "seqlab/train/loss.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace loss_test {

TEST(ClassWeightedCrossEntropy, Golden49) {
  torch::manual_seed(3);
  const auto logits = torch::randn({1, 5, 3}, torch::kFloat64);
  const auto targets = torch::tensor({{0, 0, 0, 1, 2}}, torch::kInt64);
  const auto nll = -torch::log_softmax(logits[0], -1).gather(1, targets[0].unsqueeze(1)).squeeze(1);
  const double a = nll[0].item<double>(), b = nll[1].item<double>(), c = nll[2].item<double>(),
               d = nll[3].item<double>(), e = nll[4].item<double>();
  const auto weighted = seqlab::train::scored_loss(logits, targets, true);
  EXPECT_NEAR(weighted.loss.item<double>(), ((a + b + c) / 3 + d + e) / 3, 1e-12);
  const auto plain = seqlab::train::scored_loss(logits, targets, false);
  EXPECT_NEAR(plain.loss.item<double>(), (a + b + c + d + e) / 5, 1e-12);
  // Unscored positions (−100) count neither in the loss nor in the class frequencies.
  const auto masked = torch::tensor({{0, -100, 0, 1, 2}}, torch::kInt64);
  EXPECT_NEAR(seqlab::train::scored_loss(logits, masked, true).loss.item<double>(),
              ((a + c) / 2 + d + e) / 3, 1e-12);
  // An absent class gets weight 0, not a division by zero.
  const auto two = torch::tensor({{0, 0, 1, 1, 1}}, torch::kInt64);
  EXPECT_TRUE(std::isfinite(seqlab::train::scored_loss(logits, two, true).loss.item<double>()));
}

}  // namespace loss_test
