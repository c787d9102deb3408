// S6 / Mamba-1 layer (spec/mixers.md §2.2.10, §6): forward (fused scan) == reference (per-step
// scan) == from_core(coefficients @ values) in fp32 and fp64, the gradients of every parameter and
// of the input on all three paths, step() over a sequence == reference and forward, causality,
// central differences of every layer parameter, the initialization, state_size and bad options.
#include "seqlab/mixers/mamba1.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/mixer_contract.h"
#include "../common/testing.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace mamba1_test {

using torch::Tensor;
using namespace seqlab::testing::contract;  // tolerances, paths and run_path (§6.1-§6.4)

ZooOptions small_options(int64_t conv_size) {
  ZooOptions o;
  o.d_model = 6;
  o.state_size = 4;
  o.expand = 2;
  o.conv_size = conv_size;
  return o;
}

std::shared_ptr<Mamba1Impl> make(const ZooOptions& o, torch::ScalarType dtype, uint64_t seed) {
  torch::manual_seed(seed);
  auto m = std::make_shared<Mamba1Impl>(o);
  m->to(dtype);
  return m;
}

struct Case {
  int64_t T, conv_size;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << "T" << c.T << "_conv" << c.conv_size
            << (c.dtype == torch::kFloat64 ? "_f64" : "_f32");
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (int64_t T : {1, 7, 70})  // 70: more than one checkpoint chunk of the fused backward
      for (int64_t conv : {0, 4}) out.push_back({T, conv, dtype});
  return out;
}

class Mamba1Contract : public ::testing::TestWithParam<Case> {};

TEST_P(Mamba1Contract, ForwardReferenceExplicitAndGradientsAgree) {
  const auto& c = GetParam();
  auto m = make(small_options(c.conv_size), c.dtype, 1 + c.T);
  check_paths_agree(*m, c.T, 6, c.dtype);
}

TEST_P(Mamba1Contract, StepOverTheSequenceMatchesReferenceAndForward) {
  const auto& c = GetParam();
  auto m = make(small_options(c.conv_size), c.dtype, 2 + c.T);
  check_step_matches(*m, c.T, 6, c.dtype);
}

INSTANTIATE_TEST_SUITE_P(Grid, Mamba1Contract, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

TEST(Mamba1, StepIsDifferentiable) {
  auto m = make(small_options(4), torch::kFloat64, 3);
  auto u = torch::randn({2, 5, 6}, torch::kFloat64);
  stepped(*m, u).pow(2).sum().backward();
  for (auto& p : m->named_parameters())
    EXPECT_TRUE(p.value().grad().defined()) << p.key() << " got no gradient through step()";
}

TEST(Mamba1, Causality) {
  auto m = make(small_options(4), torch::kFloat64, 4);
  auto u = torch::randn({2, 12, 6}, torch::kFloat64);
  auto v = u.clone();
  v.select(1, 7).add_(1.0);  // perturb x_8 (1-based)
  torch::NoGradGuard no_grad;
  for (bool fused : {false, true}) {
    auto a = fused ? m->forward(u) : m->reference(u);
    auto b = fused ? m->forward(v) : m->reference(v);
    EXPECT_TRUE(torch::equal(a.narrow(1, 0, 7), b.narrow(1, 0, 7)))
        << (fused ? "forward" : "reference") << " output before t = 8 changed";
    EXPECT_FALSE(torch::equal(a.narrow(1, 7, 5), b.narrow(1, 7, 5)));
  }
}

TEST(Mamba1, FiniteDifferencesEveryParameter) {
  ZooOptions o;
  o.d_model = 4;
  o.state_size = 2;
  o.expand = 1;
  o.conv_size = 3;
  auto m = make(o, torch::kFloat64, 5);
  auto u = torch::randn({2, 5, 4}, torch::kFloat64).requires_grad_(true);
  auto w1 = torch::randn({2, 5, 4}, torch::kFloat64), w2 = torch::randn({2, 5, 4}, torch::kFloat64);
  std::vector<Tensor> params{u};
  std::vector<std::string> names{"input"};
  for (auto& p : m->named_parameters()) {
    params.push_back(p.value());
    names.push_back(p.key());
  }
  EXPECT_EQ(params.size(),
            10u);  // input, in_proj, conv w/b, x_proj, dt_proj w/b, out_proj, A_log, D
  auto loss = [&] { return testing::contract_loss(m->forward(u), w1, w2); };
  EXPECT_TRUE(testing::gradcheck(loss, params, names));
}

// The depthwise causal conv of §5.3 written with torch::conv1d: (B, T, C) -> (B, T, C).
Tensor causal_conv(const Tensor& x, const ShortConv& conv) {
  const int64_t T = x.size(1), K = conv->kernel();
  auto y = torch::conv1d(x.transpose(1, 2), conv->conv->weight, conv->conv->bias, 1, K - 1, 1,
                         x.size(2));
  return y.narrow(2, 0, T).transpose(1, 2);
}

// §2.2.10 steps 1-7 written out from the raw parameter tensors, one time step at a time.
TEST(Mamba1, MatchesTheModelCardWrittenOut) {
  auto m = make(small_options(4), torch::kFloat64, 10);
  const int64_t Di = 12, N = 4, R = 1, T = 9;
  auto u = torch::randn({2, T, 6}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto xz = torch::matmul(u, m->in_proj->weight.t());
  auto x = causal_conv(xz.narrow(-1, 0, Di), m->conv);
  x = x * torch::sigmoid(x);
  auto z = xz.narrow(-1, Di, Di);
  auto dbc = torch::matmul(x, m->x_proj->weight.t());
  auto delta = torch::log1p(
      torch::exp(torch::matmul(dbc.narrow(-1, 0, R), m->dt_proj->weight.t()) + m->dt_proj->bias));
  auto Bm = dbc.narrow(-1, R, N), Cm = dbc.narrow(-1, R + N, N);
  auto A = -torch::exp(m->A_log);
  auto h = torch::zeros({2, Di, N}, torch::kFloat64);
  std::vector<Tensor> ys;
  for (int64_t t = 0; t < T; ++t) {
    auto dt = delta.select(1, t).unsqueeze(-1);
    h = torch::exp(dt * A) * h + dt * Bm.select(1, t).unsqueeze(1) * x.select(1, t).unsqueeze(-1);
    ys.push_back((h * Cm.select(1, t).unsqueeze(1)).sum(-1) + m->D * x.select(1, t));
  }
  auto y = torch::stack(ys, 1) * (z * torch::sigmoid(z));
  auto out = torch::matmul(y, m->out_proj->weight.t());
  EXPECT_TRUE(close(m->forward(u), out, f_vs_e(torch::kFloat64), "forward vs card"));
}

TEST(Mamba1, Initialization) {
  ZooOptions o;
  o.d_model = 40;
  o.state_size = 5;
  o.expand = 2;
  torch::manual_seed(6);
  Mamba1Impl m(o);
  const int64_t Di = 80, R = 3;  // ⌈40/16⌉
  EXPECT_EQ(m.d_inner(), Di);
  EXPECT_EQ(m.dt_rank(), R);
  auto expected_A_log = torch::log(torch::arange(1, 6, torch::kFloat32)).expand({Di, 5});
  EXPECT_TRUE(torch::allclose(m.A_log, expected_A_log));
  EXPECT_TRUE(torch::equal(m.D, torch::ones({Di})));
  // softplus(b_Δ) = dt ∈ [dt_min, dt_max] (the floor 1e-4 is below dt_min).
  auto dt = torch::softplus(m.dt_proj->bias.to(torch::kFloat64));
  EXPECT_GE(dt.min().item<double>(), 1e-3 * (1 - 1e-5));
  EXPECT_LE(dt.max().item<double>(), 1e-1 * (1 + 1e-5));
  EXPECT_LE(m.dt_proj->weight.abs().max().item<double>(), 1.0 / std::sqrt(3.0));
  Mamba1Init constant;
  constant.dt_init_random = false;
  Mamba1Impl mc(o, constant);
  EXPECT_TRUE(torch::allclose(mc.dt_proj->weight,
                              torch::full({Di, R}, static_cast<float>(1.0 / std::sqrt(3.0)))));
  std::vector<std::string> names;
  for (auto& p : m.named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{"A_log", "D", "in_proj.weight", "conv.conv.weight",
                                             "conv.conv.bias", "x_proj.weight", "dt_proj.weight",
                                             "dt_proj.bias", "out_proj.weight"}));
}

TEST(Mamba1, StateSizeAndStructure) {
  auto m = make_mamba1(small_options(4));
  EXPECT_EQ(m->structure(), Structure::kDiagonal);
  EXPECT_EQ(m->state_size(0), 12 * 4 + 3 * 12);  // d_inner·N + (K − 1)·d_inner
  EXPECT_EQ(m->state_size(1000), 12 * 4 + 3 * 12);
  auto state = m->initial_state(3, torch::TensorOptions().dtype(torch::kFloat32));
  int64_t floats = 0;
  for (auto& s : state) floats += s.numel() / 3;
  EXPECT_EQ(floats, m->state_size(0));
  EXPECT_EQ(make_mamba1(small_options(0))->state_size(5), 12 * 4);
}

TEST(Mamba1, BadOptionsNameTheOption) {
  auto expect_error = [](ZooOptions o, const std::string& needle) {
    try {
      make_mamba1(o);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto o = small_options(4);
  o.d_model = 0;
  expect_error(o, "d_model");
  o = small_options(4);
  o.state_size = 0;
  expect_error(o, "state_size");
  o = small_options(4);
  o.expand = 0;
  expect_error(o, "expand");
  o = small_options(4);
  o.conv_size = -1;
  expect_error(o, "conv_size");
  o = small_options(4);
  o.path = core::ScanPath::kChunked;
  expect_error(o, "valid: fused, reference");
  o = small_options(4);
  o.path = core::ScanPath::kReference;
  auto m = make(o, torch::kFloat64, 7);
  auto u = torch::randn({1, 4, 6}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(m->forward(u), m->reference(u)));  // path = reference
}

}  // namespace mamba1_test
}  // namespace seqlab::mixers
