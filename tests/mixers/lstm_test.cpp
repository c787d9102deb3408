// LSTM baseline contract (spec/mixers.md §2.3, §6.1-§6.4): torch::nn::LSTM (F) vs the explicit
// gate equations (R), forward and backward, fp32 and fp64; gradcheck; PyTorch init and names.
#include "seqlab/mixers/lstm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace lstm_test {

using seqlab::testing::close;
using seqlab::testing::contract_loss;

struct Case {
  torch::Dtype dtype;
  int64_t T;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << (c.dtype == torch::kFloat64 ? "fp64" : "fp32") << " T=" << c.T;
}

LSTMMixer make_lstm(int64_t in, int64_t hidden, torch::Dtype dtype, uint64_t seed) {
  torch::manual_seed(seed);
  LSTMMixer lstm(in, hidden);
  lstm->to(dtype);
  return lstm;
}

class LSTMContract : public ::testing::TestWithParam<Case> {};

TEST_P(LSTMContract, ForwardMatchesGateReferenceForwardAndBackward) {
  // Baselines: the "F vs E" rows of §6.2 with R in place of E (§6.1).
  const Case c = GetParam();
  const bool fp64 = c.dtype == torch::kFloat64;
  const double frtol = fp64 ? 1e-11 : 1e-4, fatol = fp64 ? 1e-12 : 1e-5;
  const double brtol = fp64 ? 1e-10 : 1e-3, batol = fp64 ? 1e-11 : 1e-5;
  const int64_t B = 3, D = 5, H = 6;
  auto lstm = make_lstm(D, H, c.dtype, 100 + c.T);
  auto opts = torch::TensorOptions().dtype(c.dtype);
  auto x0 = torch::randn({B, c.T, D}, opts);
  auto w1 = torch::randn({B, c.T, H}, opts);
  auto w2 = torch::randn({B, c.T, H}, opts);
  auto run = [&](bool fast) {
    auto x = x0.clone().requires_grad_(true);
    auto y = fast ? lstm->forward(x) : lstm->reference(x);
    std::vector<torch::Tensor> inputs{x};
    for (auto& p : lstm->parameters()) inputs.push_back(p);
    auto grads = torch::autograd::grad({contract_loss(y, w1, w2)}, inputs);
    return std::make_pair(y.detach(), grads);
  };
  auto [yf, gf] = run(true);
  auto [yr, gr] = run(false);
  ASSERT_EQ(yf.sizes(), (std::vector<int64_t>{B, c.T, H}));
  EXPECT_EQ(yf.scalar_type(), c.dtype);
  const double rms = yr.to(torch::kFloat64).pow(2).mean().sqrt().item<double>();
  EXPECT_GE(rms, 0.1);
  EXPECT_LE(rms, 10.0);
  EXPECT_TRUE(close(yf, yr, frtol, fatol, "F vs R forward"));
  const auto names = lstm->named_parameters().keys();
  for (size_t i = 0; i < gr.size(); ++i)
    EXPECT_TRUE(close(gf[i], gr[i], brtol, batol,
                      "F vs R grad " + (i == 0 ? std::string("x") : names[i - 1])));
}

TEST_P(LSTMContract, CausalityExact) {
  const Case c = GetParam();
  auto lstm = make_lstm(4, 5, c.dtype, 7);
  torch::NoGradGuard no_grad;
  auto opts = torch::TensorOptions().dtype(c.dtype);
  auto x = torch::randn({2, c.T, 4}, opts);
  const int64_t t = c.T / 2;
  auto x2 = x.clone();
  x2.narrow(1, t, c.T - t).add_(torch::randn({2, c.T - t, 4}, opts));
  for (bool fast : {true, false}) {
    auto y = fast ? lstm->forward(x) : lstm->reference(x);
    auto y2 = fast ? lstm->forward(x2) : lstm->reference(x2);
    EXPECT_TRUE(torch::equal(y.narrow(1, 0, t), y2.narrow(1, 0, t))) << "fast=" << fast;
    EXPECT_FALSE(torch::equal(y.select(1, t), y2.select(1, t))) << "fast=" << fast;
  }
}

std::vector<Case> lstm_cases() {
  std::vector<Case> cases;
  for (auto dt : {torch::kFloat32, torch::kFloat64})
    for (int64_t T : {1, 2, 7, 33}) cases.push_back({dt, T});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cases, LSTMContract, ::testing::ValuesIn(lstm_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(info.param.dtype == torch::kFloat64 ? "fp64"
                                                                                  : "fp32") +
                                  "_T" + std::to_string(info.param.T);
                         });

TEST(LSTMMixer, GradcheckDouble) {
  // §6.4 on the fast path: every parameter (shared with the wrapped torch::nn::LSTM; a copy
  // would receive no gradient and fail here) and the input.
  auto lstm = make_lstm(3, 4, torch::kFloat64, 3);
  auto x = torch::randn({2, 7, 3}, torch::kFloat64).requires_grad_(true);
  auto w1 = torch::randn({2, 7, 4}, torch::kFloat64);
  auto w2 = torch::randn({2, 7, 4}, torch::kFloat64);
  std::vector<torch::Tensor> params{x};
  std::vector<std::string> names{"x"};
  for (auto& kv : lstm->named_parameters()) {
    params.push_back(kv.value());
    names.push_back(kv.key());
  }
  EXPECT_TRUE(seqlab::testing::gradcheck([&] { return contract_loss(lstm->forward(x), w1, w2); },
                                         params, names));
  EXPECT_TRUE(seqlab::testing::gradcheck([&] { return contract_loss(lstm->reference(x), w1, w2); },
                                         params, names));
}

TEST(LSTMMixer, PyTorchNamesShapesAndInitBounds) {
  const int64_t D = 7, H = 64;
  auto lstm = make_lstm(D, H, torch::kFloat32, 5);
  auto params = lstm->named_parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params["weight_ih_l0"].sizes(), (std::vector<int64_t>{4 * H, D}));
  EXPECT_EQ(params["weight_hh_l0"].sizes(), (std::vector<int64_t>{4 * H, H}));
  EXPECT_EQ(params["bias_ih_l0"].sizes(), (std::vector<int64_t>{4 * H}));
  EXPECT_EQ(params["bias_hh_l0"].sizes(), (std::vector<int64_t>{4 * H}));
  // §0.3 / §2.3: every weight and bias U(+-1/sqrt(H)).
  const double bound = 1.0 / std::sqrt(static_cast<double>(H));
  for (auto& kv : params) {
    const auto& p = kv.value();
    EXPECT_LE(p.abs().max().item<double>(), bound) << kv.key();
    EXPECT_GT(p.abs().max().item<double>(), 0.9 * bound) << kv.key();
    // Uniform on [-b, b]: mean ~ 0, variance b^2 / 3.
    EXPECT_NEAR(p.mean().item<double>(), 0.0, 0.2 * bound) << kv.key();
    EXPECT_NEAR(p.var().item<double>(), bound * bound / 3.0, 0.25 * bound * bound / 3.0)
        << kv.key();
  }
}

TEST(LSTMMixer, InPlaceParameterChangesReachTheFastPath) {
  auto lstm = make_lstm(3, 4, torch::kFloat32, 6);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 5, 3});
  auto before = lstm->forward(x);
  lstm->named_parameters()["bias_hh_l0"].add_(0.5);
  auto after = lstm->forward(x);
  EXPECT_FALSE(torch::equal(before, after));
  EXPECT_TRUE(close(after, lstm->reference(x), 1e-4, 1e-5, "after in-place edit"));
}

TEST(LSTMMixer, OutsideFrameworkStateSizeAndErrors) {
  auto lstm = make_lstm(3, 10, torch::kFloat32, 1);
  EXPECT_EQ(lstm->structure(), Structure::kNotInFramework);
  EXPECT_EQ(lstm->state_size(0), 20);
  EXPECT_EQ(lstm->state_size(1000), 20);
  EXPECT_THROW(lstm->coefficients(torch::randn({1, 2, 3})), std::logic_error);
  EXPECT_THROW(LSTMMixer(3, 0), seqlab::UserError);
  EXPECT_THROW(LSTMMixer(0, 3), seqlab::UserError);
  EXPECT_THROW(lstm->forward(torch::randn({1, 2, 4})), c10::Error);
}

}  // namespace lstm_test
}  // namespace seqlab::mixers
