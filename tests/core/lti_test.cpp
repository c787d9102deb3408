// LTI diagonal class (spec/mixers.md §3.2.7, §3.3.5, §6.2-§6.5): the fused Vandermonde kernel vs
// complex LibTorch ops (forward and every gradient, shared and per-channel eigenvalues, every
// kernel_to_real), central differences in double for every kernel and convolution input, the
// phase accuracy at l ≈ 10^6 against a long-double evaluation, FFT convolution = direct causal
// convolution = recurrent scan (§6.5 item 15) at T a power of two and not, Lk < T and Lk = T,
// the bidirectional layout = the explicit two-sided sum, the FFT backward vs autograd through
// the direct convolution, and bit-identical results at 1 and 2 threads.
#include "seqlab/core/lti.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/util/error.h"

namespace seqlab::core {
namespace lti_test {

using seqlab::testing::close;

torch::TensorOptions f64() {
  return torch::TensorOptions().dtype(torch::kFloat64);
}

// Log-eigenvalues s = a + ib with |λ| = exp(a) ∈ [0.9, 1) and phases over (−π, 3π): rows = 1
// (shared, shape (M, 2)) or H (per channel, (H, M, 2)).
torch::Tensor random_s(int64_t rows, int64_t M, bool shared, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto a = -0.1 * torch::rand({rows, M}, gen, f64());
  auto b = -M_PI + 4 * M_PI * torch::rand({rows, M}, gen, f64());
  auto s = torch::stack({a, b}, -1);
  return shared ? s.squeeze(0) : s;
}

torch::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn(shape, gen, f64());
}

const std::vector<KernelToReal> kModes = {KernelToReal::kReal, KernelToReal::kImag,
                                          KernelToReal::kSum, KernelToReal::kProd,
                                          KernelToReal::kRealProd};

struct KernelCase {
  bool shared;
  KernelToReal mode;
};

std::ostream& operator<<(std::ostream& os, const KernelCase& c) {
  return os << (c.shared ? "shared_" : "per_channel_") << kernel_to_real_name(c.mode);
}

class LtiKernel : public ::testing::TestWithParam<KernelCase> {};

// C = 2, H = 3, M = 21 (a full group of 16 or 8 modes plus a ragged one), L = 300 (two tiles of
// 128 and a tail).
TEST_P(LtiKernel, FusedMatchesReferenceForwardAndBackward) {
  const auto c = GetParam();
  const int64_t C = 2, H = 3, M = 21, L = 300;
  auto s = random_s(c.shared ? 1 : H, M, c.shared, 1).requires_grad_(true);
  auto W = randn({C, H, M, 2}, 2).requires_grad_(true);
  auto g = randn({C, H, L}, 3);
  auto k_ref = vandermonde_kernel_reference(s, W, L, c.mode);
  auto k = vandermonde_kernel(s, W, L, c.mode);
  EXPECT_TRUE(close(k, k_ref, 1e-12, 1e-13, "fp64 kernel"));
  auto gr = torch::autograd::grad({k_ref}, {s, W}, {g});
  auto gf = torch::autograd::grad({k}, {s, W}, {g});
  EXPECT_TRUE(close(gf[0], gr[0], 1e-10, 1e-11, "ds"));
  EXPECT_TRUE(close(gf[1], gr[1], 1e-10, 1e-11, "dW"));

  // fp32 against the fp64 reference on the same (rounded) inputs; the fp32 reference's phases
  // are themselves off by ~l·ulp(b).
  auto s32 = s.detach().to(torch::kFloat32).requires_grad_(true);
  auto W32 = W.detach().to(torch::kFloat32).requires_grad_(true);
  auto s64 = s32.detach().to(torch::kFloat64).requires_grad_(true);
  auto W64 = W32.detach().to(torch::kFloat64).requires_grad_(true);
  auto k64 = vandermonde_kernel_reference(s64, W64, L, c.mode);
  auto g64 = torch::autograd::grad({k64}, {s64, W64}, {g});
  auto k32 = vandermonde_kernel(s32, W32, L, c.mode);
  EXPECT_EQ(k32.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(close(k32, k64, 1e-6, 1e-7, "fp32 kernel"));
  auto g32 = torch::autograd::grad({k32}, {s32, W32}, {g.to(torch::kFloat32)});
  EXPECT_TRUE(close(g32[0], g64[0], 1e-5, 1e-6, "fp32 ds"));
  EXPECT_TRUE(close(g32[1], g64[1], 1e-5, 1e-6, "fp32 dW"));
}

// §6.4: L = Σ W1 K + ½ Σ W2 K², every input of the kernel, element-wise (≤ 64 entries) or along
// random directions.
TEST_P(LtiKernel, GradientsMatchCentralDifferences) {
  const auto c = GetParam();
  const int64_t C = 2, H = 2, M = 5, L = 140;
  auto s = random_s(c.shared ? 1 : H, M, c.shared, 4).requires_grad_(true);
  auto W = randn({C, H, M, 2}, 5).mul_(0.5).requires_grad_(true);
  auto w1 = randn({C, H, L}, 6), w2 = randn({C, H, L}, 7);
  auto loss = [&] {
    return seqlab::testing::contract_loss(vandermonde_kernel(s, W, L, c.mode), w1, w2);
  };
  EXPECT_TRUE(seqlab::testing::gradcheck(loss, {s, W}, {"s", "W"}));
}

INSTANTIATE_TEST_SUITE_P(SharedAndPerChannel, LtiKernel, ::testing::ValuesIn([] {
                           std::vector<KernelCase> cases;
                           for (bool shared : {true, false})
                             for (auto mode : kModes) cases.push_back({shared, mode});
                           return cases;
                         }()),
                         [](const ::testing::TestParamInfo<KernelCase>& info) {
                           std::string name = kernel_to_real_name(info.param.mode);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return (info.param.shared ? "shared_" : "per_channel_") + name;
                         });

// DLR (§2.2.8): Re Λ = −p²; the gradient reaches p and b (§3.3.5 dp = −2p Σ G l Re(W λ^l)).
TEST(LtiKernel, DlrKernelGradientsMatchCentralDifferences) {
  const int64_t N = 6, H = 3, L = 50;
  auto p = (0.05 + 0.3 * torch::rand({N}, f64())).requires_grad_(true);
  auto b = (2 * M_PI * torch::arange(N, f64()) / N).requires_grad_(true);
  auto W = randn({1, H, N, 2}, 8).div_(N).requires_grad_(true);
  auto w1 = randn({1, H, L}, 9), w2 = randn({1, H, L}, 10);
  auto k = dlr_kernel(p, b, W, L);
  auto k_ref = vandermonde_kernel_reference(torch::stack({-p * p, b}, -1), W, L);
  EXPECT_TRUE(close(k, k_ref, 1e-12, 1e-13, "dlr kernel"));
  auto loss = [&] { return seqlab::testing::contract_loss(dlr_kernel(p, b, W, L), w1, w2); };
  EXPECT_TRUE(seqlab::testing::gradcheck(loss, {p, b, W}, {"p", "b", "W"}));
}

// §3.2.7: at l ≈ 10^6 the phases l·b are reduced mod 2π in fp64; compare with exp(l a) cos(l b)
// and sin in long double (b taken exactly from the tensor, so both see the same input).
TEST(LtiKernel, PhasesStayAccurateAtMillionLags) {
  const int64_t L = 1000003;
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    auto s = torch::tensor({-1e-7, 2.3999632297286533}, f64()).view({1, 2}).to(dtype);
    auto W = torch::tensor({1.0, 0.0}, f64()).view({1, 1, 1, 2}).to(dtype);
    auto kre = vandermonde_kernel(s, W, L, KernelToReal::kReal).to(torch::kFloat64);
    auto kim = vandermonde_kernel(s, W, L, KernelToReal::kImag).to(torch::kFloat64);
    auto sd = s.to(torch::kFloat64);
    const long double a = sd[0][0].item<double>(), b = sd[0][1].item<double>();
    double err = 0;
    for (int64_t l : {int64_t{999000}, int64_t{999999}, int64_t{1000002}, int64_t{777777}}) {
      const long double mag = std::exp(static_cast<long double>(l) * a);
      const long double th = static_cast<long double>(l) * b;
      err = std::max(
          err, std::abs(kre[0][0][l].item<double>() - static_cast<double>(mag * std::cos(th))));
      err = std::max(
          err, std::abs(kim[0][0][l].item<double>() - static_cast<double>(mag * std::sin(th))));
    }
    EXPECT_LT(err, dtype == torch::kFloat64 ? 1e-12 : 1e-6) << dtype;
  }
}

TEST(LtiKernel, BitIdenticalAtOneAndTwoThreads) {
  const int64_t C = 2, H = 4, L = 700;
  const int before = at::get_num_threads();
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (bool shared : {true, false}) {
      const int64_t M = 40;
      auto s = random_s(shared ? 1 : H, M, shared, 11).to(dtype).requires_grad_(true);
      auto W = randn({C, H, M, 2}, 12).to(dtype).requires_grad_(true);
      auto g = randn({C, H, L}, 13).to(dtype);
      std::vector<std::vector<torch::Tensor>> runs;
      for (int threads : {1, 2}) {
        at::set_num_threads(threads);
        auto k = vandermonde_kernel(s, W, L, KernelToReal::kProd);
        auto grads = torch::autograd::grad({k}, {s, W}, {g});
        runs.push_back({k, grads[0], grads[1]});
      }
      for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(runs[0][i], runs[1][i])) << i;
    }
  at::set_num_threads(before);
}

// ---- convolution -------------------------------------------------------------------------------

// Explicit two-sided sum written with scalar loops (§2.2.8 step 4):
// y[b, c, h, t] = Σ_{j<Lk} k[c, h, j] u[b, h, t−j] + Σ_{1≤j≤Lk} k_bwd[c, h, j−1] u[b, h, t+j]
// + D[c, h] u[b, h, t].
torch::Tensor explicit_sum(const torch::Tensor& u, const torch::Tensor& k,
                           const torch::Tensor& k_bwd, const torch::Tensor& D) {
  const int64_t B = u.size(0), H = u.size(1), T = u.size(2), C = k.size(0), Lk = k.size(2);
  auto y = torch::zeros({B, C, H, T}, f64());
  auto ua = u.accessor<double, 3>();
  auto ka = k.accessor<double, 3>();
  auto ya = y.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t t = 0; t < T; ++t) {
          double acc = D.defined() ? D[c][h].item<double>() * ua[b][h][t] : 0.0;
          for (int64_t j = 0; j < Lk && j <= t; ++j) acc += ka[c][h][j] * ua[b][h][t - j];
          if (k_bwd.defined())
            for (int64_t j = 1; j <= Lk && t + j < T; ++j)
              acc += k_bwd[c][h][j - 1].item<double>() * ua[b][h][t + j];
          ya[b][c][h][t] = acc;
        }
  return y;
}

struct ConvCase {
  int64_t T, Lk;
  bool bidirectional;
};

std::ostream& operator<<(std::ostream& os, const ConvCase& c) {
  return os << "T" << c.T << "_Lk" << c.Lk << (c.bidirectional ? "_bidirectional" : "_causal");
}

class LtiConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(LtiConv, FftEqualsDirectEqualsExplicitSum) {
  const auto c = GetParam();
  const int64_t B = 2, C = 2, H = 3;
  auto u = randn({B, H, c.T}, 20);
  auto k = randn({C, H, c.Lk}, 21);
  auto kb = c.bidirectional ? randn({C, H, c.Lk}, 22) : torch::Tensor();
  auto D = randn({C, H}, 23);
  auto y_exp = explicit_sum(u, k, kb, D);
  EXPECT_TRUE(close(lti_conv(u, k, kb, D), y_exp, 1e-12, 1e-13, "fft vs explicit"));
  EXPECT_TRUE(close(lti_conv_direct(u, k, kb, D), y_exp, 1e-12, 1e-13, "direct vs explicit"));
  // The explicit coefficients (§6.1 path E) applied to u.
  auto M = toeplitz_coefficients(k.reshape({C * H, c.Lk}), c.T,
                                 c.bidirectional ? kb.reshape({C * H, c.Lk}) : torch::Tensor())
               .view({C, H, c.T, c.T});
  auto y_coef = torch::matmul(M.unsqueeze(0), u.unsqueeze(1).unsqueeze(-1)).squeeze(-1) +
                D.unsqueeze(0).unsqueeze(-1) * u.unsqueeze(1);
  EXPECT_TRUE(close(y_coef, y_exp, 1e-12, 1e-13, "toeplitz vs explicit"));
  // fp32 FFT path.
  auto y32 =
      lti_conv(u.to(torch::kFloat32), k.to(torch::kFloat32),
               c.bidirectional ? kb.to(torch::kFloat32) : torch::Tensor(), D.to(torch::kFloat32));
  EXPECT_TRUE(close(y32, y_exp, 1e-5, 1e-6, "fp32 fft"));
}

// §3.3.5: the FFT backward (cross-correlations) vs autograd through the direct convolution,
// every input, and central differences in double.
TEST_P(LtiConv, BackwardMatchesDirectAutogradAndCentralDifferences) {
  const auto c = GetParam();
  const int64_t B = 2, C = 2, H = 2;
  auto u = randn({B, H, c.T}, 30).requires_grad_(true);
  auto k = randn({C, H, c.Lk}, 31).requires_grad_(true);
  auto kb = c.bidirectional ? randn({C, H, c.Lk}, 32).requires_grad_(true) : torch::Tensor();
  auto D = randn({C, H}, 33).requires_grad_(true);
  auto w1 = randn({B, C, H, c.T}, 34), w2 = randn({B, C, H, c.T}, 35);
  std::vector<torch::Tensor> inputs = {u, k, D};
  std::vector<std::string> names = {"u", "k", "D"};
  if (c.bidirectional) {
    inputs.push_back(kb);
    names.push_back("k_bwd");
  }
  auto lf = seqlab::testing::contract_loss(lti_conv(u, k, kb, D), w1, w2);
  auto ld = seqlab::testing::contract_loss(lti_conv_direct(u, k, kb, D), w1, w2);
  auto gf = torch::autograd::grad({lf}, inputs);
  auto gd = torch::autograd::grad({ld}, inputs);
  for (size_t i = 0; i < inputs.size(); ++i)
    EXPECT_TRUE(close(gf[i], gd[i], 1e-10, 1e-11, "d" + names[i]));
  auto loss = [&] { return seqlab::testing::contract_loss(lti_conv(u, k, kb, D), w1, w2); };
  EXPECT_TRUE(seqlab::testing::gradcheck(loss, inputs, names));
}

INSTANTIATE_TEST_SUITE_P(PowersOfTwoAndNot, LtiConv,
                         ::testing::Values(ConvCase{16, 16, false}, ConvCase{16, 5, false},
                                           ConvCase{21, 21, false}, ConvCase{21, 4, false},
                                           ConvCase{1, 1, false}, ConvCase{16, 16, true},
                                           ConvCase{21, 6, true}, ConvCase{13, 13, true}),
                         [](const ::testing::TestParamInfo<ConvCase>& info) {
                           return "T" + std::to_string(info.param.T) + "_Lk" +
                                  std::to_string(info.param.Lk) +
                                  (info.param.bidirectional ? "_bidirectional" : "_causal");
                         });

// §6.5 item 15: FFT convolution with the Vandermonde kernel = recurrent scan, causal and the
// anti-causal half of the bidirectional layout, shared and per-channel eigenvalues.
TEST(LtiConv, FftWithVandermondeKernelEqualsRecurrentScan) {
  const int64_t B = 2, C = 2, H = 3, M = 4;
  for (int64_t T : {16, 23})
    for (bool shared : {true, false}) {
      auto s = random_s(shared ? 1 : H, M, shared, 40);
      auto q = randn({C, H, M, 2}, 41), qb = randn({C, H, M, 2}, 42);
      auto u = randn({B, H, T}, 43);
      auto k = vandermonde_kernel(s, q, T), kb = vandermonde_kernel(s, qb, T);
      auto y_scan = lti_scan_reference(u, s, q) + lti_scan_reference(u, s, qb, true);
      EXPECT_TRUE(close(lti_conv(u, k, kb), y_scan, 1e-12, 1e-13, "fft vs scan"));
      EXPECT_TRUE(close(lti_conv_direct(u, k, kb), y_scan, 1e-12, 1e-13, "direct vs scan"));
      EXPECT_TRUE(close(lti_conv(u, k), lti_scan_reference(u, s, q), 1e-12, 1e-13, "causal"));
    }
}

TEST(LtiConv, FftSizeIsFiveSmoothAndLongEnough) {
  for (int64_t T : {1, 7, 16, 97, 1000, 4096})
    for (int64_t Lk : {int64_t{1}, (T + 1) / 2, T})
      for (bool bi : {false, true}) {
        const int64_t n = lti_fft_size(T, Lk, bi);
        EXPECT_GE(n, T + Lk - 1 + (bi ? 1 : 0));
        int64_t m = n;
        for (int64_t p : {2, 3, 5})
          while (m % p == 0) m /= p;
        EXPECT_EQ(m, 1) << n;
      }
  EXPECT_EQ(lti_fft_size(16, 16, false), 32);
  EXPECT_EQ(lti_fft_size(4096, 4096, true), 8192);
  EXPECT_EQ(lti_fft_size(1000, 1000, false), 2000);
}

TEST(LtiConv, BitIdenticalAtOneAndTwoThreads) {
  const int before = at::get_num_threads();
  auto u = randn({4, 8, 300}, 50).to(torch::kFloat32).requires_grad_(true);
  auto k = randn({2, 8, 300}, 51).to(torch::kFloat32).requires_grad_(true);
  auto kb = randn({2, 8, 300}, 52).to(torch::kFloat32).requires_grad_(true);
  auto D = randn({2, 8}, 53).to(torch::kFloat32).requires_grad_(true);
  auto g = randn({4, 2, 8, 300}, 54).to(torch::kFloat32);
  std::vector<std::vector<torch::Tensor>> runs;
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    auto y = lti_conv(u, k, kb, D);
    auto grads = torch::autograd::grad({y}, {u, k, kb, D}, {g});
    grads.insert(grads.begin(), y);
    runs.push_back(grads);
  }
  at::set_num_threads(before);
  for (size_t i = 0; i < runs[0].size(); ++i)
    EXPECT_TRUE(torch::equal(runs[0][i], runs[1][i])) << i;
}

TEST(LtiConv, BadShapesAreRejected) {
  auto u = torch::randn({1, 2, 5});
  EXPECT_THROW(lti_conv(u, torch::randn({1, 2, 6})), c10::Error);  // Lk > T
  EXPECT_THROW(lti_conv(u, torch::randn({1, 3, 5})), c10::Error);  // H mismatch
  EXPECT_THROW(vandermonde_kernel(torch::randn({3, 2}), torch::randn({1, 2, 4, 2}), 5),
               c10::Error);  // M mismatch
  EXPECT_THROW(kernel_to_real_from_name("real-prod-x"), UserError);
  EXPECT_EQ(kernel_to_real_from_name("real-prod"), KernelToReal::kRealProd);
}

}  // namespace lti_test
}  // namespace seqlab::core
