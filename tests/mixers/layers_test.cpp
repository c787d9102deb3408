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

}  // namespace layers_test
}  // namespace seqlab::mixers
