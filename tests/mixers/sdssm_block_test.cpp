// The SD-SSM zoo block (mixers/sdssm_block.h) with model.renorm_state: at inference the state is
// rescaled by powers of two per chunk (spec/mixers.md §3.4), so long inputs do not overflow
// float32; the contract of the paths is in zoo_test.cpp.
#include "seqlab/mixers/sdssm_block.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>

namespace seqlab::mixers {
namespace sdssm_block_test {

std::shared_ptr<SDSSMBlockImpl> make_block(bool renorm_state) {
  ZooOptions o;
  o.d_model = 4;
  o.state_size = 16;
  o.dict_size = 4;
  o.lp = 1.2;
  o.renorm_state = renorm_state;
  return std::make_shared<SDSSMBlockImpl>(o);
}

void copy_parameters(const SDSSMBlockImpl& from, SDSSMBlockImpl& to) {
  torch::NoGradGuard no_grad;
  const auto src = from.named_parameters();
  for (auto& p : to.named_parameters()) p.value().copy_(src[p.key()]);
}

// With p = 1.2 and a positive dictionary every column of A_t sums to about N^{1-1/p} ≈ 1.6, so
// the raw float32 state overflows on the way to T = 700; the rescaled block stays finite and
// matches the raw block computed in float64 up to LayerNorm's ε. Short inputs (one chunk) and
// training (gradients on) take the plain path.
TEST(SDSSMBlock, RenormStateMatchesRawStateAndAvoidsOverflow) {
  torch::manual_seed(3);
  auto renorm = make_block(true);
  {
    torch::NoGradGuard no_grad;
    renorm->ssm->A_dict.abs_();
  }
  auto raw = make_block(false);
  copy_parameters(*renorm, *raw);
  auto raw64 = make_block(false);
  copy_parameters(*renorm, *raw64);
  raw64->to(torch::kFloat64);
  const auto u = torch::randn({2, 700, 4});
  {
    torch::NoGradGuard no_grad;
    const auto y_raw = raw->forward(u);
    const auto y_renorm = renorm->forward(u);
    const auto y_ref = raw64->forward(u.to(torch::kFloat64));
    EXPECT_FALSE(torch::isfinite(y_raw).all().item<bool>());  // else the test shows nothing
    ASSERT_TRUE(torch::isfinite(y_renorm).all().item<bool>());
    ASSERT_TRUE(torch::isfinite(y_ref).all().item<bool>());
    EXPECT_LT((y_renorm.to(torch::kFloat64) - y_ref).abs().max().item<double>(), 1e-2);
    const auto u_short = u.narrow(1, 0, 20).contiguous();
    EXPECT_TRUE(torch::equal(renorm->forward(u_short), raw->forward(u_short)));
  }
  const auto u_mid = u.narrow(1, 0, 40).contiguous();
  EXPECT_TRUE(torch::equal(renorm->forward(u_mid), raw->forward(u_mid)));  // gradients on
}

}  // namespace sdssm_block_test
}  // namespace seqlab::mixers
