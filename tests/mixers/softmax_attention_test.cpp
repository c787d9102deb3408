// Equivalence contract for causal softmax attention, NoPE and RoPE (spec/mixers.md §2.2.1,
// §2.2.2, §6.2-§6.5): forward (F) vs reference (R) vs coefficients (E) applied to V, forward and
// backward, fp32 and fp64; softmax rows; exact causality; the RoPE A-power form; gradcheck.
#include "seqlab/mixers/softmax_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace {

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

SoftmaxAttention make_attention(int64_t d, int64_t heads, const std::string& rope,
                                torch::Dtype dtype, uint64_t seed) {
  torch::manual_seed(seed);
  auto opts = SoftmaxAttentionOptions(d, heads).rope(rope != "none");
  if (rope != "none") opts.rope_layout(rope);
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
  std::string rope;  // none | half | interleaved
  int64_t d, heads, T;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << (c.dtype == torch::kFloat64 ? "fp64" : "fp32") << " rope=" << c.rope << " d=" << c.d
      << " H=" << c.heads << " T=" << c.T;
}

class AttentionContract : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionContract, ForwardReferenceExplicitAgreeForwardAndBackward) {
  const Case c = GetParam();
  const int64_t B = 2;
  auto attn = make_attention(c.d, c.heads, c.rope, c.dtype, 11 + c.T);
  auto opts = torch::TensorOptions().dtype(c.dtype);
  auto x0 = torch::randn({B, c.T, c.d}, opts);
  auto w1 = torch::randn({B, c.T, c.d}, opts);
  auto w2 = torch::randn({B, c.T, c.d}, opts);

  auto run = [&](int path) {
    auto x = x0.clone().requires_grad_(true);
    torch::Tensor y = path == 0   ? attn->forward(x)
                      : path == 1 ? attn->reference(x)
                                  : explicit_output(attn, x);
    auto grads = torch::autograd::grad({contract_loss(y, w1, w2)}, inputs_and_params(attn, x));
    return std::make_pair(y.detach(), grads);
  };
  auto [yf, gf] = run(0);
  auto [yr, gr] = run(1);
  auto [ye, ge] = run(2);

  ASSERT_EQ(yf.sizes(), (std::vector<int64_t>{B, c.T, c.d}));
  EXPECT_EQ(yf.scalar_type(), c.dtype);
  const double rms = ye.to(torch::kFloat64).pow(2).mean().sqrt().item<double>();
  EXPECT_GE(rms, 0.1);  // §6.2: inputs scaled so that RMS(y) is in [0.1, 10]
  EXPECT_LE(rms, 10.0);

  EXPECT_TRUE(close(yf, ye, f_vs_e(c.dtype).rtol, f_vs_e(c.dtype).atol, "F vs E forward"));
  EXPECT_TRUE(close(yr, ye, r_vs_e(c.dtype).rtol, r_vs_e(c.dtype).atol, "R vs E forward"));
  auto pnames = attn->named_parameters().keys();
  for (size_t i = 0; i < ge.size(); ++i) {
    const std::string what = i == 0 ? std::string("x") : pnames[i - 1];
    EXPECT_TRUE(close(gf[i], ge[i], bwd(c.dtype).rtol, bwd(c.dtype).atol, "F vs E grad " + what));
    EXPECT_TRUE(close(gr[i], ge[i], bwd(c.dtype).rtol, bwd(c.dtype).atol, "R vs E grad " + what));
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
    for (const char* rope : {"none", "half", "interleaved"})
      for (int64_t T : {1, 2, 7, 33}) cases.push_back({dt, rope, 8, 2, T});
  // n = 1 (NoPE only) and n = 8 (RoPE with four rotation pairs).
  for (auto dt : {torch::kFloat32, torch::kFloat64}) {
    cases.push_back({dt, "none", 4, 4, 7});
    cases.push_back({dt, "half", 16, 2, 33});
    cases.push_back({dt, "interleaved", 16, 2, 33});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cases, AttentionContract, ::testing::ValuesIn(contract_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           const Case& c = info.param;
                           return std::string(c.dtype == torch::kFloat64 ? "fp64" : "fp32") + "_" +
                                  c.rope + "_d" + std::to_string(c.d) + "_H" +
                                  std::to_string(c.heads) + "_T" + std::to_string(c.T);
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
      // And the fast and reference paths through the same alpha.
      auto v = heads_of(attn->v_proj(x), heads);
      auto y = attn->out_proj(concat_heads(torch::matmul(expected, v)));
      EXPECT_TRUE(close(attn->forward(x), y, 1e-11, 1e-12, "F vs A-power, layout " + layout));
      EXPECT_TRUE(close(attn->reference(x), y, 1e-12, 1e-13, "R vs A-power, layout " + layout));
    }
  }
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
  for (const char* rope : {"none", "half", "interleaved"}) {
    auto attn = make_attention(8, 2, rope, torch::kFloat64, 31);
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
}

TEST(SoftmaxAttention, InvalidOptionsThrowUserError) {
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(10, 3)), seqlab::UserError);
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(6, 2).rope(true)), seqlab::UserError);
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(8, 2).rope(true).rope_layout("pairs")),
               seqlab::UserError);
  EXPECT_THROW(SoftmaxAttention(SoftmaxAttentionOptions(0, 1)), seqlab::UserError);
  EXPECT_NO_THROW(SoftmaxAttention(SoftmaxAttentionOptions(6, 2)));  // odd n is fine without RoPE
  auto attn = make_attention(8, 2, "none", torch::kFloat32, 1);
  EXPECT_THROW(attn->forward(torch::randn({2, 3, 7})), c10::Error);
}

}  // namespace
}  // namespace seqlab::mixers
