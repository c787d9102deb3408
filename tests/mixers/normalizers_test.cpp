// normalizers() of the gated-scan mixers that have one (spec/mixers.md §1.4, §4.2), against
// closed forms written here: linear attention η_i = q_iᵀz_i with z_i = Σ_{j≤i} k_j, i.e. the same
// system on v ≡ 1 (§6.5 item 5), and n·i for all-ones features; mLSTM η_i = max(|q_iᵀz_i|, 1)
// with the un-stabilized z and the clamp-active rows; RetNet η_i = max(|s_i|, sqrt(D_i)); and
// that mixers with η ≡ 1 have none.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/core/diagnostics.h"
#include "seqlab/mixers/gated_mixer.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {
namespace normalizers_test {

using seqlab::testing::close;
using torch::Tensor;

ZooOptions small(int64_t head_dim = 0) {
  ZooOptions o;
  o.d_model = 8;
  o.heads = 2;
  o.head_dim = head_dim;
  o.chunk_size = 3;
  return o;
}

std::shared_ptr<GatedMixer> make(const std::string& name, const ZooOptions& o, uint64_t seed) {
  torch::manual_seed(seed);
  auto m = std::dynamic_pointer_cast<GatedMixer>(make_mixer(name, o));
  m->to(torch::kFloat64);
  return m;
}

Tensor linear(Mixer& m, const std::string& name, const Tensor& x) {
  auto p = m.named_parameters();
  auto b = p.contains(name + ".bias") ? p[name + ".bias"] : Tensor();
  return torch::nn::functional::linear(x, p[name + ".weight"], b);
}

Tensor heads_of(const Tensor& t, int64_t H) {  // (B, T, H·d) -> (B, H, T, d)
  return t.view({t.size(0), t.size(1), H, t.size(2) / H}).permute({0, 2, 1, 3});
}

// §6.5 item 5 (fp64, 1e-12 relative): the linear-attention normalizer is the same system run on
// v ≡ 1, η_i = q_iᵀ z_i with z_i = Σ_{j≤i} k_j (q, k = elu+1 of the projections, §2.2.4); the
// output is Σ_j (q_iᵀk_j) v_j / η_i.
TEST(Normalizers, LinearAttentionNormalizerIsTheSystemOnConstantValues) {
  torch::NoGradGuard no_grad;
  for (auto path : {core::ScanPath::kFused, core::ScanPath::kChunked, core::ScanPath::kReference}) {
    auto o = small(3);
    o.path = path;
    auto m = make("linear_attention", o, 2);
    const int64_t T = 11;
    auto x = torch::randn({2, T, 8}, torch::kFloat64);
    auto q = heads_of(torch::elu(linear(*m, "q_proj", x)) + 1, 2);
    auto k = heads_of(torch::elu(linear(*m, "k_proj", x)) + 1, 2);
    auto v = heads_of(linear(*m, "v_proj", x), 2);
    auto z = k.cumsum(2);
    auto eta = (q * z).sum(-1);  // (B, H, T)
    EXPECT_TRUE(close(m->normalizers(x).eta, eta, 1e-12, 1e-13, "eta = q.z"));
    auto y = torch::matmul(torch::matmul(q, k.transpose(-2, -1)).tril(), v) / eta.unsqueeze(-1);
    auto out = linear(*m, "out_proj", y.permute({0, 2, 1, 3}).reshape({2, T, 8}));
    EXPECT_TRUE(close(m->forward(x), out, 1e-12, 1e-13, "normalized output"));
  }
  // All-ones features (zero projections): q = k = 1, η_i = n·i, Λ_i = (i − 1)/i.
  auto m = make("linear_attention", small(3), 2);
  torch::NoGradGuard ng;
  m->named_parameters()["q_proj.weight"].zero_();
  m->named_parameters()["k_proj.weight"].zero_();
  const auto n = m->normalizers(torch::randn({1, 6, 8}, torch::kFloat64));
  auto want = 3.0 * torch::arange(1, 7, torch::kFloat64).view({1, 1, 6}).expand({1, 2, 6});
  EXPECT_TRUE(close(n.eta, want, 1e-15, 1e-15, "n i"));
  const auto s = core::normalizer_stats(n);
  EXPECT_NEAR(s.dsf_eigenvalue.max, 5.0 / 6.0, 1e-15);
  EXPECT_EQ(s.eigen_above_one, 0);
  EXPECT_FALSE(s.has_clamp);
}

// mLSTM (§2.2.14): η_i = max(|q_iᵀ z_i|, 1), z_i = Σ_{j≤i} (Π_{t=j+1}^{i} f_t) exp(ĩ_j) k_j with
// k = W_k u / sqrt(n), un-stabilized, written here with an explicit loop.
TEST(Normalizers, MlstmNormalizerIsTheClampedUnstabilizedForm) {
  torch::NoGradGuard no_grad;
  auto m = make("mlstm", small(4), 3);
  const int64_t T = 12, n = 4;
  // Larger input-gate biases on head 0 so that both sides of the clamp occur.
  m->named_parameters()["i_gate.bias"].copy_(torch::tensor({2.5, -1.0}, torch::kFloat64));
  auto x = torch::randn({2, T, 8}, torch::kFloat64);
  auto q = heads_of(linear(*m, "q_proj", x), 2);
  auto k = heads_of(linear(*m, "k_proj", x), 2) / std::sqrt(double(n));
  auto it = linear(*m, "i_gate", x).permute({0, 2, 1});                 // (B, H, T)
  auto f = torch::sigmoid(linear(*m, "f_gate", x)).permute({0, 2, 1});  // (B, H, T)
  auto z = torch::zeros({2, 2, n}, torch::kFloat64);
  std::vector<Tensor> qz;
  for (int64_t t = 0; t < T; ++t) {
    z = f.select(2, t).unsqueeze(-1) * z + it.select(2, t).exp().unsqueeze(-1) * k.select(2, t);
    qz.push_back((q.select(2, t) * z).sum(-1));
  }
  auto a = torch::stack(qz, 2).abs();
  const auto norm = m->normalizers(x);
  EXPECT_TRUE(close(norm.eta, torch::clamp_min(a, 1.0), 1e-12, 1e-13, "mlstm eta"));
  ASSERT_TRUE(norm.clamp_active.defined());
  EXPECT_TRUE(torch::equal(norm.clamp_active, a < 1.0));
  const auto s = core::normalizer_stats(norm);
  EXPECT_TRUE(s.has_clamp);
  EXPECT_GT(s.clamp_active_fraction, 0.0);  // both branches are exercised
  EXPECT_LT(s.clamp_active_fraction, 1.0);
  EXPECT_NEAR(s.clamp_active_fraction, (a < 1.0).to(torch::kFloat64).mean().item<double>(), 0.0);
  EXPECT_GE(s.eta.min, 1.0);
}

// RetNet (§2.2.6): η_i = max(|s_i|, sqrt(D_i)), s_i = Σ_{j≤i} γ^{i−j} q̂_iᵀk̂_j/√n on the rotated
// (folded) q, k of the core, D_i = Σ_{l≤i} γ^{i−l} with γ_h = 1 − 2^{−5−h}.
TEST(Normalizers, RetnetNormalizerIsTheClampedRowSum) {
  torch::NoGradGuard no_grad;
  auto m = make("retnet", small(4), 4);
  const int64_t T = 10;
  auto x = 3.0 * torch::randn({2, T, 8}, torch::kFloat64);
  auto c = m->core_inputs(x, 0);                            // rotated q, k / sqrt(n)
  auto scores = torch::matmul(c.q, c.k.transpose(-2, -1));  // (B, H, T, T)
  auto eta = torch::zeros({2, 2, T}, torch::kFloat64);
  auto active = torch::zeros({2, 2, T}, torch::kBool);
  for (int64_t h = 0; h < 2; ++h) {
    const double g = 1.0 - std::pow(2.0, -5.0 - h);
    for (int64_t i = 0; i < T; ++i) {
      double D = 0;
      auto s = torch::zeros({2}, torch::kFloat64);
      for (int64_t j = 0; j <= i; ++j) {
        D += std::pow(g, i - j);
        s += std::pow(g, i - j) * scores.select(1, h).select(1, i).select(1, j);
      }
      eta.select(1, h).select(1, i).copy_(torch::clamp_min(s.abs(), std::sqrt(D)));
      active.select(1, h).select(1, i).copy_(s.abs() < std::sqrt(D));
    }
  }
  const auto norm = m->normalizers(x);
  EXPECT_TRUE(close(norm.eta, eta, 1e-12, 1e-13, "retnet eta"));
  EXPECT_TRUE(torch::equal(norm.clamp_active, active));
}

TEST(Normalizers, MixersWithoutANormalizerThrow) {
  for (const char* name : {"gla", "mamba2", "deltanet"}) {
    auto m = make_mixer(name, small());
    EXPECT_THROW(m->normalizers(torch::randn({1, 3, 8})), std::logic_error) << name;
  }
}

}  // namespace normalizers_test
}  // namespace seqlab::mixers
