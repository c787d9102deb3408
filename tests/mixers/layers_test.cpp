// Shared mixer layers (mixers/layers.h): the short causal convolution equals a left-padded
// depthwise Conv1d (spec/mixers.md §5.3) and is causal; RMSNorm groups; l2norm; softplus⁻¹.
#include "seqlab/mixers/layers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../common/testing.h"

namespace seqlab::mixers {
namespace layers_test {

TEST(ShortConv, EqualsLeftPaddedDepthwiseConv1d) {
  for (bool bias : {false, true})
    for (int64_t K : {1, 2, 4}) {
      torch::manual_seed(K);
      ShortConv conv(5, K, bias);
      conv->to(torch::kFloat64);
      auto x = torch::randn({2, 7, 5}, torch::kFloat64);
      namespace F = torch::nn::functional;
      auto opts = F::Conv1dFuncOptions().groups(5);
      if (bias) opts = opts.bias(conv->conv->bias);
      auto padded = torch::constant_pad_nd(x.transpose(1, 2), {K - 1, 0}, 0.0);
      auto expected = F::conv1d(padded, conv->conv->weight, opts).transpose(1, 2);
      EXPECT_TRUE(
          seqlab::testing::close(conv(x), expected, 1e-14, 1e-14, "K=" + std::to_string(K)));
    }
}

TEST(RMSNorm, NormalizesEachGroupToUnitRms) {
  RMSNorm norm(6, 0.0, 2);
  auto x = torch::randn({3, 6});
  auto y = norm(x).view({3, 2, 3});
  EXPECT_TRUE(torch::allclose(y.pow(2).mean(-1), torch::ones({3, 2}), 1e-5, 1e-5));
}

TEST(Layers, L2normAndSoftplusInverse) {
  auto x = torch::randn({4, 8}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(l2norm(x, 0.0).norm(2, -1), torch::ones({4}, torch::kFloat64)));
  auto y = torch::tensor({1e-4, 0.01, 1.0, 5.0}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(torch::softplus(softplus_inverse(y)), y, 1e-12, 1e-15));
}

TEST(TransposedLN, IsTheScalarAffineLayerNormWithoutEpsilonAndDifferentiates) {
  // §5.1: y = (s / std_H(x)) (x − mean_H(x) + m), biased std, no ε; m, s scalars (init 0, 1).
  TransposedLN norm;
  norm->to(torch::kFloat64);
  EXPECT_EQ(norm->shift.item<double>(), 0.0);
  EXPECT_EQ(norm->scale.item<double>(), 1.0);
  EXPECT_EQ(norm->parameters().size(), 2u);  // no per-channel affine
  torch::NoGradGuard no_grad;
  norm->shift.fill_(0.3);
  norm->scale.fill_(-1.7);
  auto x = torch::randn({2, 5, 7}, torch::kFloat64) * 3 + 1;
  auto mean = x.mean(-1, true);
  auto std_biased = std::get<0>(torch::std_mean(x, {-1}, /*unbiased=*/false, true));
  auto expected = (-1.7 / std_biased) * (x - mean + 0.3);
  EXPECT_TRUE(seqlab::testing::close(norm(x), expected, 1e-13, 1e-14, "transposed ln"));
  // At init (m = 0, s = 1) each row has zero mean and unit biased std, exactly: no ε.
  norm->shift.fill_(0.0);
  norm->scale.fill_(1.0);
  auto y = norm(x * 1e-4);
  EXPECT_LT(y.mean(-1).abs().max().item<double>(), 1e-12);
  EXPECT_LT((y.pow(2).mean(-1) - 1).abs().max().item<double>(), 1e-12);
}

TEST(TransposedLN, GradientsMatchCentralDifferences) {
  torch::manual_seed(4);
  TransposedLN norm;
  norm->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    norm->shift.fill_(0.2);
    norm->scale.fill_(1.3);
  }
  auto x = torch::randn({2, 3, 6}, torch::kFloat64).requires_grad_(true);
  auto w = torch::randn({2, 3, 6}, torch::kFloat64);
  EXPECT_TRUE(seqlab::testing::gradcheck([&] { return (norm(x) * w).sum(); },
                                         {x, norm->shift, norm->scale}, {"x", "shift", "scale"}));
}

}  // namespace layers_test
}  // namespace seqlab::mixers
