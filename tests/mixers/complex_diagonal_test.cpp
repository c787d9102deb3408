// Complex-diagonal selective SSM (spec/mixers.md §2.2.21): the equivalence contract (§6) between
// forward (fused scan), reference (plain complex loop) and coefficients (explicit propagated
// impulses), finite differences of every layer parameter, commutativity without B (§6.5 #14),
// causality, the x0 buffer and the initialization.
#include "seqlab/mixers/complex_diagonal.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/testing.h"

namespace seqlab::mixers {
namespace complex_diagonal_test {

ComplexDiagonalSSM make_mixer(int64_t D, int64_t N, bool with_b, double scale,
                              torch::ScalarType dtype, uint64_t seed) {
  torch::manual_seed(seed);
  ComplexDiagonalSSM m(ComplexDiagonalSSMOptions(D, N).with_b(with_b).scale_eigv(scale));
  m->to(dtype);
  return m;
}

// States from the explicit path: Σ_j C[b, m, i, j] rearranged to (B, T, 2N).
torch::Tensor states_from_coefficients(ComplexDiagonalSSM& m, const torch::Tensor& u) {
  return m->coefficients(u).sum(-1).permute({0, 2, 1});
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

struct MixerCase {
  bool with_b;
  double scale;
  int64_t T, N;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const MixerCase& c) {
  return os << (c.with_b ? "withB" : "noB") << "_s" << static_cast<int>(c.scale * 100) << "_T"
            << c.T << "_N" << c.N << (c.dtype == torch::kFloat64 ? "_f64" : "_f32");
}

std::vector<MixerCase> mixer_cases() {
  std::vector<MixerCase> cases;
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (int64_t T : {1, 2, 7, 41})
      for (int64_t N : {1, 5}) {
        cases.push_back({false, 1.0, T, N, dtype});
        cases.push_back({true, 1.0, T, N, dtype});
        cases.push_back({true, 0.9, T, N, dtype});
      }
  return cases;
}

class ComplexDiagonalContract : public ::testing::TestWithParam<MixerCase> {};

TEST_P(ComplexDiagonalContract, ForwardReferenceCoefficientsAgreeForwardAndBackward) {
  const auto& c = GetParam();
  const int64_t B = 2, D = 3;
  auto m = make_mixer(D, c.N, c.with_b, c.scale, c.dtype, 10 + c.T + c.N);
  auto u = torch::randn({B, c.T, D}, torch::TensorOptions().dtype(c.dtype));
  auto w1 = torch::randn({B, c.T, 2 * c.N}, u.options());
  auto w2 = torch::randn({B, c.T, 2 * c.N}, u.options());

  // One set of gradients per path: every parameter and the input.
  auto params = m->named_parameters();
  auto grads = [&](const std::function<torch::Tensor(const torch::Tensor&)>& path,
                   torch::Tensor* y_out) {
    m->zero_grad();
    auto x = u.clone().requires_grad_(true);
    auto y = path(x);
    *y_out = y.detach();
    testing::contract_loss(y, w1, w2).backward();
    std::vector<torch::Tensor> g;
    for (auto& p : params) g.push_back(p.value().grad().clone());
    g.push_back(x.grad().clone());
    return g;
  };
  torch::Tensor y_f, y_r, y_e;
  auto g_f = grads([&](const torch::Tensor& x) { return m->forward(x); }, &y_f);
  auto g_r = grads([&](const torch::Tensor& x) { return m->reference(x); }, &y_r);
  auto g_e = grads([&](const torch::Tensor& x) { return states_from_coefficients(m, x); }, &y_e);

  ASSERT_EQ(y_f.sizes(), (std::vector<int64_t>{B, c.T, 2 * c.N}));
  EXPECT_TRUE(testing::close(y_r, y_e, r_vs_e(c.dtype).rtol, r_vs_e(c.dtype).atol, "R vs E"));
  EXPECT_TRUE(testing::close(y_f, y_e, f_vs_e(c.dtype).rtol, f_vs_e(c.dtype).atol, "F vs E"));
  std::vector<std::string> names;
  for (auto& p : params) names.push_back(p.key());
  names.push_back("input");
  for (size_t i = 0; i < names.size(); ++i) {
    const auto t = bwd(c.dtype);
    EXPECT_TRUE(testing::close(g_f[i], g_e[i], t.rtol, t.atol, "F vs E grad " + names[i]));
    EXPECT_TRUE(testing::close(g_r[i], g_e[i], t.rtol, t.atol, "R vs E grad " + names[i]));
  }
}

INSTANTIATE_TEST_SUITE_P(Grid, ComplexDiagonalContract, ::testing::ValuesIn(mixer_cases()),
                         [](const ::testing::TestParamInfo<MixerCase>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

TEST(ComplexDiagonal, CoefficientLayoutAndExactCausalZeros) {
  const int64_t B = 2, T = 6, N = 3, D = 4;
  auto m = make_mixer(D, N, true, 0.8, torch::kFloat64, 7);
  auto u = torch::randn({B, T, D}, torch::kFloat64);
  auto coef = m->coefficients(u);
  ASSERT_EQ(coef.sizes(), (std::vector<int64_t>{B, 2 * N, T, T + 1}));
  // Column j + 1 is zero for j > i (token j has not arrived at step i).
  for (int64_t i = 0; i + 1 < T; ++i)
    EXPECT_EQ(coef.select(2, i).narrow(-1, i + 2, T - i - 1).abs().max().item<double>(), 0.0);
  // Column 0 is Φ(i, 0) x_0 and the diagonal column is k_i = B e_i: check both directly.
  torch::NoGradGuard no_grad;
  auto e = m->embedding->forward(u);
  auto k_re = torch::matmul(e, m->B_re.t()), k_im = torch::matmul(e, m->B_im.t());
  for (int64_t i = 0; i < T; ++i) {
    auto diag = coef.select(2, i).select(-1, i + 1);  // (B, 2N)
    EXPECT_TRUE(testing::close(diag, torch::cat({k_re.select(1, i), k_im.select(1, i)}, -1), 1e-14,
                               1e-15, "k_i"));
  }
  auto lam = m->transition(u) * 0.8;  // (B, T, N, 2)
  auto x0 = m->initial_state();
  auto phi_re = x0.select(-1, 0).expand({B, N}).clone(),
       phi_im = x0.select(-1, 1).expand({B, N}).clone();
  for (int64_t i = 0; i < T; ++i) {
    auto lr = lam.select(1, i).select(-1, 0), li = lam.select(1, i).select(-1, 1);
    auto nr = lr * phi_re - li * phi_im, ni = lr * phi_im + li * phi_re;
    phi_re = nr;
    phi_im = ni;
    EXPECT_TRUE(testing::close(coef.select(2, i).select(-1, 0), torch::cat({phi_re, phi_im}, -1),
                               1e-12, 1e-13, "Phi(i,0) x0"));
  }
}

// Inputs and a mixer whose ReLU arguments stay ≥ 100h away from their kinks (§6.4) and whose |z|
// stays ≥ 0.05: the third derivative of z/|z| grows like |z|^-3, so central differences with
// h = 1e-6 need that margin to reach the 1e-6 tolerance.
void resample_away_from_kinks(ComplexDiagonalSSM& m, torch::Tensor& u, int64_t D, int64_t N,
                              bool with_b) {
  for (uint64_t seed = 100;; ++seed) {
    m = make_mixer(D, N, with_b, with_b ? 0.9 : 1.0, torch::kFloat64, seed);
    u = torch::randn({2, 7, D}, torch::kFloat64);
    torch::NoGradGuard no_grad;
    auto e = m->embedding->forward(u);
    auto lin0 = m->eig_mlp->ptr<torch::nn::LinearImpl>(0);
    auto pre = lin0->forward(e);
    auto out = m->eig_mlp->forward(e);
    auto z_mod = torch::sqrt(out.narrow(-1, 0, N).pow(2) + out.narrow(-1, N, N).pow(2));
    if (pre.abs().min().item<double>() > 1e-4 && z_mod.min().item<double>() > 0.05) return;
  }
}

class ComplexDiagonalGradcheck : public ::testing::TestWithParam<bool> {};

TEST_P(ComplexDiagonalGradcheck, EveryLayerParameterAndTheInput) {
  const bool with_b = GetParam();
  const int64_t D = 3, N = 3;
  ComplexDiagonalSSM m{nullptr};
  torch::Tensor u;
  resample_away_from_kinks(m, u, D, N, with_b);
  u.requires_grad_(true);
  auto w1 = torch::randn({2, 7, 2 * N}, torch::kFloat64);
  auto w2 = torch::randn({2, 7, 2 * N}, torch::kFloat64);
  std::vector<torch::Tensor> params{u};
  std::vector<std::string> names{"input"};
  for (auto& p : m->named_parameters()) {
    params.push_back(p.value());
    names.push_back(p.key());
  }
  EXPECT_EQ(params.size(), with_b ? 8u : 6u);
  auto loss = [&] { return testing::contract_loss(m->forward(u), w1, w2); };
  EXPECT_TRUE(testing::gradcheck(loss, params, names));
}

INSTANTIATE_TEST_SUITE_P(B, ComplexDiagonalGradcheck, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "withB" : "noB");
                         });

TEST(ComplexDiagonal, WithoutBLastStateIsPermutationInvariant) {
  // §6.5 #14: without B, x_T = x_0 Π_t λ_t depends only on the multiset of inputs (fp64, 1e-12).
  const int64_t B = 3, T = 9, D = 4, N = 6;
  for (bool with_b : {false, true}) {
    auto m = make_mixer(D, N, with_b, 1.0, torch::kFloat64, 21);
    torch::manual_seed(22);
    auto u = torch::randn({B, T, D}, torch::kFloat64);
    torch::NoGradGuard no_grad;
    auto last = m->forward(u).select(1, T - 1);
    auto last_ref = m->reference(u).select(1, T - 1);
    double max_change = 0;
    for (int trial = 0; trial < 5; ++trial) {
      auto perm = torch::randperm(T, torch::kInt64);
      auto up = u.index_select(1, perm);
      auto permuted = m->forward(up).select(1, T - 1);
      if (!with_b) {
        EXPECT_TRUE(testing::close(permuted, last, 1e-12, 0.0, "F last state after permutation"));
        EXPECT_TRUE(testing::close(m->reference(up).select(1, T - 1), last_ref, 1e-12, 0.0,
                                   "R last state after permutation"));
      }
      max_change = std::max(max_change, (permuted - last).abs().max().item<double>());
    }
    // With B the order matters: the same permutations must move the last state.
    if (with_b) {
      EXPECT_GT(max_change, 1e-3);
    }
  }
}

TEST(ComplexDiagonal, Causality) {
  // Perturbing u_t leaves every output before t unchanged in all three paths (§6.3).
  const int64_t B = 2, T = 8, D = 3, N = 4, t0 = 5;
  for (bool with_b : {false, true}) {
    auto m = make_mixer(D, N, with_b, 1.0, torch::kFloat64, 31);
    auto u = torch::randn({B, T, D}, torch::kFloat64);
    auto u2 = u.clone();
    u2.select(1, t0).add_(torch::randn({B, D}, torch::kFloat64));
    torch::NoGradGuard no_grad;
    auto paths = std::vector<std::function<torch::Tensor(const torch::Tensor&)>>{
        [&](const torch::Tensor& x) { return m->forward(x); },
        [&](const torch::Tensor& x) { return m->reference(x); },
        [&](const torch::Tensor& x) { return states_from_coefficients(m, x); }};
    for (size_t p = 0; p < paths.size(); ++p) {
      auto y = paths[p](u), y2 = paths[p](u2);
      EXPECT_TRUE(torch::equal(y.narrow(1, 0, t0), y2.narrow(1, 0, t0))) << "path " << p;
      EXPECT_GT((y.select(1, t0) - y2.select(1, t0)).abs().max().item<double>(), 1e-6)
          << "path " << p;
    }
  }
}

TEST(ComplexDiagonal, UnitModulusAndScaleOnlyWithB) {
  const int64_t B = 2, T = 50, D = 3, N = 5;
  auto u = torch::randn({B, T, D}, torch::kFloat64);
  torch::NoGradGuard no_grad;
  // |λ_t| = 1, and without B |x_t| = |x_0| = 1 for every t.
  auto m = make_mixer(D, N, false, 0.5, torch::kFloat64, 41);
  auto lam = m->transition(u);
  auto lam_mod = torch::sqrt(lam.select(-1, 0).pow(2) + lam.select(-1, 1).pow(2));
  EXPECT_LE((lam_mod - 1).abs().max().item<double>(), 1e-15);
  auto y = m->forward(u);
  auto mod = torch::sqrt(y.narrow(-1, 0, N).pow(2) + y.narrow(-1, N, N).pow(2));
  EXPECT_LE((mod - 1).abs().max().item<double>(), 1e-13);
  // scale_eigv is stored but not applied without B: same seed, s = 0.5 vs s = 1 agree exactly.
  auto m1 = make_mixer(D, N, false, 1.0, torch::kFloat64, 41);
  EXPECT_TRUE(torch::equal(y, m1->forward(u)));
  // With B it multiplies λ: x_1 = s λ_1 x_0 + k_1.
  auto mb = make_mixer(D, N, true, 0.5, torch::kFloat64, 42);
  auto mb1 = make_mixer(D, N, true, 1.0, torch::kFloat64, 42);
  auto k = torch::cat({torch::matmul(mb->embedding->forward(u), mb->B_re.t()),
                       torch::matmul(mb->embedding->forward(u), mb->B_im.t())},
                      -1)
               .select(1, 0);
  auto y1 = mb->forward(u).select(1, 0), y1_unscaled = mb1->forward(u).select(1, 0);
  EXPECT_TRUE(testing::close(y1 - k, 0.5 * (y1_unscaled - k), 1e-13, 1e-14, "s·λ_1 x_0"));
}

TEST(ComplexDiagonal, EpsModulusGuardsZeroEigenvalueLogits) {
  // |z| = 0 gives NaN as in the reference (no ε); eps_modulus > 0 keeps the output finite (§3.4).
  const int64_t D = 3, N = 2;
  auto u = torch::randn({1, 4, D});
  for (double eps : {0.0, 1e-6}) {
    torch::manual_seed(51);
    ComplexDiagonalSSM m(ComplexDiagonalSSMOptions(D, N).eps_modulus(eps));
    torch::NoGradGuard no_grad;
    auto last = m->eig_mlp->ptr<torch::nn::LinearImpl>(2);
    last->weight.zero_();
    last->bias.zero_();
    auto y = m->forward(u);
    if (eps == 0.0) {
      EXPECT_TRUE(torch::isnan(y).any().item<bool>());
    } else {
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    }
  }
}

TEST(ComplexDiagonal, InitialStateIsAnUntrainedSavedBuffer) {
  const int64_t D = 3, N = 8;
  auto m = make_mixer(D, N, true, 1.0, torch::kFloat32, 61);
  ASSERT_TRUE(m->named_buffers().contains("x0_phase"));
  EXPECT_FALSE(m->named_parameters().contains("x0_phase"));
  for (auto& p : m->parameters()) EXPECT_FALSE(p.is_same(m->x0_phase));
  EXPECT_FALSE(m->x0_phase.requires_grad());
  // Shared by the batch: every sequence starts from the same x_0.
  auto u = torch::randn({4, 3, D});
  auto y = m->forward(u);
  y.sum().backward();
  EXPECT_FALSE(m->x0_phase.grad().defined());
  auto zero = torch::zeros({4, 1, D});
  auto first = m->forward(zero).select(1, 0);
  for (int64_t b = 1; b < 4; ++b) EXPECT_TRUE(torch::equal(first[b], first[0]));
  // An optimizer step leaves it unchanged.
  const auto before = m->x0_phase.clone();
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(0.1));
  opt.step();
  EXPECT_TRUE(torch::equal(before, m->x0_phase));
  // Saved and restored with the module.
  std::stringstream stream;
  torch::save(m, stream);
  auto other = make_mixer(D, N, true, 1.0, torch::kFloat32, 62);
  ASSERT_FALSE(torch::equal(other->x0_phase, m->x0_phase));
  torch::load(other, stream);
  EXPECT_TRUE(torch::equal(other->x0_phase, m->x0_phase));
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(other->forward(u), m->forward(u)));
}

TEST(ComplexDiagonal, InitializationBoundsAndInterface) {
  const int64_t D = 5, N = 32;
  auto m = make_mixer(D, N, true, 1.0, torch::kFloat32, 71);
  const int64_t E = D;
  auto check_uniform = [](const torch::Tensor& t, double bound, const std::string& what) {
    const double mx = t.abs().max().item<double>();
    EXPECT_LE(mx, bound) << what;
    EXPECT_GE(mx, 0.8 * bound) << what << " does not fill its range";
  };
  check_uniform(m->B_re, std::sqrt(3.0) / std::sqrt(double(N + E)), "B_re");
  check_uniform(m->B_im, std::sqrt(3.0) / std::sqrt(double(N + E)), "B_im");
  EXPECT_EQ(m->B_re.sizes(), (std::vector<int64_t>{N, E}));
  auto p = m->named_parameters();
  EXPECT_EQ(p["embedding.weight"].sizes(), (std::vector<int64_t>{E, D}));
  check_uniform(p["embedding.weight"], 1 / std::sqrt(double(D)), "embedding.weight");
  EXPECT_EQ(p["eig_mlp.0.weight"].sizes(), (std::vector<int64_t>{4 * N, E}));
  check_uniform(p["eig_mlp.0.weight"], 1 / std::sqrt(double(E)), "eig_mlp.0.weight");
  check_uniform(p["eig_mlp.0.bias"], 1 / std::sqrt(double(E)), "eig_mlp.0.bias");
  EXPECT_EQ(p["eig_mlp.2.weight"].sizes(), (std::vector<int64_t>{2 * N, 4 * N}));
  check_uniform(p["eig_mlp.2.weight"], 1 / std::sqrt(double(4 * N)), "eig_mlp.2.weight");
  check_uniform(p["eig_mlp.2.bias"], 1 / std::sqrt(double(4 * N)), "eig_mlp.2.bias");
  EXPECT_FALSE(p.contains("embedding.bias"));
  // ϕ ~ U[0, 2π).
  EXPECT_EQ(m->x0_phase.sizes(), (std::vector<int64_t>{N}));
  EXPECT_GE(m->x0_phase.min().item<double>(), 0.0);
  EXPECT_LT(m->x0_phase.max().item<double>(), 2 * M_PI + 1e-6);
  EXPECT_GT(m->x0_phase.max().item<double>() - m->x0_phase.min().item<double>(), M_PI);
  // Without B there is no B parameter.
  auto nb = make_mixer(D, N, false, 1.0, torch::kFloat32, 72);
  EXPECT_FALSE(nb->named_parameters().contains("B_re"));
  EXPECT_FALSE(nb->named_parameters().contains("B_im"));
  EXPECT_EQ(nb->named_parameters().size(), 5u);
  // Interface.
  EXPECT_EQ(m->state_size(0), 2 * N);
  EXPECT_EQ(m->state_size(1000), 2 * N);
  EXPECT_EQ(m->structure(), Structure::kComplexDiagonal);
  try {
    m->forward(torch::randn({2, 3, D + 1}));
    ADD_FAILURE() << "wrong input width accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("(B, T, D) with D = 5"), std::string::npos) << e.what();
  }
}

}  // namespace complex_diagonal_test
}  // namespace seqlab::mixers
