// Hawk / Griffin RG-LRU recurrent block (spec/mixers.md §2.2.16, §6): forward (fused linear
// recurrence) == reference (per-step) == from_core(coefficients @ values) in fp32 and fp64, the
// gradients of every parameter and of the input on all three paths, step() over a sequence ==
// reference and forward, causality, central differences of every layer parameter, the Λ
// initialization, state_size and bad options.
#include "seqlab/mixers/rglru.h"

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
namespace rglru_test {

using torch::Tensor;
using namespace seqlab::testing::contract;  // tolerances, paths and run_path (§6.1-§6.4)

ZooOptions small_options(int64_t conv_size) {
  ZooOptions o;
  o.d_model = 6;
  o.expand = 2;
  o.conv_size = conv_size;
  return o;
}

std::shared_ptr<RGLRUImpl> make(const ZooOptions& o, torch::ScalarType dtype, uint64_t seed) {
  torch::manual_seed(seed);
  auto m = std::make_shared<RGLRUImpl>(o);
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
    for (int64_t T : {1, 7, 70})
      for (int64_t conv : {0, 4}) out.push_back({T, conv, dtype});
  return out;
}

class RGLRUContract : public ::testing::TestWithParam<Case> {};

TEST_P(RGLRUContract, ForwardReferenceExplicitAndGradientsAgree) {
  const auto& c = GetParam();
  auto m = make(small_options(c.conv_size), c.dtype, 1 + c.T);
  check_paths_agree(*m, c.T, 6, c.dtype);
}

TEST_P(RGLRUContract, StepOverTheSequenceMatchesReferenceAndForward) {
  const auto& c = GetParam();
  auto m = make(small_options(c.conv_size), c.dtype, 2 + c.T);
  check_step_matches(*m, c.T, 6, c.dtype);
}

INSTANTIATE_TEST_SUITE_P(Grid, RGLRUContract, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

TEST(RGLRU, StepIsDifferentiable) {
  auto m = make(small_options(4), torch::kFloat64, 3);
  auto u = torch::randn({2, 5, 6}, torch::kFloat64);
  stepped(*m, u).pow(2).sum().backward();
  for (auto& p : m->named_parameters())
    EXPECT_TRUE(p.value().grad().defined()) << p.key() << " got no gradient through step()";
}

TEST(RGLRU, Causality) {
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

TEST(RGLRU, FiniteDifferencesEveryParameter) {
  ZooOptions o;
  o.d_model = 3;
  o.expand = 1;
  o.conv_size = 3;
  auto m = make(o, torch::kFloat64, 5);
  auto u = torch::randn({2, 5, 3}, torch::kFloat64).requires_grad_(true);
  auto w1 = torch::randn({2, 5, 3}, torch::kFloat64), w2 = torch::randn({2, 5, 3}, torch::kFloat64);
  std::vector<Tensor> params{u};
  std::vector<std::string> names{"input"};
  for (auto& p : m->named_parameters()) {
    params.push_back(p.value());
    names.push_back(p.key());
  }
  // input, Λ, in_gate w/b, in_x w/b, conv w/b, gate_a w/b, gate_x w/b, out_proj w/b
  EXPECT_EQ(params.size(), 14u);
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

// §2.2.16 written out from the raw parameter tensors, one time step at a time.
TEST(RGLRU, MatchesTheModelCardWrittenOut) {
  auto m = make(small_options(4), torch::kFloat64, 10);
  const int64_t W = 12, T = 9;
  auto u = torch::randn({2, T, 6}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto lin = [](const torch::nn::Linear& l, const Tensor& v) {
    return torch::matmul(v, l->weight.t()) + l->bias;
  };
  auto pre = lin(m->in_gate, u);
  auto gate = 0.5 * pre * (1 + torch::erf(pre / std::sqrt(2.0)));  // exact GELU
  auto x = causal_conv(lin(m->in_x, u), m->conv);
  auto r = torch::sigmoid(lin(m->gate_a, x)), i = torch::sigmoid(lin(m->gate_x, x));
  auto a = torch::pow(torch::sigmoid(m->Lambda), 8.0 * r);
  auto h = torch::zeros({2, W}, torch::kFloat64);
  std::vector<Tensor> hs;
  for (int64_t t = 0; t < T; ++t) {
    auto at = a.select(1, t);
    h = at * h + torch::sqrt(1 - at * at) * (i.select(1, t) * x.select(1, t));
    hs.push_back(h);
  }
  auto out = lin(m->out_proj, gate * torch::stack(hs, 1));
  EXPECT_TRUE(close(m->forward(u), out, f_vs_e(torch::kFloat64), "forward vs card"));
}

TEST(RGLRU, Initialization) {
  ZooOptions o;
  o.d_model = 200;
  torch::manual_seed(6);
  RGLRUImpl m(o);
  EXPECT_EQ(m.width(), 200);
  // σ(Λ)^c = a₀ ~ U[0.9, 0.999] (§2.2.16).
  auto a0 = torch::pow(torch::sigmoid(m.Lambda.to(torch::kFloat64)), RGLRUImpl::kC);
  EXPECT_GE(a0.min().item<double>(), 0.9 - 1e-6);
  EXPECT_LE(a0.max().item<double>(), 0.999 + 1e-6);
  EXPECT_LT(a0.min().item<double>(), 0.92);  // spread over the interval
  EXPECT_GT(a0.max().item<double>(), 0.98);
  std::vector<std::string> names;
  for (auto& p : m.named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{
                       "Lambda", "in_gate.weight", "in_gate.bias", "in_x.weight", "in_x.bias",
                       "conv.conv.weight", "conv.conv.bias", "gate_a.weight", "gate_a.bias",
                       "gate_x.weight", "gate_x.bias", "out_proj.weight", "out_proj.bias"}));
}

// sqrt(1 − a²) is formed as sqrt(−expm1(2 log a)): the coefficient of the newest token equals it.
TEST(RGLRU, DiagonalCoefficientIsTheNormalizedInputGate) {
  auto m = make(small_options(4), torch::kFloat64, 8);
  auto u = torch::randn({1, 5, 6}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto coef = m->coefficients(u);  // (1, W, T, T)
  auto x = m->conv(m->in_x(u));
  auto r = torch::sigmoid(m->gate_a(x)), i = torch::sigmoid(m->gate_x(x));
  auto a = torch::pow(torch::sigmoid(m->Lambda), RGLRUImpl::kC * r);
  auto expected = (torch::sqrt(1 - a * a) * i).transpose(1, 2);  // (1, W, T)
  EXPECT_TRUE(close(torch::diagonal(coef, 0, 2, 3), expected, Tol{1e-12, 1e-13}, "b_j k_j"));
  EXPECT_EQ(torch::triu(coef, 1).abs().max().item<double>(), 0.0);
}

TEST(RGLRU, StateSizeAndStructure) {
  auto m = make_rglru(small_options(4));
  EXPECT_EQ(m->structure(), Structure::kDiagonal);
  EXPECT_EQ(m->state_size(0), 12 + 3 * 12);  // W + (K − 1)·W
  EXPECT_EQ(m->state_size(1000), 12 + 3 * 12);
  auto state = m->initial_state(3, torch::TensorOptions().dtype(torch::kFloat32));
  int64_t floats = 0;
  for (auto& s : state) floats += s.numel() / 3;
  EXPECT_EQ(floats, m->state_size(0));
  EXPECT_EQ(make_rglru(small_options(0))->state_size(5), 12);
}

TEST(RGLRU, BadOptionsNameTheOption) {
  auto expect_error = [](ZooOptions o, const std::string& needle) {
    try {
      make_rglru(o);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto o = small_options(4);
  o.d_model = 0;
  expect_error(o, "d_model");
  o = small_options(4);
  o.expand = 0;
  expect_error(o, "expand");
  o = small_options(4);
  o.conv_size = -2;
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

}  // namespace rglru_test
}  // namespace seqlab::mixers
