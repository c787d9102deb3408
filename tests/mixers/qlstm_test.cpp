// qLSTM (spec/mixers.md §2.2.15, §6), both forget gates: forward (fused linear recurrence) ==
// reference (per-step) == from_core(coefficients @ values) in fp32 and fp64, the gradients of
// every parameter and of the input on all three paths, step() over a sequence == reference and
// forward, causality, central differences of every layer parameter, the initialization,
// state_size and bad options.
#include "seqlab/mixers/qlstm.h"

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
namespace qlstm_test {

using torch::Tensor;
using namespace seqlab::testing::contract;  // tolerances, paths and run_path (§6.1-§6.4)

ZooOptions small_options(int64_t conv_size) {
  ZooOptions o;
  o.d_model = 6;
  o.expand = 2;
  o.conv_size = conv_size;
  return o;
}

std::shared_ptr<QLSTMImpl> make(const ZooOptions& o, torch::ScalarType dtype, uint64_t seed,
                                bool reversed = false) {
  torch::manual_seed(seed);
  auto m = std::make_shared<QLSTMImpl>(o, reversed);
  m->to(dtype);
  return m;
}

struct Case {
  int64_t T, conv_size;
  bool reversed;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << "T" << c.T << "_conv" << c.conv_size << (c.reversed ? "_reversed" : "_sigmoid")
            << (c.dtype == torch::kFloat64 ? "_f64" : "_f32");
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (int64_t T : {1, 7, 70})
      for (int64_t conv : {0, 4})
        for (bool reversed : {false, true}) out.push_back({T, conv, reversed, dtype});
  return out;
}

class QLSTMContract : public ::testing::TestWithParam<Case> {};

TEST_P(QLSTMContract, ForwardReferenceExplicitAndGradientsAgree) {
  const auto& c = GetParam();
  auto m = make(small_options(c.conv_size), c.dtype, 1 + c.T, c.reversed);
  check_paths_agree(*m, c.T, 6, c.dtype);
}

TEST_P(QLSTMContract, StepOverTheSequenceMatchesReferenceAndForward) {
  const auto& c = GetParam();
  auto m = make(small_options(c.conv_size), c.dtype, 2 + c.T, c.reversed);
  check_step_matches(*m, c.T, 6, c.dtype);
}

INSTANTIATE_TEST_SUITE_P(Grid, QLSTMContract, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

TEST(QLSTM, StepIsDifferentiable) {
  auto m = make(small_options(4), torch::kFloat64, 3);
  auto u = torch::randn({2, 5, 6}, torch::kFloat64);
  stepped(*m, u).pow(2).sum().backward();
  for (auto& p : m->named_parameters())
    EXPECT_TRUE(p.value().grad().defined()) << p.key() << " got no gradient through step()";
}

TEST(QLSTM, Causality) {
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

TEST(QLSTM, FiniteDifferencesEveryParameter) {
  ZooOptions o;
  o.d_model = 3;
  o.expand = 1;
  o.conv_size = 3;
  for (bool reversed : {false, true}) {
    auto m = make(o, torch::kFloat64, 5, reversed);
    auto u = torch::randn({2, 5, 3}, torch::kFloat64).requires_grad_(true);
    auto w1 = torch::randn({2, 5, 3}, torch::kFloat64),
         w2 = torch::randn({2, 5, 3}, torch::kFloat64);
    std::vector<Tensor> params{u};
    std::vector<std::string> names{"input"};
    for (auto& p : m->named_parameters()) {
      params.push_back(p.value());
      names.push_back(p.key());
    }
    // input, in_proj, conv w/b, gates w/b, out_proj (+ alpha)
    EXPECT_EQ(params.size(), reversed ? 8u : 7u);
    auto loss = [&] { return testing::contract_loss(m->forward(u), w1, w2); };
    EXPECT_TRUE(testing::gradcheck(loss, params, names)) << (reversed ? "reversed" : "sigma(f)");
  }
}

// The depthwise causal conv of §5.3 written with torch::conv1d: (B, T, C) -> (B, T, C).
Tensor causal_conv(const Tensor& x, const ShortConv& conv) {
  const int64_t T = x.size(1), K = conv->kernel();
  auto y = torch::conv1d(x.transpose(1, 2), conv->conv->weight, conv->conv->bias, 1, K - 1, 1,
                         x.size(2));
  return y.narrow(2, 0, T).transpose(1, 2);
}

// §2.2.15 steps 1-6 written out from the raw parameter tensors, one time step at a time.
TEST(QLSTM, MatchesTheModelCardWrittenOut) {
  for (bool reversed : {false, true}) {
    auto m = make(small_options(4), torch::kFloat64, 10, reversed);
    const int64_t H = 12, T = 9;
    auto u = torch::randn({2, T, 6}, torch::kFloat64);
    torch::NoGradGuard no_grad;
    if (reversed) m->alpha.fill_(0.7);
    auto gx = torch::matmul(u, m->in_proj->weight.t());
    auto g = gx.narrow(-1, 0, H);
    auto x = causal_conv(gx.narrow(-1, H, H), m->conv);
    auto fio = torch::matmul(x, m->gates->weight.t()) + m->gates->bias;
    auto f = fio.narrow(-1, 0, H), i = fio.narrow(-1, H, H), o = fio.narrow(-1, 2 * H, H);
    auto forget =
        reversed ? torch::pow(torch::sigmoid(-f), torch::relu(m->alpha)) : torch::sigmoid(f);
    auto h = torch::zeros({2, H}, torch::kFloat64);
    std::vector<Tensor> hs;
    for (int64_t t = 0; t < T; ++t) {
      h = forget.select(1, t) * h + torch::sigmoid(i.select(1, t)) * x.select(1, t);
      hs.push_back(h);
    }
    auto gelu = 0.5 * g * (1 + torch::erf(g / std::sqrt(2.0)));
    auto out =
        torch::matmul(gelu * torch::sigmoid(o) * torch::stack(hs, 1), m->out_proj->weight.t());
    EXPECT_TRUE(close(m->forward(u), out, f_vs_e(torch::kFloat64), "forward vs card"))
        << (reversed ? "reversed" : "sigma(f)");
  }
}

TEST(QLSTM, Initialization) {
  ZooOptions o;
  o.d_model = 64;
  o.expand = 2;
  torch::manual_seed(6);
  QLSTMImpl m(o);
  EXPECT_EQ(m.hidden(), 128);
  EXPECT_FALSE(m.reversed());
  // N(0, 1/fan_in) weights (§2.2.15): sample standard deviations within 5%.
  auto std_of = [](const Tensor& w) { return w.std().item<double>(); };
  EXPECT_NEAR(std_of(m.in_proj->weight), 1.0 / 8.0, 0.05 / 8.0);
  EXPECT_NEAR(std_of(m.gates->weight), 1.0 / std::sqrt(128.0), 0.05 / std::sqrt(128.0));
  EXPECT_NEAR(std_of(m.out_proj->weight), 1.0 / std::sqrt(128.0), 0.05 / std::sqrt(128.0));
  EXPECT_LE(m.gates->bias.abs().max().item<double>(), 1.0 / std::sqrt(128.0));  // PyTorch default
  std::vector<std::string> names;
  for (auto& p : m.named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{"in_proj.weight", "conv.conv.weight", "conv.conv.bias",
                                             "gates.weight", "gates.bias", "out_proj.weight"}));
  QLSTMImpl reversed(o, /*reversed=*/true);
  ASSERT_TRUE(reversed.alpha.defined());
  EXPECT_EQ(reversed.alpha.item<double>(), 1.0);
  EXPECT_EQ(reversed.named_parameters().size(), 7u);
}

// The forget gates of §2.2.15 step 4: σ(f) by default; with reversed, σ(−f)^{ReLU(α)}, which at
// α = 1 is 1 − σ(f). The coefficient of the previous token is q_i α_i b_{i−1}.
TEST(QLSTM, ForgetGates) {
  for (bool reversed : {false, true}) {
    auto m = make(small_options(0), torch::kFloat64, 9, reversed);
    auto u = torch::randn({1, 4, 6}, torch::kFloat64);
    torch::NoGradGuard no_grad;
    auto coef = m->coefficients(u);  // (1, h_d, T, T)
    auto x = m->in_proj(u).narrow(-1, 12, 12);
    auto fio = m->gates(x);
    auto f = fio.narrow(-1, 0, 12), i = torch::sigmoid(fio.narrow(-1, 12, 12));
    auto o = torch::sigmoid(fio.narrow(-1, 24, 12));
    auto forget = reversed ? 1 - torch::sigmoid(f) : torch::sigmoid(f);
    for (int64_t t = 1; t < 4; ++t) {
      auto expected = o.select(1, t) * forget.select(1, t) * i.select(1, t - 1);  // (1, h_d)
      auto got = coef.select(2, t).select(-1, t - 1);
      EXPECT_TRUE(close(got, expected, Tol{1e-12, 1e-13}, "M[t, t-1]"));
    }
    EXPECT_EQ(torch::triu(coef, 1).abs().max().item<double>(), 0.0);
  }
}

TEST(QLSTM, StateSizeAndStructure) {
  auto m = make_qlstm(small_options(4));
  EXPECT_EQ(m->structure(), Structure::kDiagonal);
  EXPECT_EQ(m->state_size(0), 12 + 3 * 12);  // h_d + (K − 1)·h_d
  EXPECT_EQ(m->state_size(1000), 12 + 3 * 12);
  auto state = m->initial_state(3, torch::TensorOptions().dtype(torch::kFloat32));
  int64_t floats = 0;
  for (auto& s : state) floats += s.numel() / 3;
  EXPECT_EQ(floats, m->state_size(0));
  EXPECT_EQ(make_qlstm(small_options(0))->state_size(5), 12);
}

TEST(QLSTM, BadOptionsNameTheOption) {
  auto expect_error = [](ZooOptions o, const std::string& needle) {
    try {
      make_qlstm(o);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto o = small_options(4);
  o.d_model = -1;
  expect_error(o, "d_model");
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

}  // namespace qlstm_test
}  // namespace seqlab::mixers
