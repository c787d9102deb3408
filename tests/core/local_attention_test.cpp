// The fused banded softmax attention kernel (core/local_attention.h; protocols §4.2
// LocalAttention, mixers.md §2.2.1, §2.2.3): against a dense masked softmax written here, forward
// and backward (q, k, v), fp64 and fp32 at the §6.2 tolerances; causal and non-causal bands,
// windows that do and do not divide T, full attention (window 0), ALiBi biases; central
// differences in double; bit-identical results at 1 and 2 threads; bad inputs.
#include "seqlab/core/local_attention.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "../common/testing.h"

namespace seqlab::core {
namespace local_attention_test {

using seqlab::testing::close;

// Dense reference: scores (B, H, T, T) = q k^T + bias, -inf outside the band, softmax, @ v.
torch::Tensor dense_band_attention(const torch::Tensor& q, const torch::Tensor& k,
                                   const torch::Tensor& v, const LocalAttentionBand& band,
                                   const std::vector<double>& slopes) {
  const int64_t H = q.size(1), T = q.size(2);
  auto scores = torch::matmul(q, k.transpose(-2, -1));
  auto bias = torch::zeros({H, T, T}, torch::kFloat64);
  auto hidden = torch::zeros({T, T}, torch::kBool);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) {
      const int64_t c = band.window > 0 ? i / band.window : 0;
      const int64_t first = band.window > 0 ? std::max<int64_t>(0, (c - 1) * band.window) : 0;
      const int64_t end = band.causal ? i + 1 : band.window > 0 ? (c + 2) * band.window : T;
      hidden[i][j] = j < first || j >= end;
      for (int64_t h = 0; h < static_cast<int64_t>(slopes.size()); ++h)
        bias[h][i][j] = -slopes[h] * (band.causal ? double(i - j) : std::abs(double(i - j)));
    }
  scores = (scores + bias.to(q.scalar_type())).masked_fill(hidden, -INFINITY);
  return torch::matmul(torch::softmax(scores, -1), v);
}

struct Case {
  torch::Dtype dtype;
  int64_t window, T, n;
  bool causal, alibi;
};

TEST(LocalAttentionFused, MatchesTheDenseMaskedSoftmaxForwardAndBackward) {
  std::vector<Case> cases;
  for (auto dt : {torch::kFloat64, torch::kFloat32})
    for (bool causal : {true, false})
      for (bool alibi : {false, true})
        for (int64_t w : {0, 1, 3, 4})
          for (int64_t T : {1, 7, 16, 29}) cases.push_back({dt, w, T, 8, causal, alibi});
  for (auto dt : {torch::kFloat64, torch::kFloat32})  // n below, at and off the SIMD width
    for (int64_t n : {1, 3, 13}) cases.push_back({dt, 5, 23, n, false, true});
  for (const auto& c : cases) {
    const std::string what = std::string(c.dtype == torch::kFloat64 ? "fp64" : "fp32") +
                             " w=" + std::to_string(c.window) + " T=" + std::to_string(c.T) +
                             " n=" + std::to_string(c.n) + (c.causal ? " causal" : " non-causal") +
                             (c.alibi ? " alibi" : "");
    torch::manual_seed(c.T * 31 + c.window);
    const int64_t B = 2, H = 3;
    auto opts = torch::TensorOptions().dtype(c.dtype);
    auto q0 = torch::randn({B, H, c.T, c.n}, opts), k0 = torch::randn({B, H, c.T, c.n}, opts);
    auto v0 = torch::randn({B, H, c.T, c.n}, opts), dy = torch::randn({B, H, c.T, c.n}, opts);
    const std::vector<double> slopes =
        c.alibi ? std::vector<double>{0.5, 0.25, 0.125} : std::vector<double>{};
    const LocalAttentionBand band{c.window, c.causal};
    auto run = [&](bool fused) {
      auto q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true),
           v = v0.clone().requires_grad_(true);
      auto y = fused ? local_attention_fused(
                           q, k, v, band,
                           c.alibi ? torch::tensor(slopes, torch::kFloat64) : torch::Tensor())
                     : dense_band_attention(q, k, v, band, slopes);
      auto g = torch::autograd::grad({(y * dy).sum()}, {q, k, v});
      return std::make_pair(y.detach(), g);
    };
    auto [yf, gf] = run(true);
    auto [yd, gd] = run(false);
    const bool f64 = c.dtype == torch::kFloat64;
    // §6.2: F vs E 1e-11 / 1e-4 forward, 1e-10 / 1e-3 backward.
    EXPECT_TRUE(close(yf, yd, f64 ? 1e-11 : 1e-4, f64 ? 1e-12 : 1e-5, "y " + what));
    const char* names[] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; ++i)
      EXPECT_TRUE(close(gf[i], gd[i], f64 ? 1e-10 : 1e-3, f64 ? 1e-11 : 1e-5,
                        std::string(names[i]) + " " + what));
  }
}

TEST(LocalAttentionFused, CentralDifferencesInDouble) {
  for (bool causal : {true, false}) {
    torch::manual_seed(causal ? 3 : 4);
    auto q = torch::randn({1, 2, 11, 4}, torch::kFloat64).requires_grad_(true);
    auto k = torch::randn({1, 2, 11, 4}, torch::kFloat64).requires_grad_(true);
    auto v = torch::randn({1, 2, 11, 4}, torch::kFloat64).requires_grad_(true);
    auto w = torch::randn({1, 2, 11, 4}, torch::kFloat64);
    auto slopes = torch::tensor(std::vector<double>{0.3, 0.05}, torch::kFloat64);
    EXPECT_TRUE(seqlab::testing::gradcheck(
        [&] {
          auto y = local_attention_fused(q, k, v, LocalAttentionBand{3, causal}, slopes);
          return (y * w).sum() + 0.5 * (y * y).sum();
        },
        {q, k, v}, {"q", "k", "v"}))
        << (causal ? "causal" : "non-causal");
  }
}

TEST(LocalAttentionFused, SameBitsAtOneAndTwoThreads) {
  torch::manual_seed(8);
  auto q = torch::randn({3, 2, 40, 8}).requires_grad_(true);
  auto k = torch::randn({3, 2, 40, 8}).requires_grad_(true);
  auto v = torch::randn({3, 2, 40, 8}).requires_grad_(true);
  auto run = [&] {
    auto y = local_attention_fused(q, k, v, LocalAttentionBand{6, false});
    auto g = torch::autograd::grad({y.pow(2).sum()}, {q, k, v});
    return std::vector<torch::Tensor>{y.detach(), g[0], g[1], g[2]};
  };
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  auto one = run();
  at::set_num_threads(2);
  auto two = run();
  at::set_num_threads(saved);
  for (size_t i = 0; i < one.size(); ++i)
    EXPECT_TRUE(torch::equal(one[i], two[i]))
        << "output " << i << " differs between 1 and 2 threads";
}

TEST(LocalAttentionFused, BadInputsNameTheProblem) {
  auto q = torch::randn({1, 2, 5, 4});
  EXPECT_THROW(local_attention_fused(q, torch::randn({1, 2, 6, 4}), q, {}), c10::Error);
  EXPECT_THROW(local_attention_fused(q, q.to(torch::kFloat64), q, {}), c10::Error);
  EXPECT_THROW(local_attention_fused(q, q, q, LocalAttentionBand{-1, true}), c10::Error);
  EXPECT_THROW(local_attention_fused(q, q, q, {}, torch::ones({3}, torch::kFloat64)), c10::Error);
}

}  // namespace local_attention_test
}  // namespace seqlab::core
