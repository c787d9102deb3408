// Equivalence contract for softmax attention, NoPE, RoPE and ALiBi (spec/mixers.md
// §2.2.1-§2.2.3, §6.2-§6.5), causal, local and non-causal: forward (F) vs reference (R) vs
// coefficients (E) applied to V,
// forward and backward, fp32 and fp64, with and without the learnable temperature; softmax rows;
// exact causality; the RoPE A-power form and the ALiBi Jordan-augmented system (§6.5 items 3, 4),
// both written here and through coefficients_from_transition; ALiBi slopes; the KV-cache step;
// the normalizer η_i = Σ_l exp(α̃_il) in closed form; gradcheck.
#include "seqlab/mixers/softmax_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/core/diagnostics.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace softmax_attention_test {

using seqlab::testing::close;
using seqlab::testing::contract_loss;

struct Tol {
  double rtol, atol;
};
// §6.2 table.
Tol r_vs_e(torch::Dtype dt) {
  return dt == torch::kFloat64 ? Tol{1e-12, 1e-13} : Tol{1e-5, 1e-6};
}
Tol f_vs_e(torch::Dtype dt) {
  return dt == torch::kFloat64 ? Tol{1e-11, 1e-12} : Tol{1e-4, 1e-5};
}
Tol bwd(torch::Dtype dt) {
  return dt == torch::kFloat64 ? Tol{1e-10, 1e-11} : Tol{1e-3, 1e-5};
}

// `rope` is the position: none | half | interleaved (RoPE with that layout) | alibi.
SoftmaxAttention make_attention(int64_t d, int64_t heads, const std::string& rope,
                                torch::Dtype dtype, uint64_t seed, bool learnable_tau = false) {
  torch::manual_seed(seed);
  auto opts = SoftmaxAttentionOptions(d, heads).learnable_tau(learnable_tau);
  if (rope == "alibi")
    opts.position("alibi");
  else if (rope != "none")
    opts.rope(true).rope_layout(rope);
  SoftmaxAttention attn(opts);
  attn->to(dtype);
  return attn;
}

// (B, T, d) -> (B, H, T, n) and back, written here independently of the mixer.
torch::Tensor heads_of(const torch::Tensor& t, int64_t H) {
  return t.view({t.size(0), t.size(1), H, t.size(2) / H}).permute({0, 2, 1, 3});
}
torch::Tensor concat_heads(const torch::Tensor& t) {
  return t.permute({0, 2, 1, 3}).reshape({t.size(0), t.size(2), t.size(1) * t.size(3)});
}

// E path: y = W_o concat_h(alpha_h V_h) + b_o.
torch::Tensor explicit_output(SoftmaxAttention& attn, const torch::Tensor& x) {
  auto alpha = attn->coefficients(x);
  auto v = heads_of(attn->v_proj(x), attn->heads());
  return attn->out_proj(concat_heads(torch::matmul(alpha, v)));
}

std::vector<torch::Tensor> inputs_and_params(SoftmaxAttention& attn, const torch::Tensor& x) {
  std::vector<torch::Tensor> out{x};
  for (auto& p : attn->parameters()) out.push_back(p);
  return out;
}

struct Case {
  torch::Dtype dtype;
  std::string rope;  // none | half | interleaved | alibi
  int64_t d, heads, T;
  bool learnable_tau = false;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << (c.dtype == torch::kFloat64 ? "fp64" : "fp32") << " position=" << c.rope << " d=" << c.d
      << " H=" << c.heads << " T=" << c.T << (c.learnable_tau ? " learnable tau" : "");
}

class AttentionContract : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionContract, ForwardReferenceExplicitAgreeForwardAndBackward) {
  const Case c = GetParam();
  const int64_t B = 2;
  auto attn = make_attention(c.d, c.heads, c.rope, c.dtype, 11 + c.T, c.learnable_tau);
  if (c.learnable_tau) {  // move tau away from its initial value so that its gradient matters
    torch::NoGradGuard no_grad;
    attn->tau_param.fill_(0.8);
  }
  auto opts = torch::TensorOptions().dtype(c.dtype);
  auto x0 = torch::randn({B, c.T, c.d}, opts);
  auto w1 = torch::randn({B, c.T, c.d}, opts);
  auto w2 = torch::randn({B, c.T, c.d}, opts);

  auto run = [&](int path) {
    auto x = x0.clone().requires_grad_(true);
    torch::Tensor y =
        path == 0   ? attn->forward(x)
        : path == 1 ? attn->reference(x)
        : path == 2 ? explicit_output(attn, x)
                    : attn->from_core(
                          x, torch::matmul(attn->coefficients_from_transition(x), attn->values(x)));
    auto grads = torch::autograd::grad({contract_loss(y, w1, w2)}, inputs_and_params(attn, x));
    return std::make_pair(y.detach(), grads);
  };
  auto [yf, gf] = run(0);
  auto [yr, gr] = run(1);
  auto [ye, ge] = run(2);
  auto [yt, gt] = run(3);

  ASSERT_EQ(yf.sizes(), (std::vector<int64_t>{B, c.T, c.d}));
  EXPECT_EQ(yf.scalar_type(), c.dtype);
  const double rms = ye.to(torch::kFloat64).pow(2).mean().sqrt().item<double>();
  EXPECT_GE(rms, 0.1);  // §6.2: inputs scaled so that RMS(y) is in [0.1, 10]
  EXPECT_LE(rms, 10.0);

  EXPECT_TRUE(close(yf, ye, f_vs_e(c.dtype).rtol, f_vs_e(c.dtype).atol, "F vs E forward"));
  EXPECT_TRUE(close(yr, ye, r_vs_e(c.dtype).rtol, r_vs_e(c.dtype).atol, "R vs E forward"));
  // The A-power (transition) form of the explicit path (§6.1 E, §2.2.2, §2.2.3).
  EXPECT_TRUE(close(yt, ye, r_vs_e(c.dtype).rtol, r_vs_e(c.dtype).atol, "A-power vs E forward"));
  auto pnames = attn->named_parameters().keys();
  for (size_t i = 0; i < ge.size(); ++i) {
    const std::string what = i == 0 ? std::string("x") : pnames[i - 1];
    EXPECT_TRUE(close(gf[i], ge[i], bwd(c.dtype).rtol, bwd(c.dtype).atol, "F vs E grad " + what));
    EXPECT_TRUE(close(gr[i], ge[i], bwd(c.dtype).rtol, bwd(c.dtype).atol, "R vs E grad " + what));
    EXPECT_TRUE(
        close(gt[i], ge[i], bwd(c.dtype).rtol, bwd(c.dtype).atol, "A-power vs E grad " + what));
  }
}

TEST_P(AttentionContract, CoefficientsAreCausalSoftmaxRows) {
  const Case c = GetParam();
  auto attn = make_attention(c.d, c.heads, c.rope, c.dtype, 5);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, c.T, c.d}, torch::TensorOptions().dtype(c.dtype));
  auto alpha = attn->coefficients(x);
  ASSERT_EQ(alpha.sizes(), (std::vector<int64_t>{2, c.heads, c.T, c.T}));
  auto upper = torch::ones({c.T, c.T}, torch::kBool).triu(1);
  EXPECT_EQ(alpha.masked_select(upper).abs().sum().item<double>(), 0.0);  // exactly 0 for j > i
  EXPECT_GE(alpha.min().item<double>(), 0.0);
  // §6.3: rows sum to 1 within 1e-12 in fp64.
  const double row_tol = c.dtype == torch::kFloat64 ? 1e-12 : 1e-5;
  EXPECT_LE((alpha.sum(-1) - 1).abs().max().item<double>(), row_tol);
}

TEST_P(AttentionContract, CausalityExactInReferenceAndExplicit) {
  const Case c = GetParam();
  auto attn = make_attention(c.d, c.heads, c.rope, c.dtype, 9);
  torch::NoGradGuard no_grad;
  auto opts = torch::TensorOptions().dtype(c.dtype);
  auto x = torch::randn({2, c.T, c.d}, opts);
  const int64_t t = c.T / 2;
  auto x2 = x.clone();
  x2.narrow(1, t, c.T - t).add_(torch::randn({2, c.T - t, c.d}, opts));
  const auto keep = [&](const torch::Tensor& y) { return y.narrow(1, 0, t); };
  EXPECT_TRUE(torch::equal(keep(attn->reference(x)), keep(attn->reference(x2))));
  EXPECT_TRUE(torch::equal(keep(explicit_output(attn, x)), keep(explicit_output(attn, x2))));
  EXPECT_TRUE(
      torch::equal(attn->coefficients(x).narrow(2, 0, t), attn->coefficients(x2).narrow(2, 0, t)));
  // F: within atol (§6.3).
  if (t > 0) {
    EXPECT_LE((keep(attn->forward(x)) - keep(attn->forward(x2))).abs().max().item<double>(),
              f_vs_e(c.dtype).atol);
  }
  // And the perturbation does reach position t.
  EXPECT_GT(
      (attn->forward(x).select(1, t) - attn->forward(x2).select(1, t)).abs().max().item<double>(),
      1e-3);
}

std::vector<Case> contract_cases() {
  std::vector<Case> cases;
  for (auto dt : {torch::kFloat32, torch::kFloat64})
    for (const char* rope : {"none", "half", "interleaved", "alibi"})
      for (int64_t T : {1, 2, 7, 33}) cases.push_back({dt, rope, 8, 2, T});
  // n = 1 (NoPE, ALiBi) and n = 8 (RoPE with four rotation pairs); ALiBi with H = 3 (not a
  // power of 2); the learnable temperature.
  for (auto dt : {torch::kFloat32, torch::kFloat64}) {
    cases.push_back({dt, "none", 4, 4, 7});
    cases.push_back({dt, "alibi", 4, 4, 7});
    cases.push_back({dt, "half", 16, 2, 33});
    cases.push_back({dt, "interleaved", 16, 2, 33});
    cases.push_back({dt, "alibi", 12, 3, 9});
    for (const char* rope : {"none", "interleaved", "alibi"})
      cases.push_back({dt, rope, 8, 2, 9, /*learnable_tau=*/true});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cases, AttentionContract, ::testing::ValuesIn(contract_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           const Case& c = info.param;
                           return std::string(c.dtype == torch::kFloat64 ? "fp64" : "fp32") + "_" +
                                  c.rope + "_d" + std::to_string(c.d) + "_H" +
                                  std::to_string(c.heads) + "_T" + std::to_string(c.T) +
                                  (c.learnable_tau ? "_tau" : "");
                         });

// §6.5 item 3: the explicit A-power form, A = R_1^T, Phi(i, j) = A^{i-j}, b = n^{-1/2}, phi = exp,
// on the un-rotated q and k, equals the rotation form, for both layouts. A is built here from the
// §2.2.2 definition, not from the mixer.
torch::Tensor a_power_alpha(SoftmaxAttention& attn, const torch::Tensor& x,
                            const std::string& layout) {
  const int64_t H = attn->heads(), n = attn->head_dim(), T = x.size(1);
  auto q = heads_of(attn->q_proj(x), H);  // (B, H, T, n), un-rotated
  auto k = heads_of(attn->k_proj(x), H);
  auto A = torch::zeros({n, n}, torch::kFloat64);
  for (int64_t m = 0; m < n / 2; ++m) {
    const double theta = std::pow(10000.0, -2.0 * m / n);
    const int64_t p0 = layout == "half" ? m : 2 * m;
    const int64_t p1 = layout == "half" ? m + n / 2 : 2 * m + 1;
    // R_1 block = rot(theta) = [[cos, -sin], [sin, cos]]; A = R_1^T.
    A[p0][p0] = std::cos(theta);
    A[p0][p1] = std::sin(theta);
    A[p1][p0] = -std::sin(theta);
    A[p1][p1] = std::cos(theta);
  }
  EXPECT_TRUE(
      close(torch::matmul(A.t(), A), torch::eye(n, torch::kFloat64), 1e-15, 1e-15, "A orthogonal"));
  auto raw = torch::full({x.size(0), H, T, T}, -INFINITY, torch::kFloat64);
  auto power = torch::eye(n, torch::kFloat64);  // A^l
  for (int64_t l = 0; l < T; ++l) {
    for (int64_t i = l; i < T; ++i) {
      const int64_t j = i - l;
      // alpha~_ij = b q_i^T A^{i-j} k_j
      auto s = (q.select(2, i) * torch::matmul(k.select(2, j), power.t())).sum(-1) /
               std::sqrt(static_cast<double>(n));
      raw.select(2, i).select(2, j).copy_(s);
    }
    power = torch::matmul(A, power);
  }
  auto e = torch::exp(raw - std::get<0>(raw.max(-1, true)));
  return e / e.sum(-1, true);
}

TEST(SoftmaxAttentionRope, APowerFormEqualsRotationFormBothLayouts) {
  torch::NoGradGuard no_grad;
  for (const std::string layout : {"half", "interleaved"}) {
    for (int64_t heads : {1, 2}) {
      auto attn = make_attention(16, heads, layout, torch::kFloat64, 21);
      auto x = torch::randn({2, 33, 16}, torch::kFloat64);
      auto expected = a_power_alpha(attn, x, layout);
      EXPECT_TRUE(close(attn->coefficients(x), expected, 1e-12, 1e-13,
                        "A-power vs rotation, layout " + layout));
      // The mixer's own transition form (A = R_1^T from transition_matrices()).
      EXPECT_TRUE(close(attn->coefficients_from_transition(x), expected, 1e-12, 1e-13,
                        "coefficients_from_transition, layout " + layout));
      // And the fast and reference paths through the same alpha.
      auto v = heads_of(attn->v_proj(x), heads);
      auto y = attn->out_proj(concat_heads(torch::matmul(expected, v)));
      EXPECT_TRUE(close(attn->forward(x), y, 1e-11, 1e-12, "F vs A-power, layout " + layout));
      EXPECT_TRUE(close(attn->reference(x), y, 1e-12, 1e-13, "R vs A-power, layout " + layout));
    }
  }
}

// §2.2.3 slopes: H a power of 2 gives 2^{-8h/H}; other H take the slopes of H' = 2^floor(log2 H)
// and then every other slope of the 2H' sequence.
TEST(SoftmaxAttentionAlibi, SlopesForPowersOfTwoAndOtherHeadCounts) {
  const auto p = [](double e) { return std::pow(2.0, e); };
  const std::vector<std::pair<int64_t, std::vector<double>>> expected = {
      {1, {p(-8)}},
      {2, {p(-4), p(-8)}},
      {3, {p(-4), p(-8), p(-2)}},
      {4, {p(-2), p(-4), p(-6), p(-8)}},
      {6, {p(-2), p(-4), p(-6), p(-8), p(-1), p(-3)}},
      {8, {p(-1), p(-2), p(-3), p(-4), p(-5), p(-6), p(-7), p(-8)}},
      {12,
       {p(-1), p(-2), p(-3), p(-4), p(-5), p(-6), p(-7), p(-8), p(-0.5), p(-1.5), p(-2.5),
        p(-3.5)}}};
  for (const auto& [H, want] : expected) {
    const auto got = SoftmaxAttentionImpl::alibi_slopes(H);
    ASSERT_EQ(got.size(), want.size()) << "H=" << H;
    for (size_t h = 0; h < want.size(); ++h) EXPECT_DOUBLE_EQ(got[h], want[h]) << "H=" << H;
  }
}

// The ALiBi logits written out (§2.2.3): alpha~_ij = q_i.k_j / sqrt(n) - m_h (i - j); the bias is
// not multiplied by 1/sqrt(n). Returns the raw masked logits (B, H, T, T).
torch::Tensor alibi_logits(SoftmaxAttention& attn, const torch::Tensor& x) {
  const int64_t H = attn->heads(), n = attn->head_dim(), T = x.size(1);
  auto q = heads_of(attn->q_proj(x), H);
  auto k = heads_of(attn->k_proj(x), H);
  const auto m = SoftmaxAttentionImpl::alibi_slopes(H);
  auto raw = torch::full({x.size(0), H, T, T}, -INFINITY, torch::kFloat64);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j <= i; ++j)
        raw.select(1, h).select(1, i).select(1, j).copy_(
            (q.select(1, h).select(1, i) * k.select(1, h).select(1, j)).sum(-1) /
                std::sqrt(double(n)) -
            m[h] * double(i - j));
  return raw;
}

torch::Tensor softmax_rows(const torch::Tensor& raw) {
  auto e = torch::exp(raw - std::get<0>(raw.max(-1, true)));
  return e / e.sum(-1, true);
}

// §6.5 item 4: the Jordan-augmented system, built here from §2.2.3: state R^{n+2},
// A = I_n (+) [[1, -m_h], [0, 1]], impulse b k~_j with b = n^{-1/2}, k~_j = (k_j, 0, sqrt(n)),
// readout q~_i = (q_i, 1, 0), alpha~_ij = q~_i^T A^{i-j} (b k~_j) with A^l by repeated products.
torch::Tensor jordan_alpha(SoftmaxAttention& attn, const torch::Tensor& x) {
  const int64_t H = attn->heads(), n = attn->head_dim(), T = x.size(1), B = x.size(0);
  auto q = heads_of(attn->q_proj(x), H);
  auto k = heads_of(attn->k_proj(x), H);
  const auto m = SoftmaxAttentionImpl::alibi_slopes(H);
  auto ones = torch::ones({B, H, T, 1}, torch::kFloat64);
  auto zeros = torch::zeros({B, H, T, 1}, torch::kFloat64);
  auto qt = torch::cat({q, ones, zeros}, -1);
  auto kt = torch::cat({k, zeros, ones * std::sqrt(double(n))}, -1);
  const double b = 1.0 / std::sqrt(double(n));
  auto raw = torch::full({B, H, T, T}, -INFINITY, torch::kFloat64);
  for (int64_t h = 0; h < H; ++h) {
    auto A = torch::eye(n + 2, torch::kFloat64);
    A[n][n + 1] = -m[h];
    EXPECT_TRUE(
        close(attn->transition_matrices()[h], A, 0.0, 0.0, "A of head " + std::to_string(h)));
    auto power = torch::eye(n + 2, torch::kFloat64);  // A^l
    for (int64_t l = 0; l < T; ++l) {
      // J^l = [[1, -m l], [0, 1]]: the Jordan block's powers grow linearly (§4.1).
      EXPECT_NEAR(power[n][n + 1].item<double>(), -m[h] * l, 1e-12);
      for (int64_t i = l; i < T; ++i) {
        auto s = b * (qt.select(1, h).select(1, i) *
                      torch::matmul(kt.select(1, h).select(1, i - l), power.t()))
                         .sum(-1);
        raw.select(1, h).select(1, i).select(1, i - l).copy_(s);
      }
      power = torch::matmul(A, power);
    }
  }
  return softmax_rows(raw);
}

TEST(SoftmaxAttentionAlibi, JordanAugmentedSystemEqualsBiasFormAndEveryPath) {
  torch::NoGradGuard no_grad;
  for (int64_t H : {2, 4, 3, 6}) {  // powers of 2 and not
    const int64_t d = 4 * H;
    auto attn = make_attention(d, H, "alibi", torch::kFloat64, 40 + H);
    auto x = torch::randn({2, 17, d}, torch::kFloat64);
    const std::string what = " H=" + std::to_string(H);
    auto bias_form = softmax_rows(alibi_logits(attn, x));
    auto jordan = jordan_alpha(attn, x);
    EXPECT_TRUE(close(jordan, bias_form, 1e-12, 1e-13, "Jordan vs bias form" + what));
    EXPECT_TRUE(close(attn->coefficients(x), bias_form, 1e-12, 1e-13, "coefficients" + what));
    EXPECT_TRUE(close(attn->coefficients_from_transition(x), jordan, 1e-12, 1e-13,
                      "coefficients_from_transition" + what));
    auto v = heads_of(attn->v_proj(x), H);
    auto y = attn->out_proj(concat_heads(torch::matmul(jordan, v)));
    EXPECT_TRUE(close(attn->forward(x), y, 1e-12, 1e-13, "F vs Jordan" + what));
    EXPECT_TRUE(close(attn->reference(x), y, 1e-12, 1e-13, "R vs Jordan" + what));
  }
  // The bias is what makes ALiBi differ from NoPE with the same weights.
  auto alibi = make_attention(8, 2, "alibi", torch::kFloat64, 7);
  auto nope = make_attention(8, 2, "none", torch::kFloat64, 7);
  auto x = torch::randn({1, 9, 8}, torch::kFloat64);
  EXPECT_FALSE(close(alibi->forward(x), nope->forward(x), 1e-6, 1e-6, "alibi vs nope"));
}

TEST(SoftmaxAttention, TransitionsAreTheConstantPositionSystemWithItsDiagnostics) {
  auto x = torch::randn({2, 9, 8}, torch::kFloat64);
  // NoPE: A = I, ρ = 1, infinite horizon.
  auto nope = make_attention(8, 2, "none", torch::kFloat64, 3);
  EXPECT_EQ(nope->transitions(x).kind, core::TransitionKind::kIdentity);
  // RoPE: orthogonal, ρ = ‖A‖₂ = 1, all eigenvalues on the unit circle, nothing flagged.
  auto rope = make_attention(8, 2, "half", torch::kFloat64, 3);
  auto tr = rope->transitions(x);
  ASSERT_EQ(tr.kind, core::TransitionKind::kDense);
  EXPECT_TRUE(close(tr.dense.squeeze(1), rope->transition_matrices(), 0, 0, "rope A"));
  auto d = core::diagnose(tr);
  EXPECT_NEAR(d.spectral_radius.max, 1.0, 1e-12);
  EXPECT_NEAR(d.norm2.max, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(d.infinite_horizon_fraction, 1.0);
  EXPECT_EQ(d.nonnormal_transient_steps, 0);
  // ALiBi: the Jordan block has ρ = 1 but ‖A‖₂ > 1 (non-normal): flagged in every head.
  auto alibi = make_attention(8, 2, "alibi", torch::kFloat64, 3);
  auto da = core::diagnose(alibi->transitions(x));
  EXPECT_NEAR(da.spectral_radius.max, 1.0, 1e-12);
  EXPECT_GT(da.norm2.min, 1.0);
  EXPECT_EQ(da.nonnormal_transient_steps, 2);
  EXPECT_EQ(da.expansive_steps, 0);
}

TEST(LocalAttention, BandOfChunksEveryPathAndPosition) {
  // Query i sees keys j <= i with j >= (floor(i/w) - 1) w (protocols §4.2 LocalAttention). The
  // banded fast paths (T > 2w; the fused kernel and the chunked form) must equal the explicit
  // coefficients and the KV-cache reference, for T a multiple of w and not, with every position
  // encoding; fp64, 1e-12.
  for (const std::string position : {"none", "rope", "alibi"}) {
    for (int64_t w : {1, 3, 4}) {
      for (int64_t T : {13, 16})
        for (bool fused : {true, false}) {
          torch::manual_seed(100 + w + T);
          auto opts =
              SoftmaxAttentionOptions(8, 2).position(position).window(w).learnable_tau(true).fused(
                  fused);
          SoftmaxAttention attn(opts);
          attn->to(torch::kFloat64);
          auto x = torch::randn({2, T, 8}, torch::kFloat64);
          const std::string what = position + " w=" + std::to_string(w) +
                                   " T=" + std::to_string(T) + (fused ? " fused" : " chunked");
          auto alpha = attn->coefficients(x);  // (B, H, T, T)
          for (int64_t i = 0; i < T; ++i) {
            const int64_t first = std::max<int64_t>(0, (i / w - 1) * w);
            EXPECT_EQ(attn->first_visible_key(i), first);
            auto row = alpha.select(2, i);
            if (first > 0) {
              EXPECT_EQ(row.narrow(-1, 0, first).abs().max().item<double>(), 0.0) << what;
            }
            EXPECT_GT(row.narrow(-1, first, i + 1 - first).min().item<double>(), 0.0) << what;
            if (i + 1 < T) {
              EXPECT_EQ(row.narrow(-1, i + 1, T - i - 1).abs().max().item<double>(), 0.0);
            }
          }
          auto y = attn->from_core(x, torch::matmul(alpha, attn->values(x)));
          EXPECT_TRUE(close(attn->forward(x), y, 1e-12, 1e-13, "banded forward " + what));
          EXPECT_TRUE(close(attn->reference(x), y, 1e-12, 1e-13, "reference " + what));
          if (position != "none") {
            EXPECT_TRUE(close(attn->coefficients_from_transition(x), alpha, 1e-12, 1e-13,
                              "from transition " + what));
          }
          // The KV cache keeps only the visible keys: at most 2w, and exactly what state_size says.
          torch::NoGradGuard no_grad;
          auto state = attn->initial_state(2, x.options());
          for (int64_t t = 0; t < T; ++t) {
            auto yt = attn->step(state, x.select(1, t));
            EXPECT_TRUE(close(yt, y.select(1, t), 1e-12, 1e-13, "step " + what));
            EXPECT_LE(state[0].size(2), 2 * w);
            EXPECT_EQ(2 * 8 * state[0].size(2), attn->state_size(t + 1)) << what;
          }
        }
    }
  }
}

TEST(LocalAttention, WindowCoveringTheSequenceIsFullAttentionAndNegativeIsAnError) {
  // With T <= w every key is in the query's chunk: local = full attention with the same weights.
  // A shorter window differs.
  auto make = [](int64_t w) {
    torch::manual_seed(5);
    SoftmaxAttention a(SoftmaxAttentionOptions(8, 2).position("rope").window(w));
    a->to(torch::kFloat64);
    return a;
  };
  auto x = torch::randn({1, 12, 8}, torch::kFloat64);
  auto full = make(0)->forward(x);
  EXPECT_TRUE(close(make(12)->forward(x), full, 1e-12, 1e-13, "w = T"));
  EXPECT_FALSE(close(make(3)->forward(x), full, 1e-6, 1e-6, "w = 3"));
  EXPECT_THROW(make(-1), UserError);
}

// Non-causal attention (model.bidirectional; mixers.md §1.2 "Bidirectional (non-causal) use",
// protocols §4.2 "Non-causal: windows c-1, c, c+1"). alpha written here from the definition for
// NoPE and ALiBi (-m_h |i - j|): tau q_i.k_j over the visible band, softmax over the row.
torch::Tensor noncausal_alpha_by_hand(SoftmaxAttention& attn, const torch::Tensor& x, int64_t w) {
  const int64_t H = attn->heads(), T = x.size(1);
  auto q = heads_of(attn->q_proj(x), H);
  auto k = heads_of(attn->k_proj(x), H);
  auto raw = attn->tau() * torch::matmul(q, k.transpose(-2, -1));  // (B, H, T, T)
  const auto slopes = SoftmaxAttentionImpl::alibi_slopes(H);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) {
      auto entry = raw.select(2, i).select(2, j);  // (B, H)
      const bool visible = w == 0 || (j >= (i / w - 1) * w && j < (i / w + 2) * w);
      if (!visible) {
        entry.fill_(-INFINITY);
      } else if (attn->position() == "alibi") {
        for (int64_t h = 0; h < H; ++h)
          entry.select(1, h).sub_(slopes[h] * std::abs(static_cast<double>(i - j)));
      }
    }
  return torch::softmax(raw, -1);
}

TEST(NonCausalAttention, EveryPathAgreesForwardAndBackwardFullAndLocal) {
  // forward (batched matmul, or once T > 3w the fused banded kernel or the chunks of 3w keys) ==
  // reference (explicit rotations, every key cached before the first query) == coefficients @ V
  // == the forward plus reversed A-power system (A_rev = A^T for RoPE), outputs and every
  // gradient; fp64 at the §6.2 tolerances and fp32; T a multiple of w and not, windows 1, 3, 4
  // and full.
  for (auto dtype : {torch::kFloat64, torch::kFloat32})
    for (const std::string position : {"none", "rope", "alibi"})
      for (int64_t w : {0, 1, 3, 4})
        for (int64_t T : {1, 7, 13, 16})
          for (bool fused : {true, false}) {
            if (w == 0 && !fused) continue;  // full attention has one forward path
            torch::manual_seed(200 + 7 * w + T);
            auto opts = SoftmaxAttentionOptions(8, 2)
                            .position(position)
                            .window(w)
                            .learnable_tau(true)
                            .causal(false)
                            .fused(fused);
            SoftmaxAttention attn(opts);
            attn->to(dtype);
            {
              torch::NoGradGuard no_grad;
              attn->tau_param.fill_(0.8);
            }
            const std::string what = std::string(dtype == torch::kFloat64 ? "fp64 " : "fp32 ") +
                                     position + " w=" + std::to_string(w) +
                                     " T=" + std::to_string(T) + (fused ? " fused" : " chunked");
            auto t_opts = torch::TensorOptions().dtype(dtype);
            auto x0 = torch::randn({2, T, 8}, t_opts);
            auto w1 = torch::randn({2, T, 8}, t_opts), w2 = torch::randn({2, T, 8}, t_opts);
            auto run = [&](int path) {
              auto x = x0.clone().requires_grad_(true);
              torch::Tensor y =
                  path == 0   ? attn->forward(x)
                  : path == 1 ? attn->reference(x)
                  : path == 2
                      ? explicit_output(attn, x)
                      : attn->from_core(x, torch::matmul(attn->coefficients_from_transition(x),
                                                         attn->values(x)));
              auto grads =
                  torch::autograd::grad({contract_loss(y, w1, w2)}, inputs_and_params(attn, x));
              return std::make_pair(y.detach(), grads);
            };
            auto [ye, ge] = run(2);
            for (int path : {0, 1, 3}) {
              auto [y, g] = run(path);
              const Tol tf = path == 0 ? f_vs_e(dtype) : r_vs_e(dtype), tb = bwd(dtype);
              const std::string p = path == 0 ? "F" : path == 1 ? "R" : "A-power";
              EXPECT_TRUE(close(y, ye, tf.rtol, tf.atol, p + " vs E forward, " + what));
              for (size_t i = 0; i < g.size(); ++i)
                EXPECT_TRUE(close(g[i], ge[i], tb.rtol, tb.atol,
                                  p + " vs E grad " + std::to_string(i) + ", " + what));
            }
            if (dtype != torch::kFloat64 || position == "rope") continue;
            torch::NoGradGuard no_grad;
            EXPECT_TRUE(close(attn->coefficients(x0), noncausal_alpha_by_hand(attn, x0, w), 1e-12,
                              1e-13, "alpha by hand, " + what));
          }
}

TEST(NonCausalAttention, BandIsChunksAroundTheQueryAndTheFutureMatters) {
  torch::NoGradGuard no_grad;
  for (int64_t w : {0, 2, 3}) {
    torch::manual_seed(41 + w);
    SoftmaxAttention attn(
        SoftmaxAttentionOptions(8, 2).position("rope").window(w).learnable_tau(true).causal(false));
    attn->to(torch::kFloat64);
    const int64_t T = 11;
    auto x = torch::randn({2, T, 8}, torch::kFloat64);
    auto alpha = attn->coefficients(x);
    ASSERT_EQ(alpha.sizes(), (std::vector<int64_t>{2, 2, T, T}));
    EXPECT_LE((alpha.sum(-1) - 1).abs().max().item<double>(), 1e-12);
    for (int64_t i = 0; i < T; ++i) {
      const int64_t first = w == 0 ? 0 : std::max<int64_t>(0, (i / w - 1) * w);
      const int64_t end = w == 0 ? T : std::min<int64_t>(T, (i / w + 2) * w);
      EXPECT_EQ(attn->first_visible_key(i), first);
      EXPECT_EQ(attn->end_visible_key(i, T), end);
      auto row = alpha.select(2, i);
      EXPECT_GT(row.narrow(-1, first, end - first).min().item<double>(), 0.0);
      auto outside = torch::ones({T}, torch::kBool);
      outside.narrow(0, first, end - first).fill_(false);
      EXPECT_EQ(row.index({"...", outside}).abs().sum().item<double>(), 0.0)
          << "keys outside [" << first << ", " << end << ") of query " << i << ", w=" << w;
    }
    // A change at position t reaches exactly the queries whose band contains t (earlier ones too).
    const int64_t t = 5;
    auto x2 = x.clone();
    x2.select(1, t).add_(1.0);
    auto change = (attn->forward(x2) - attn->forward(x)).abs().amax({0, 2});  // (T)
    for (int64_t i = 0; i < T; ++i) {
      const bool sees = t >= attn->first_visible_key(i) && t < attn->end_visible_key(i, T);
      if (sees)
        EXPECT_GT(change[i].item<double>(), 1e-6) << "query " << i << " w=" << w;
      else
        EXPECT_EQ(change[i].item<double>(), 0.0) << "query " << i << " w=" << w;
    }
    // No step form: a query needs keys that have not arrived.
    EXPECT_THROW(attn->initial_state(2, x.options()), UserError);
    std::vector<torch::Tensor> state;
    EXPECT_THROW(attn->step(state, x.select(1, 0)), UserError);
  }
}

TEST(NonCausalAttention, WindowOfTheWholeSequenceIsFullAttentionAndGradcheck) {
  // T <= 2w: chunks c-1..c+1 cover every key, so local = full non-causal attention. Central
  // differences (§6.4) through the banded path (T = 9 > 3w = 6) with every parameter.
  auto make = [](int64_t w) {
    torch::manual_seed(6);
    SoftmaxAttention a(
        SoftmaxAttentionOptions(8, 2).position("alibi").window(w).learnable_tau(true).causal(
            false));
    a->to(torch::kFloat64);
    return a;
  };
  auto x = torch::randn({1, 8, 8}, torch::kFloat64);
  EXPECT_TRUE(close(make(4)->forward(x), make(0)->forward(x), 1e-12, 1e-13, "w = T/2"));
  EXPECT_FALSE(close(make(2)->forward(x), make(0)->forward(x), 1e-6, 1e-6, "w = 2"));
  auto attn = make(2);
  auto xg = torch::randn({2, 9, 8}, torch::kFloat64).requires_grad_(true);
  auto w1 = torch::randn({2, 9, 8}, torch::kFloat64), w2 = torch::randn({2, 9, 8}, torch::kFloat64);
  std::vector<torch::Tensor> params{xg};
  std::vector<std::string> names{"x"};
  for (auto& kv : attn->named_parameters()) {
    params.push_back(kv.value());
    names.push_back(kv.key());
  }
  EXPECT_TRUE(seqlab::testing::gradcheck([&] { return contract_loss(attn->forward(xg), w1, w2); },
                                         params, names));
}

TEST(SoftmaxAttention, StepOverTheSequenceReproducesForward) {
  // The KV-cache step (§1.5, §6.6) for every position option, fp64, §6.2 step tolerance vs R.
  torch::NoGradGuard no_grad;
  for (const char* pos : {"none", "half", "interleaved", "alibi"}) {
    auto attn = make_attention(8, 2, pos, torch::kFloat64, 17, /*learnable_tau=*/true);
    attn->tau_param.fill_(0.7);
    auto x = torch::randn({2, 11, 8}, torch::kFloat64);
    auto state = attn->initial_state(2, x.options());
    std::vector<torch::Tensor> ys;
    for (int64_t t = 0; t < 11; ++t) ys.push_back(attn->step(state, x.select(1, t)));
    EXPECT_TRUE(close(torch::stack(ys, 1), attn->reference(x), 1e-13, 1e-14,
                      std::string("step vs R, ") + pos));
    EXPECT_EQ(state[0].size(2), 11);  // the cache holds every key
    EXPECT_EQ(state[2].item<int64_t>(), 11);
  }
}

TEST(SoftmaxAttention, NormalizerIsTheRowSumOfExpLogitsInClosedForm) {
  // With W_q = 0, b_q = 0 every score tau q.k is 0: NoPE gives eta_i = i (1-based), ALiBi gives
  // eta_i = sum_{l<i} r^l = (1 - r^i) / (1 - r) with r = e^{-m_h} (§1.2, §2.2.3).
  torch::NoGradGuard no_grad;
  const int64_t T = 9;
  for (const char* pos : {"none", "alibi"}) {
    auto attn = make_attention(8, 2, pos, torch::kFloat64, 5);
    attn->q_proj->weight.zero_();
    attn->q_proj->bias.zero_();
    auto x = torch::randn({2, T, 8}, torch::kFloat64);
    auto i = torch::arange(1, T + 1, torch::kFloat64);
    torch::Tensor expected;
    if (std::string(pos) == "none") {
      expected = i.view({1, 1, T}).expand({2, 2, T});
    } else {
      const auto m = SoftmaxAttentionImpl::alibi_slopes(2);
      auto r = torch::exp(-torch::tensor(m, torch::kFloat64)).view({2, 1});
      expected = ((1 - r.pow(i.view({1, T}))) / (1 - r)).unsqueeze(0).expand({2, 2, T});
    }
    const auto n = attn->normalizers(x);
    EXPECT_TRUE(close(n.eta, expected, 1e-14, 1e-14, std::string("eta ") + pos));
    EXPECT_TRUE(close(n.log_eta, expected.log(), 1e-14, 1e-14, std::string("log eta ") + pos));
    EXPECT_FALSE(n.clamp_active.defined());
  }
  // Random weights: eta_i = sum_l exp(alpha~_il) from the logits written out (ALiBi).
  auto attn = make_attention(8, 2, "alibi", torch::kFloat64, 6);
  auto x = torch::randn({2, T, 8}, torch::kFloat64);
  EXPECT_TRUE(close(attn->normalizers(x).eta, alibi_logits(attn, x).exp().sum(-1), 1e-13, 1e-14,
                    "eta vs written-out logits"));
}

TEST(SoftmaxAttention, DsfEigenvalueOfConstantScoresIsIMinusOneOverI) {
  // §4.2: constant logits give eta_i = i e^c, so Lambda_i = eta_{i-1}/eta_i = (i-1)/i for
  // i = 2..T: with T = 9 all 8 values per row lie in [1/2, 8/9], none above 1.
  torch::NoGradGuard no_grad;
  const int64_t T = 9;
  auto attn = make_attention(8, 2, "half", torch::kFloat64, 5);
  attn->q_proj->weight.zero_();
  attn->q_proj->bias.zero_();
  const auto s =
      core::normalizer_stats(attn->normalizers(torch::randn({2, T, 8}, torch::kFloat64)));
  EXPECT_EQ(s.rows, 2 * 2 * T);
  EXPECT_EQ(s.eigen_steps, 2 * 2 * (T - 1));
  EXPECT_NEAR(s.dsf_eigenvalue.min, 0.5, 1e-14);
  EXPECT_NEAR(s.dsf_eigenvalue.max, (T - 1.0) / T, 1e-14);
  // 32 values, each (i-1)/i four times: the median (element 15 of the sorted 32) is 4/5.
  EXPECT_NEAR(s.dsf_eigenvalue.median, 0.8, 1e-14);
  EXPECT_EQ(s.eigen_bins[0] + s.eigen_bins[1], 2 * 2 * (T - 1));  // Λ = 1/2 sits on the edge
  EXPECT_EQ(s.eigen_above_one, 0);
  EXPECT_NEAR(s.eta.min, 1.0, 1e-14);
  EXPECT_DOUBLE_EQ(s.small_fraction, 0.0);
}

TEST(SoftmaxAttention, LogitScaleIsTheStdOfTheRawLogits) {
  // §4.2: alpha~_ij = log alpha_ij + log eta_i over j <= i, so the std of the content logits
  // follows from coefficients() and normalizers(); ALiBi's bias is left out, so ALiBi reports
  // the NoPE value for the same weights.
  torch::NoGradGuard no_grad;
  const int64_t T = 10;
  auto nope = make_attention(8, 2, "none", torch::kFloat64, 12);
  auto alibi = make_attention(8, 2, "alibi", torch::kFloat64, 12);
  auto x = torch::randn({2, T, 8}, torch::kFloat64);
  auto raw = nope->coefficients(x).log() + nope->normalizers(x).log_eta.unsqueeze(-1);
  auto causal = raw.masked_select(torch::ones({T, T}, torch::kBool).tril());
  const auto s = nope->logit_scale(x);
  EXPECT_EQ(s.entries, 2 * 2 * T * (T + 1) / 2);
  EXPECT_NEAR(s.std, causal.std(/*unbiased=*/false).item<double>(), 1e-12);
  const double vq = heads_of(nope->q_proj(x), 2).var(false).item<double>();
  const double vk = heads_of(nope->k_proj(x), 2).var(false).item<double>();
  EXPECT_NEAR(s.predicted_std, 0.5 * std::sqrt(4 * vq * vk), 1e-12);
  EXPECT_DOUBLE_EQ(alibi->logit_scale(x).std, s.std);
}

TEST(SoftmaxAttention, LearnableTemperatureStartsAtInverseSqrtNAndTrains) {
  auto fixed = make_attention(8, 2, "alibi", torch::kFloat64, 3);
  auto learn = make_attention(8, 2, "alibi", torch::kFloat64, 3, /*learnable_tau=*/true);
  EXPECT_DOUBLE_EQ(learn->tau(), 0.5);  // n = 4
  EXPECT_EQ(learn->named_parameters().size(), fixed->named_parameters().size() + 1);
  auto x = torch::randn({2, 7, 8}, torch::kFloat64);
  EXPECT_TRUE(close(learn->forward(x), fixed->forward(x), 0.0, 0.0, "same function at init"));
  auto g = torch::autograd::grad({learn->forward(x).pow(2).sum()}, {learn->tau_param});
  EXPECT_GT(g[0].abs().item<double>(), 0.0);
}

TEST(SoftmaxAttentionRope, LayoutsDifferByARowPermutationOfWqWk) {
  // §2.2.2: copying W_q, W_k rows of an interleaved layer into a half layer with the pair
  // permutation (2m -> m, 2m+1 -> m + n/2, per head) gives the same function.
  torch::NoGradGuard no_grad;
  const int64_t d = 16, H = 2, n = d / H;
  auto inter = make_attention(d, H, "interleaved", torch::kFloat64, 3);
  auto half = make_attention(d, H, "half", torch::kFloat64, 4);
  std::vector<int64_t> perm(d);  // half row r takes interleaved row perm[r]
  for (int64_t h = 0; h < H; ++h)
    for (int64_t m = 0; m < n / 2; ++m) {
      perm[h * n + m] = h * n + 2 * m;
      perm[h * n + m + n / 2] = h * n + 2 * m + 1;
    }
  auto idx = torch::tensor(perm, torch::kInt64);
  half->q_proj->weight.copy_(inter->q_proj->weight.index_select(0, idx));
  half->q_proj->bias.copy_(inter->q_proj->bias.index_select(0, idx));
  half->k_proj->weight.copy_(inter->k_proj->weight.index_select(0, idx));
  half->k_proj->bias.copy_(inter->k_proj->bias.index_select(0, idx));
  for (const char* name : {"v_proj.weight", "v_proj.bias", "out_proj.weight", "out_proj.bias"})
    half->named_parameters()[name].copy_(inter->named_parameters()[name]);
  auto x = torch::randn({2, 33, d}, torch::kFloat64);
  EXPECT_TRUE(close(half->forward(x), inter->forward(x), 1e-12, 1e-13, "half vs interleaved"));
  // Without the permutation the two layouts are different functions.
  auto plain = make_attention(d, H, "half", torch::kFloat64, 3);
  EXPECT_FALSE(close(plain->forward(x), inter->forward(x), 1e-6, 1e-6, "same weights"));
}

TEST(SoftmaxAttentionRope, RotationIsRelative) {
  // (R_i q)^T (R_j k) depends only on j - i: shifting every position by a constant leaves the
  // rotated score unchanged. Checked through alpha on a sequence whose first token repeats.
  torch::NoGradGuard no_grad;
  auto attn = make_attention(8, 1, "half", torch::kFloat64, 8);
  auto tok = torch::randn({1, 1, 8}, torch::kFloat64);
  auto x = tok.expand({1, 5, 8}).contiguous();
  auto alpha = attn->coefficients(x);  // identical tokens: alpha_ij depends on i - j only
  for (int64_t i = 1; i < 5; ++i)
    for (int64_t j = 1; j <= i; ++j) {
      // rows i and i-1 share the relative-score profile up to the extra j = 0 column
      const double r_i = alpha[0][0][i][j].item<double>() / alpha[0][0][i][i].item<double>();
      const double r_prev =
          alpha[0][0][i - 1][j - 1].item<double>() / alpha[0][0][i - 1][i - 1].item<double>();
      EXPECT_NEAR(r_i, r_prev, 1e-12) << "i=" << i << " j=" << j;
    }
}

TEST(SoftmaxAttention, GradcheckDoubleAllParameters) {
  // §6.4 central differences in fp64 on every parameter and the input.
  for (const char* rope : {"none", "half", "interleaved", "alibi"}) {
    auto attn = make_attention(8, 2, rope, torch::kFloat64, 31, /*learnable_tau=*/true);
    auto x = torch::randn({2, 7, 8}, torch::kFloat64).requires_grad_(true);
    auto w1 = torch::randn({2, 7, 8}, torch::kFloat64);
    auto w2 = torch::randn({2, 7, 8}, torch::kFloat64);
    std::vector<torch::Tensor> params{x};
    std::vector<std::string> names{"x"};
    for (auto& kv : attn->named_parameters()) {
      params.push_back(kv.value());
      names.push_back(kv.key());
    }
    EXPECT_TRUE(seqlab::testing::gradcheck([&] { return contract_loss(attn->forward(x), w1, w2); },
                                           params, names))
        << "rope=" << rope;
  }
}

TEST(SoftmaxAttention, InitStateSizeStructure) {
  auto attn = make_attention(16, 4, "none", torch::kFloat32, 1);
  const double bound = 1.0 / std::sqrt(16.0);  // Linear init U(+-1/sqrt(fan_in)) (§0.3)
  for (auto& kv : attn->named_parameters()) {
    EXPECT_LE(kv.value().abs().max().item<double>(), bound) << kv.key();
    EXPECT_GT(kv.value().abs().max().item<double>(), 0.5 * bound) << kv.key();
  }
  EXPECT_EQ(attn->named_parameters().size(), 8u);
  EXPECT_EQ(attn->head_dim(), 4);
  EXPECT_DOUBLE_EQ(attn->tau(), 0.5);
  EXPECT_EQ(attn->state_size(0), 0);
  EXPECT_EQ(attn->state_size(10), 2 * 16 * 10);
  EXPECT_EQ(attn->structure(), Structure::kIdentity);
  EXPECT_EQ(make_attention(16, 4, "half", torch::kFloat32, 1)->structure(),
            Structure::kOrthogonalLTI);
  EXPECT_EQ(make_attention(16, 4, "alibi", torch::kFloat32, 1)->structure(),
            Structure::kOrthogonalLTI);  // the "orthogonal / Jordan, LTI" class of §3.1
}

TEST(SoftmaxAttention, InvalidOptionsThrowUserError) {
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(10, 3)), seqlab::UserError);
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(6, 2).rope(true)), seqlab::UserError);
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(8, 2).rope(true).rope_layout("pairs")),
               seqlab::UserError);
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(0, 1)), seqlab::UserError);
  EXPECT_NO_THROW(SoftmaxAttention(SoftmaxAttentionOptions(6, 2)));  // odd n is fine without RoPE
  EXPECT_NO_THROW(SoftmaxAttention(SoftmaxAttentionOptions(6, 2).position("alibi")));
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(8, 2).position("xpos")), seqlab::UserError);
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(8, 2).position("alibi").rope(true)),
               seqlab::UserError);
  // rope(true) is the older spelling of position("rope").
  EXPECT_EQ(SoftmaxAttention(SoftmaxAttentionOptions(8, 2).rope(true))->position(), "rope");
  EXPECT_EQ(SoftmaxAttention(SoftmaxAttentionOptions(8, 2).position("rope"))->position(), "rope");
  auto attn = make_attention(8, 2, "none", torch::kFloat32, 1);
  EXPECT_THROW(attn->forward(torch::randn({2, 3, 7})), c10::Error);
}

}  // namespace softmax_attention_test
}  // namespace seqlab::mixers
