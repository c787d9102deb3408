// Baselines outside the framework (spec/mixers.md §2.3, §6.1: "only two paths, recurrent
// reference vs fast"): GRU, Elman RNN (tanh and relu), LSTM step API and the position-wise MLP.
// F (ATen nn.GRU / nn.RNN / nn.LSTM, fused linear + gelu) vs R (gate equations step by step, on the
// same parameter tensors), forward and every gradient, fp64 and fp32, with the "F vs E" rows of
// §6.2 (R in place of E); step() == R (step vs R row) and == F; PyTorch parameter names, shapes
// and init bounds U(±1/√H) (§0.3); exact causality / no time mixing; errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/mixer_contract.h"
#include "../common/testing.h"
#include "seqlab/mixers/elman.h"
#include "seqlab/mixers/gru.h"
#include "seqlab/mixers/lstm.h"
#include "seqlab/mixers/mlp.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace baselines_test {

namespace contract = seqlab::testing::contract;

enum class Kind { kGRU, kElmanTanh, kElmanRelu, kLSTM, kMLP };
const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kGRU:
      return "gru";
    case Kind::kElmanTanh:
      return "elman_tanh";
    case Kind::kElmanRelu:
      return "elman_relu";
    case Kind::kLSTM:
      return "lstm";
    case Kind::kMLP:
      return "mlp";
  }
  return "?";
}

constexpr int64_t kIn = 5, kHidden = 6;

// Recurrent baselines map kIn -> kHidden; the MLP maps kIn -> kIn through kHidden.
std::shared_ptr<Mixer> make(Kind k, torch::Dtype dtype, uint64_t seed) {
  torch::manual_seed(seed);
  std::shared_ptr<Mixer> m;
  switch (k) {
    case Kind::kGRU:
      m = std::make_shared<GRUMixerImpl>(kIn, kHidden);
      break;
    case Kind::kElmanTanh:
      m = std::make_shared<ElmanMixerImpl>(kIn, kHidden, false);
      break;
    case Kind::kElmanRelu:
      m = std::make_shared<ElmanMixerImpl>(kIn, kHidden, true);
      break;
    case Kind::kLSTM:
      m = std::make_shared<LSTMMixerImpl>(kIn, kHidden);
      break;
    case Kind::kMLP:
      m = std::make_shared<MLPMixerImpl>(kIn, kHidden);
      break;
  }
  m->to(dtype);
  return m;
}
int64_t out_width(Kind k) {
  return k == Kind::kMLP ? kIn : kHidden;
}

struct Case {
  Kind kind;
  torch::Dtype dtype;
  int64_t T;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << kind_name(c.kind) << (c.dtype == torch::kFloat64 ? " fp64" : " fp32") << " T=" << c.T;
}

class BaselineContract : public ::testing::TestWithParam<Case> {};

TEST_P(BaselineContract, FastMatchesReferenceForwardAndBackward) {
  const Case c = GetParam();
  auto m = make(c.kind, c.dtype, 100 + c.T);
  const auto opts = torch::TensorOptions().dtype(c.dtype);
  auto u = torch::randn({3, c.T, kIn}, opts);
  auto w1 = torch::randn({3, c.T, out_width(c.kind)}, opts);
  auto w2 = torch::randn({3, c.T, out_width(c.kind)}, opts);
  auto f = contract::run_path(*m, u, w1, w2, [&](const torch::Tensor& x) { return m->forward(x); });
  auto r =
      contract::run_path(*m, u, w1, w2, [&](const torch::Tensor& x) { return m->reference(x); });
  ASSERT_EQ(f.y.sizes(), (std::vector<int64_t>{3, c.T, out_width(c.kind)}));
  EXPECT_EQ(f.y.scalar_type(), c.dtype);
  const double rms = r.y.to(torch::kFloat64).pow(2).mean().sqrt().item<double>();
  EXPECT_GE(rms, 0.1);  // §6.2: test inputs give RMS(y) in [0.1, 10]
  EXPECT_LE(rms, 10.0);
  EXPECT_TRUE(contract::close(f.y, r.y, contract::f_vs_e(c.dtype), "F vs R forward"));
  std::vector<std::string> names;
  for (auto& p : m->named_parameters()) names.push_back(p.key());
  names.push_back("input");
  ASSERT_EQ(names.size(), f.grads.size());
  for (size_t i = 0; i < names.size(); ++i)
    EXPECT_TRUE(
        contract::close(f.grads[i], r.grads[i], contract::bwd(c.dtype), "F vs R grad " + names[i]));
}

TEST_P(BaselineContract, StepMatchesReferenceAndForward) {
  const Case c = GetParam();
  auto m = make(c.kind, c.dtype, 200 + c.T);
  contract::check_step_matches(*m, c.T, kIn, c.dtype);
}

TEST_P(BaselineContract, CausalityExact) {
  const Case c = GetParam();
  if (c.T < 2) GTEST_SKIP() << "needs two steps";
  auto m = make(c.kind, c.dtype, 300 + c.T);
  torch::NoGradGuard no_grad;
  const auto opts = torch::TensorOptions().dtype(c.dtype);
  auto x = torch::randn({2, c.T, kIn}, opts);
  const int64_t t = c.T / 2;
  auto x2 = x.clone();
  x2.select(1, t).add_(torch::randn({2, kIn}, opts));
  for (bool fast : {true, false}) {
    auto y = fast ? m->forward(x) : m->reference(x);
    auto y2 = fast ? m->forward(x2) : m->reference(x2);
    EXPECT_TRUE(torch::equal(y.narrow(1, 0, t), y2.narrow(1, 0, t))) << "fast=" << fast;
    EXPECT_FALSE(torch::equal(y.select(1, t), y2.select(1, t))) << "fast=" << fast;
    // The MLP has no time mixing: the later outputs are unchanged too. The recurrent baselines
    // carry the perturbation forward.
    if (t + 1 < c.T) {
      const bool later_equal =
          torch::equal(y.narrow(1, t + 1, c.T - t - 1), y2.narrow(1, t + 1, c.T - t - 1));
      EXPECT_EQ(later_equal, c.kind == Kind::kMLP) << "fast=" << fast;
    }
  }
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (auto k : {Kind::kGRU, Kind::kElmanTanh, Kind::kElmanRelu, Kind::kLSTM, Kind::kMLP})
    for (auto dt : {torch::kFloat64, torch::kFloat32})
      for (int64_t T : {1, 7, 33}) out.push_back({k, dt, T});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Cases, BaselineContract, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return std::string(kind_name(info.param.kind)) + "_" +
                                  (info.param.dtype == torch::kFloat64 ? "fp64" : "fp32") + "_T" +
                                  std::to_string(info.param.T);
                         });

// Uniform on [−b, b]: max |p| ≤ b and close to it, mean ≈ 0 and variance ≈ b²/3 within 5
// standard errors of n samples (mean: b/√(3n); sample variance: b²·√(4/45)/√n).
void expect_uniform(const torch::Tensor& p, double bound, const std::string& what) {
  const double n = static_cast<double>(p.numel()), b2 = bound * bound;
  EXPECT_LE(p.abs().max().item<double>(), bound) << what;
  EXPECT_GT(p.abs().max().item<double>(), 0.9 * bound) << what;
  EXPECT_NEAR(p.mean().item<double>(), 0.0, 5 * bound / std::sqrt(3 * n)) << what;
  EXPECT_NEAR(p.var().item<double>(), b2 / 3.0, 5 * b2 * std::sqrt(4.0 / 45.0 / n)) << what;
}

TEST(Baselines, PyTorchNamesShapesAndInitBounds) {
  // §0.3 / §2.3: nn.GRU and nn.RNN, every weight and bias U(±1/√H), gate-stacked rows.
  const int64_t D = 7, H = 64;
  const double bound = 1.0 / std::sqrt(static_cast<double>(H));
  torch::manual_seed(5);
  GRUMixer gru(D, H);
  ElmanMixer elman(D, H, true);
  for (auto [m, gates] : {std::make_pair(static_cast<Mixer*>(gru.get()), int64_t{3}),
                          std::make_pair(static_cast<Mixer*>(elman.get()), int64_t{1})}) {
    auto params = m->named_parameters();
    ASSERT_EQ(params.size(), 4u);
    EXPECT_EQ(params["weight_ih_l0"].sizes(), (std::vector<int64_t>{gates * H, D}));
    EXPECT_EQ(params["weight_hh_l0"].sizes(), (std::vector<int64_t>{gates * H, H}));
    EXPECT_EQ(params["bias_ih_l0"].sizes(), (std::vector<int64_t>{gates * H}));
    EXPECT_EQ(params["bias_hh_l0"].sizes(), (std::vector<int64_t>{gates * H}));
    for (auto& kv : params) expect_uniform(kv.value(), bound, kv.key());
  }
  // The MLP: PyTorch Linear defaults, U(±1/√fan_in) for weight and bias.
  MLPMixer mlp(64, 256);
  auto params = mlp->named_parameters();
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params["fc1.weight"].sizes(), (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(params["fc2.weight"].sizes(), (std::vector<int64_t>{64, 256}));
  expect_uniform(params["fc1.weight"], 1.0 / 8.0, "fc1.weight");
  expect_uniform(params["fc1.bias"], 1.0 / 8.0, "fc1.bias");
  expect_uniform(params["fc2.weight"], 1.0 / 16.0, "fc2.weight");
  expect_uniform(params["fc2.bias"], 1.0 / 16.0, "fc2.bias");
}

TEST(Baselines, ElmanActivationIsTheChosenOne) {
  // relu: every hidden state is ≥ 0 and some are exactly 0; tanh: some are negative.
  auto x = torch::randn({4, 9, kIn}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto relu = make(Kind::kElmanRelu, torch::kFloat64, 1)->forward(x);
  EXPECT_GE(relu.min().item<double>(), 0.0);
  EXPECT_GT((relu == 0).sum().item<int64_t>(), 0);
  auto tanh = make(Kind::kElmanTanh, torch::kFloat64, 1)->forward(x);
  EXPECT_LT(tanh.min().item<double>(), 0.0);
  EXPECT_LE(tanh.abs().max().item<double>(), 1.0);
}

TEST(Baselines, InPlaceParameterChangesReachTheFastPath) {
  // The registered tensors are the wrapped module's own: an in-place edit reaches F.
  for (auto k : {Kind::kGRU, Kind::kElmanTanh}) {
    auto m = make(k, torch::kFloat64, 6);
    torch::NoGradGuard no_grad;
    auto x = torch::randn({2, 5, kIn}, torch::kFloat64);
    auto before = m->forward(x);
    m->named_parameters()["bias_hh_l0"].add_(0.5);
    auto after = m->forward(x);
    EXPECT_FALSE(torch::equal(before, after)) << kind_name(k);
    EXPECT_TRUE(seqlab::testing::close(after, m->reference(x), 1e-11, 1e-12, kind_name(k)));
  }
}

TEST(Baselines, OutsideFrameworkStateSizeAndErrors) {
  for (auto k : {Kind::kGRU, Kind::kElmanTanh, Kind::kElmanRelu, Kind::kLSTM, Kind::kMLP}) {
    auto m = make(k, torch::kFloat32, 1);
    EXPECT_EQ(m->structure(), Structure::kNotInFramework) << kind_name(k);
    const int64_t expected = k == Kind::kMLP ? 0 : k == Kind::kLSTM ? 2 * kHidden : kHidden;
    EXPECT_EQ(m->state_size(0), expected) << kind_name(k);
    EXPECT_EQ(m->state_size(1000), expected) << kind_name(k);
    EXPECT_THROW(m->coefficients(torch::randn({1, 2, kIn})), std::logic_error) << kind_name(k);
    EXPECT_THROW(m->values(torch::randn({1, 2, kIn})), std::logic_error) << kind_name(k);
    EXPECT_THROW(m->forward(torch::randn({1, 2, kIn + 1})), c10::Error) << kind_name(k);
    auto state = m->initial_state(2, torch::TensorOptions().dtype(torch::kFloat32));
    EXPECT_THROW(m->step(state, torch::randn({2, kIn + 1})), c10::Error) << kind_name(k);
  }
  EXPECT_THROW(GRUMixer(3, 0), seqlab::UserError);
  EXPECT_THROW(GRUMixer(0, 3), seqlab::UserError);
  EXPECT_THROW(ElmanMixer(3, 0), seqlab::UserError);
  EXPECT_THROW(MLPMixer(3, 0), seqlab::UserError);
  EXPECT_THROW(MLPMixer(0, 3), seqlab::UserError);
}

}  // namespace baselines_test
}  // namespace seqlab::mixers
