// SD-SSM (spec/mixers.md §2.2.20): the equivalence contract (§6) between forward (fused dense
// scan), reference (plain loop) and coefficients (propagated impulses), forward and backward; the
// one-hot fast path against the generic path (§3.2.6, §6.5 #13); finite differences of every
// layer parameter; column normalization of automaton matrices (§6.5 #13); an exact parity
// automaton; causality; initialization and state size.
#include "seqlab/mixers/sdssm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/core/dense_scan.h"

namespace seqlab::mixers {
namespace sdssm_test {

SDSSM make_mixer(int64_t D, int64_t N, int64_t K, double p, torch::ScalarType dtype,
                 uint64_t seed) {
  torch::manual_seed(seed);
  SDSSM m(SDSSMOptions(D, N, K).p(p));
  m->to(dtype);
  return m;
}

torch::Tensor one_hot(const torch::Tensor& ids, int64_t D, torch::ScalarType dtype) {
  return torch::one_hot(ids, D).to(dtype);
}

// States from the explicit path: Σ_j coef[b, :, i, j] rearranged to (B, T, N).
torch::Tensor states_from_coefficients(SDSSM& m, const torch::Tensor& u) {
  return m->coefficients(u).sum(-1).transpose(1, 2);
}

struct Tol {
  double rtol, atol;
};
// §6.2 tolerances.
Tol r_vs_e(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-12, 1e-13} : Tol{1e-5, 1e-6};
}
Tol f_vs_e(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-11, 1e-12} : Tol{1e-4, 1e-5};
}
Tol bwd(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-10, 1e-11} : Tol{1e-3, 1e-5};
}

// Gradients of L = contract_loss(path(u)) with respect to every parameter (in registration order)
// and, when it requires grad, u (last).
std::vector<torch::Tensor> grads_of(SDSSM& m, const torch::Tensor& u,
                                    const std::function<torch::Tensor()>& path,
                                    const torch::Tensor& w1, const torch::Tensor& w2) {
  m->zero_grad();
  if (u.requires_grad() && u.grad().defined()) u.mutable_grad().zero_();
  testing::contract_loss(path(), w1, w2).backward();
  std::vector<torch::Tensor> out;
  for (const auto& p : m->parameters()) out.push_back(p.grad().clone());
  if (u.requires_grad()) out.push_back(u.grad().clone());
  return out;
}

// Smallest |Ā_t| entry over the inputs u (before normalization): the kinks of |v|^p (§6.4).
double min_abs_mixture(SDSSM& m, const torch::Tensor& u) {
  torch::NoGradGuard no_grad;
  const int64_t K = m->options().dict_size(), N = m->options().state_size();
  auto s = torch::softmax(m->selector->forward(u), -1);
  return torch::matmul(s, m->A_dict.reshape({K, N * N})).abs().min().item<double>();
}

struct MixerCase {
  double p;
  bool one_hot;  // one-hot inputs, else dense random inputs (generic path only)
  int64_t T;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const MixerCase& c) {
  return os << "p" << static_cast<int>(c.p * 10) << (c.one_hot ? "_onehot" : "_dense") << "_T"
            << c.T << (c.dtype == torch::kFloat64 ? "_f64" : "_f32");
}

std::vector<MixerCase> all_cases() {
  std::vector<MixerCase> cases;
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (double p : {1.0, 1.2, 2.0})
      for (bool oh : {true, false})
        for (int64_t T : {1, 2, 7, 20}) cases.push_back({p, oh, T, dtype});
  return cases;
}

constexpr int64_t kB = 2, kD = 3, kN = 5, kK = 4;

class SDSSMContractTest : public ::testing::TestWithParam<MixerCase> {
 protected:
  torch::Tensor make_input(uint64_t seed) const {
    const auto& c = GetParam();
    torch::manual_seed(seed);
    if (c.one_hot) return one_hot(torch::randint(0, kD, {kB, c.T}, torch::kInt64), kD, c.dtype);
    return torch::randn({kB, c.T, kD}, torch::kFloat64).to(c.dtype);
  }
};

TEST_P(SDSSMContractTest, ForwardReferenceAndCoefficientsAgree) {
  const auto& c = GetParam();
  auto m = make_mixer(kD, kN, kK, c.p, c.dtype, 11 + c.T);
  auto u = make_input(100 + c.T);
  torch::NoGradGuard no_grad;
  const auto x_f = m->forward(u);
  const auto x_r = m->reference(u);
  const auto coef = m->coefficients(u);
  ASSERT_EQ(coef.sizes(), (std::vector<int64_t>{kB, kN, c.T, c.T}));
  const auto x_e = coef.sum(-1).transpose(1, 2);
  ASSERT_EQ(x_f.sizes(), (std::vector<int64_t>{kB, c.T, kN}));
  EXPECT_TRUE(testing::close(x_r, x_e, r_vs_e(c.dtype).rtol, r_vs_e(c.dtype).atol, "R vs E"));
  EXPECT_TRUE(testing::close(x_f, x_e, f_vs_e(c.dtype).rtol, f_vs_e(c.dtype).atol, "F vs E"));
  // Strictly causal coefficient matrix: coef[..., i, j] = 0 exactly for j > i.
  auto upper = torch::triu(torch::ones({c.T, c.T}, torch::kBool), 1);
  EXPECT_EQ(coef.masked_select(upper).abs().sum().item<double>(), 0.0);
}

TEST_P(SDSSMContractTest, BackwardMatchesAutogradThroughCoefficients) {
  const auto& c = GetParam();
  auto m = make_mixer(kD, kN, kK, c.p, c.dtype, 21 + c.T);
  auto u = make_input(200 + c.T);
  if (!c.one_hot) u.requires_grad_(true);
  auto w1 = torch::randn({kB, c.T, kN}, torch::kFloat64).to(c.dtype);
  auto w2 = torch::randn({kB, c.T, kN}, torch::kFloat64).to(c.dtype);
  auto fast = grads_of(
      m, u, [&] { return m->forward(u); }, w1, w2);
  auto expl = grads_of(
      m, u, [&] { return states_from_coefficients(m, u); }, w1, w2);
  const std::vector<std::string> names{"A_dict", "selector.weight", "selector.bias", "B.weight",
                                       "u"};
  ASSERT_EQ(fast.size(), expl.size());
  for (size_t i = 0; i < fast.size(); ++i) {
    EXPECT_TRUE(testing::close(fast[i], expl[i], bwd(c.dtype).rtol, bwd(c.dtype).atol, names[i]));
  }
}

INSTANTIATE_TEST_SUITE_P(Grid, SDSSMContractTest, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<MixerCase>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

class SDSSMPTest : public ::testing::TestWithParam<double> {};

// §6.5 #13: the one-hot fast path (D matrices gathered by token) equals the generic path on
// one_hot(ids), forward and every parameter gradient.
TEST_P(SDSSMPTest, FastPathEqualsGenericPath) {
  const double p = GetParam();
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    const bool f64 = dtype == torch::kFloat64;
    auto m = make_mixer(kD, 8, kK, p, dtype, 31);
    auto ids = torch::randint(0, kD, {3, 17}, torch::kInt64);
    auto u = one_hot(ids, kD, dtype);
    auto w1 = torch::randn({3, 17, 8}, torch::kFloat64).to(dtype);
    auto w2 = torch::randn({3, 17, 8}, torch::kFloat64).to(dtype);
    torch::Tensor x_fast, x_gen;
    auto fast = grads_of(
        m, u, [&] { return x_fast = m->forward_tokens(ids); }, w1, w2);
    auto gen = grads_of(
        m, u, [&] { return x_gen = m->forward(u); }, w1, w2);
    const double rtol = f64 ? 1e-12 : 1e-5, atol = f64 ? 1e-13 : 1e-6;
    EXPECT_TRUE(testing::close(x_fast, x_gen, rtol, atol, "x"));
    for (size_t i = 0; i < fast.size(); ++i) {
      EXPECT_TRUE(
          testing::close(fast[i], gen[i], f64 ? 1e-12 : 1e-4, atol, "grad " + std::to_string(i)));
    }
  }
}

// §6.4: central differences in fp64 of every layer parameter through the fast path.
TEST_P(SDSSMPTest, FiniteDifferencesFastPath) {
  const double p = GetParam();
  auto ids = torch::randint(0, kD, {2, 9}, torch::kInt64);
  uint64_t seed = 41;
  auto m = make_mixer(kD, 4, 3, p, torch::kFloat64, seed);
  // Resample until every mixture entry is ≥ 100h away from the kink of |v|^p at 0 (§6.4).
  while (min_abs_mixture(m, torch::eye(kD, torch::kFloat64)) < 1e-4) {
    m = make_mixer(kD, 4, 3, p, torch::kFloat64, ++seed);
  }
  auto w1 = torch::randn({2, 9, 4}, torch::kFloat64);
  auto w2 = torch::randn({2, 9, 4}, torch::kFloat64);
  auto loss = [&] { return testing::contract_loss(m->forward_tokens(ids), w1, w2); };
  EXPECT_TRUE(testing::gradcheck(loss, m->parameters(),
                                 {"A_dict", "selector.weight", "selector.bias", "B.weight"}));
}

// §6.4 for the generic path with dense (non-one-hot) inputs, the input included.
TEST_P(SDSSMPTest, FiniteDifferencesGenericPathDenseInput) {
  const double p = GetParam();
  uint64_t seed = 51;
  auto m = make_mixer(kD, 4, 3, p, torch::kFloat64, seed);
  auto u = torch::randn({2, 6, kD}, torch::kFloat64);
  while (min_abs_mixture(m, u) < 1e-4) {
    m = make_mixer(kD, 4, 3, p, torch::kFloat64, ++seed);
    u = torch::randn({2, 6, kD}, torch::kFloat64);
  }
  u.requires_grad_(true);
  auto w1 = torch::randn({2, 6, 4}, torch::kFloat64);
  auto w2 = torch::randn({2, 6, 4}, torch::kFloat64);
  auto params = m->parameters();
  params.push_back(u);
  auto loss = [&] { return testing::contract_loss(m->forward(u), w1, w2); };
  EXPECT_TRUE(testing::gradcheck(loss, params,
                                 {"A_dict", "selector.weight", "selector.bias", "B.weight", "u"}));
}

// §6.5 #13 and §2.2.20 "Properties": a column-one-hot (automaton) matrix has unit Lp columns for
// every p, so the normalization returns it unchanged; for p = 1 every normalized column has ℓ1
// norm 1, and for p > 1 at most N^{1−1/p}.
TEST_P(SDSSMPTest, ColumnNormalizationProperties) {
  const double p = GetParam();
  const int64_t N = 6;
  auto delta = torch::randint(0, N, {5, N}, torch::kInt64);  // 5 random automata on N states
  auto automaton = torch::zeros({5, N, N}, torch::kFloat64);
  automaton.scatter_(1, delta.unsqueeze(1), 1.0);  // A[δ(c), c] = 1
  EXPECT_TRUE(torch::equal(column_lp_normalize(automaton, p), automaton));
  EXPECT_TRUE(testing::close(column_lp_normalize(automaton, p), automaton, 1e-12, 0.0));

  auto a = torch::randn({4, N, N}, torch::kFloat64);
  const auto l1 = column_lp_normalize(a, p).abs().sum(-2);  // (4, N): ℓ1 norm per column
  if (p == 1.0) {
    EXPECT_TRUE(testing::close(l1, torch::ones_like(l1), 1e-12, 1e-13, "l1"));
  } else {
    EXPECT_LE(l1.max().item<double>(), std::pow(N, 1.0 - 1.0 / p) * (1 + 1e-12));
  }
}

// An exact automaton: with one-hot selection (logits ±1000 give exact 0/1 softmax weights) and
// the dictionary {I, swap, reset-to-state-0}, x_t is the one-hot parity state, exactly, in both
// paths and both dtypes. Token 2 (start) is first: x_1 = B u_1 = e_0.
TEST_P(SDSSMPTest, ExactParityAutomaton) {
  const double p = GetParam();
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    auto m = make_mixer(3, 2, 3, p, dtype, 61);
    {
      torch::NoGradGuard no_grad;
      auto opts = torch::TensorOptions().dtype(dtype);
      m->A_dict.copy_(torch::tensor({1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0}, opts).reshape({3, 2, 2}));
      m->selector->weight.copy_(1000 * torch::eye(3, opts));
      m->selector->bias.zero_();
      m->B->weight.copy_(torch::tensor({0, 0, 1, 0, 0, 0}, opts).reshape({2, 3}));
    }
    auto ids = torch::randint(0, 2, {4, 50}, torch::kInt64);
    ids.select(1, 0).fill_(2);
    auto parity = torch::cumsum(ids.narrow(1, 1, 49), 1).remainder(2);
    auto state = torch::cat({torch::zeros({4, 1}, torch::kInt64), parity}, 1);
    auto expected = torch::one_hot(state, 2).to(dtype);
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(m->forward_tokens(ids), expected)) << "fast path, p = " << p;
    EXPECT_TRUE(torch::equal(m->forward(one_hot(ids, 3, dtype)), expected)) << "generic, p = " << p;
    EXPECT_TRUE(torch::equal(m->reference(one_hot(ids, 3, dtype)), expected)) << "ref, p = " << p;
  }
}

INSTANTIATE_TEST_SUITE_P(P, SDSSMPTest, ::testing::Values(1.0, 1.2, 2.0),
                         [](const ::testing::TestParamInfo<double>& info) {
                           return "p" + std::to_string(static_cast<int>(info.param * 10));
                         });

// §6.3 "causality": perturbing u_t leaves every earlier state bit-identical in F, R and E.
TEST(SDSSM, Causality) {
  auto m = make_mixer(kD, kN, kK, 1.2, torch::kFloat64, 71);
  auto u = torch::randn({2, 12, kD}, torch::kFloat64);
  const int64_t t0 = 7;
  auto v = u.clone();
  v.select(1, t0).add_(torch::randn({2, kD}, torch::kFloat64));
  torch::NoGradGuard no_grad;
  const std::vector<std::pair<std::string, std::function<torch::Tensor(const torch::Tensor&)>>>
      paths{{"F", [&](const torch::Tensor& x) { return m->forward(x); }},
            {"R", [&](const torch::Tensor& x) { return m->reference(x); }},
            {"E", [&](const torch::Tensor& x) { return states_from_coefficients(m, x); }}};
  for (const auto& [name, f] : paths) {
    auto a = f(u), b = f(v);
    EXPECT_TRUE(torch::equal(a.narrow(1, 0, t0), b.narrow(1, 0, t0))) << name;
    EXPECT_FALSE(torch::equal(a.select(1, t0), b.select(1, t0))) << name;
  }
}

// §2.2.20 initialization: A_k entries i.i.d. U(±sqrt(3/N)); Linear layers PyTorch default
// U(±1/sqrt(fan_in)); B has no bias. Parameter names as in the PyTorch module.
TEST(SDSSM, InitializationAndParameterNames) {
  const int64_t D = 3, N = 64, K = 8;
  auto m = make_mixer(D, N, K, 1.2, torch::kFloat32, 81);
  std::vector<std::string> names;
  for (const auto& item : m->named_parameters()) names.push_back(item.key());
  EXPECT_EQ(names,
            (std::vector<std::string>{"A_dict", "selector.weight", "selector.bias", "B.weight"}));
  EXPECT_FALSE(m->B->bias.defined());
  ASSERT_EQ(m->A_dict.sizes(), (std::vector<int64_t>{K, N, N}));
  const double bound = std::sqrt(3.0 / N);  // 0.2165 for N = 64
  EXPECT_NEAR(bound, 0.2165, 1e-4);
  auto a = m->A_dict.detach().to(torch::kFloat64);
  EXPECT_LE(a.abs().max().item<double>(), bound);
  EXPECT_GE(a.abs().max().item<double>(), 0.99 * bound);
  EXPECT_NEAR(a.mean().item<double>(), 0.0, 0.005);
  EXPECT_NEAR(a.var().item<double>(), 1.0 / N, 0.03 / N);  // U(±b) has variance b²/3 = 1/N
  const double lin = 1.0 / std::sqrt(static_cast<double>(D));
  for (const auto& t : {m->selector->weight, m->selector->bias, m->B->weight}) {
    EXPECT_LE(t.abs().max().item<double>(), lin);
  }
}

TEST(SDSSM, StateSizeAndStructure) {
  auto m = make_mixer(kD, 13, kK, 1.2, torch::kFloat32, 91);
  EXPECT_EQ(m->state_size(0), 13);
  EXPECT_EQ(m->state_size(1000), 13);
  EXPECT_EQ(m->structure(), Structure::kDense);
}

// No ε by default: an all-zero dictionary column gives NaN, as in the reference; colnorm_eps > 0
// keeps it finite (the column stays 0).
TEST(SDSSM, ZeroColumnNaNWithoutEpsAndFiniteWithEps) {
  for (double eps : {0.0, 1e-6}) {
    torch::manual_seed(5);
    SDSSM m(SDSSMOptions(kD, 4, 2).p(1.2).colnorm_eps(eps));
    {
      torch::NoGradGuard no_grad;
      m->A_dict.select(2, 1).zero_();  // column 1 of every A_k
    }
    auto a = m->symbol_transitions();
    const bool finite = torch::isfinite(a).all().item<bool>();
    EXPECT_EQ(finite, eps > 0) << "eps = " << eps;
    if (eps > 0) {
      EXPECT_EQ(a.select(2, 1).abs().max().item<double>(), 0.0);
    }
  }
}

TEST(SDSSM, RejectsBadOptionsAndInputs) {
  EXPECT_THROW({ SDSSM bad(SDSSMOptions(3, 4, 2).p(0.5)); }, c10::Error);
  EXPECT_THROW({ SDSSM bad(SDSSMOptions(3, 0, 2)); }, c10::Error);
  EXPECT_THROW({ SDSSM bad(SDSSMOptions(3, 4, 0)); }, c10::Error);
  SDSSM m(SDSSMOptions(3, 4, 2));
  EXPECT_THROW(m->forward(torch::zeros({2, 5, 4})), c10::Error);
  try {
    m->forward_tokens(torch::full({2, 5}, 3, torch::kInt64));
    ADD_FAILURE() << "out-of-range token accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("token ids must be in [0, D) = [0, 3)"), std::string::npos)
        << e.what();
  }
}

// dense_scan_renormalized (spec/mixers.md §3.4): in double, where the raw scan does not overflow,
// each chunk of its output is the raw states divided by one power of two per sequence (1 for the
// first chunk), and a chunk as long as the sequence is the raw scan itself.
TEST(SDSSM, RenormalizedScanIsTheRawScanOverPowersOfTwoPerChunk) {
  torch::manual_seed(11);
  const int64_t batch = 3, T = 50, N = 5, M = 4, chunk = 8;
  const auto a = 1.5 * torch::rand({M, N, N}, torch::kFloat64);  // grows about 3.7x per step
  const auto idx = torch::randint(0, M, {batch, T}, torch::kInt64);
  const auto bu = torch::randn({batch, T, N}, torch::kFloat64);
  const auto raw = core::dense_scan(a, idx, bu);
  const auto hat = dense_scan_renormalized(a, idx, bu, chunk);
  ASSERT_EQ(hat.sizes(), raw.sizes());
  EXPECT_GT(raw.abs().max().item<double>(), 1e20);  // the rescaling has work to do
  EXPECT_LT(hat.abs().max().item<double>(), 1e7);   // at most one chunk of growth, 3.7^8 ≈ 4e4
  for (int64_t t0 = 0; t0 < T; t0 += chunk) {
    const int64_t len = std::min(chunk, T - t0);
    const auto ratio = raw.narrow(1, t0, len) / hat.narrow(1, t0, len);  // (B, len, N)
    for (int64_t b = 0; b < batch; ++b) {
      const auto r = ratio.select(0, b);
      const double first = r.flatten()[0].item<double>();
      const double e = std::log2(first);
      EXPECT_NEAR(e, std::round(e), 1e-9) << "chunk at " << t0 << ", sequence " << b;
      if (t0 == 0) {
        EXPECT_EQ(first, 1.0);
      }
      EXPECT_LT(((r / first) - 1.0).abs().max().item<double>(), 1e-9)
          << "chunk at " << t0 << ", sequence " << b;
    }
  }
  EXPECT_TRUE(torch::allclose(dense_scan_renormalized(a, idx, bu, T), raw, 0.0, 0.0));
  EXPECT_THROW(dense_scan_renormalized(a, idx, bu, 0), c10::Error);
}

}  // namespace sdssm_test
}  // namespace seqlab::mixers
