// The SD-SSM paper's models as zoo mixers, "sdssm_block" (§2.2.20) and "complex_diagonal_block"
// (§2.2.21), beyond the generic zoo contract (zoo_test.cpp, default options): F == R == E forward
// and every gradient (§6.2 rows) and step == R / F for each column-norm exponent p ∈ {1, 1.2, 2}
// and for an eigenvalue scale s ≠ 1; the explicit path's virtual-token term of the complex
// initial state; parameter names and option plumbing; bad options are user errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "../common/mixer_contract.h"
#include "../common/testing.h"
#include "seqlab/mixers/complex_diagonal_block.h"
#include "seqlab/mixers/sdssm_block.h"
#include "seqlab/mixers/zoo.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace zoo_blocks_test {

namespace contract = seqlab::testing::contract;

ZooOptions small(double lp = 1.2, double scale = 1.0) {
  ZooOptions o;
  o.d_model = 6;
  o.state_size = 4;
  o.dict_size = 3;
  o.lp = lp;
  o.scale_eigv = scale;
  return o;
}

class SDSSMBlockP : public ::testing::TestWithParam<double> {};

TEST_P(SDSSMBlockP, PathsAgreeAndStepMatches) {
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    torch::manual_seed(11);
    auto m = make_mixer("sdssm_block", small(GetParam()));
    m->to(dtype);
    contract::check_paths_agree(*m, 9, 6, dtype);
    contract::check_step_matches(*m, 9, 6, dtype);
  }
}

INSTANTIATE_TEST_SUITE_P(P, SDSSMBlockP, ::testing::Values(1.0, 1.2, 2.0),
                         [](const ::testing::TestParamInfo<double>& info) {
                           return "p" + std::to_string(static_cast<int>(info.param * 10));
                         });

TEST(SDSSMBlock, NamesShapesAndOptions) {
  auto o = small(1.4);
  SDSSMBlock m(o);
  auto params = m->named_parameters();
  EXPECT_EQ(params["ssm.A_dict"].sizes(), (std::vector<int64_t>{3, 4, 4}));
  EXPECT_EQ(params["ssm.selector.weight"].sizes(), (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(params["ssm.B.weight"].sizes(), (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(params["norm.weight"].sizes(), (std::vector<int64_t>{4}));
  EXPECT_EQ(params["out_proj.weight"].sizes(), (std::vector<int64_t>{6, 4}));
  EXPECT_EQ(params.size(), 8u);
  EXPECT_DOUBLE_EQ(m->ssm->options().p(), 1.4);
  EXPECT_EQ(m->state_size(100), 4);
  EXPECT_EQ(m->structure(), Structure::kDense);
  auto x = torch::randn({2, 5, 6});
  EXPECT_EQ(m->coefficients(x).sizes(), (std::vector<int64_t>{2, 4, 5, 5}));
  auto tr = m->transitions(x);
  EXPECT_EQ(tr.kind, core::TransitionKind::kDense);
  EXPECT_EQ(tr.dense.sizes(), (std::vector<int64_t>{2, 5, 4, 4}));
  // Columns of every A_t have unit Lp norm (§2.2.20).
  auto colnorm = tr.dense.abs().pow(1.4).sum(-2).pow(1 / 1.4);
  EXPECT_TRUE(seqlab::testing::close(colnorm, torch::ones_like(colnorm), 1e-5, 1e-6, "colnorm"));
}

TEST(ComplexDiagonalBlock, PathsAgreeAndStepMatchesWithScale) {
  for (double s : {1.0, 0.9}) {
    for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
      torch::manual_seed(12);
      auto m = make_mixer("complex_diagonal_block", small(1.2, s));
      m->to(dtype);
      contract::check_paths_agree(*m, 9, 6, dtype);
      contract::check_step_matches(*m, 9, 6, dtype);
    }
  }
}

TEST(ComplexDiagonalBlock, InitialStateIsTheVirtualTokenAddedAfterTheCore) {
  // §1.4: x_0 = e^{iϕ} is not a column of M; from_core adds Φ(i, 0) x_0. Without it the explicit
  // path misses the initial state, which does not decay (|λ| = 1).
  torch::manual_seed(13);
  ComplexDiagonalBlock m(small());
  m->to(torch::kFloat64);
  auto x = torch::randn({2, 7, 6}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto M = m->coefficients(x);
  EXPECT_EQ(M.sizes(), (std::vector<int64_t>{2, 8, 7, 7}));
  auto core = torch::matmul(M, m->values(x));  // (B, 2N, T, 1)
  auto without_x0 = m->out_proj(core.squeeze(-1).permute({0, 2, 1}));
  auto y = m->forward(x);
  EXPECT_TRUE(seqlab::testing::close(m->from_core(x, core), y, 1e-11, 1e-12, "E vs F"));
  EXPECT_GT((without_x0 - y).abs().max().item<double>(), 1e-3);
  // The state has unit-modulus transitions: the initial-state term keeps |x_0| = 1.
  auto lam = m->transitions(x).lambda;
  auto mod = (lam.select(-1, 0).pow(2) + lam.select(-1, 1).pow(2)).sqrt();
  EXPECT_TRUE(seqlab::testing::close(mod, torch::ones_like(mod), 1e-12, 1e-13, "|λ| = 1"));
  auto params = m->named_parameters();
  EXPECT_EQ(params["ssm.B_re"].sizes(), (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(params["out_proj.weight"].sizes(), (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(m->state_size(3), 8);
}

TEST(ZooBlocks, BadOptionsAreUserErrors) {
  auto o = small();
  o.state_size = 0;
  EXPECT_THROW(make_mixer("sdssm_block", o), UserError);
  EXPECT_THROW(make_mixer("complex_diagonal_block", o), UserError);
  o = small();
  o.dict_size = 0;
  EXPECT_THROW(make_mixer("sdssm_block", o), UserError);
  o = small(0.5);
  EXPECT_THROW(make_mixer("sdssm_block", o), UserError);
}

}  // namespace zoo_blocks_test
}  // namespace seqlab::mixers
