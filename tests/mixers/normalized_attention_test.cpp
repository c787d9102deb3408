// Normalized attention (DSF; spec/mixers.md §2.2.5, §6): the dsf variant written out from its
// parameters; the DSF recurrence h_i = (η_{i−1}/η_i) h_{i−1} + (1/η_i) k_i v_iᵀ, y_i = q_iᵀ h_i
// (§6.5 item 6), also as a scalar-gated system with gate Λ_i = η_{i−1}/η_i; the companion
// variant's paths (fused, chunked, reference, explicit; gradients), step API and central
// differences for each norm_fn / approx_fn / conv option; the offset initializations including
// the H = 1 quirk; the zoo factory's variant switch; bad options.
#include "seqlab/mixers/normalized_attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/mixer_contract.h"
#include "../common/testing.h"
#include "seqlab/core/gated_scan.h"
#include "seqlab/mixers/gated_mixer.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace normalized_attention_test {

using torch::Tensor;
using namespace seqlab::testing::contract;  // tolerances, paths and run_path (§6.1-§6.4)

ZooOptions small(int64_t d = 8, int64_t heads = 2, int64_t head_dim = 0) {
  ZooOptions o;
  o.d_model = d;
  o.heads = heads;
  o.head_dim = head_dim;
  o.chunk_size = 3;
  return o;
}

std::shared_ptr<GatedMixer> make(const ZooOptions& o, const NormalizedAttentionOptions& n,
                                 torch::ScalarType dtype, uint64_t seed) {
  torch::manual_seed(seed);
  auto m = std::dynamic_pointer_cast<GatedMixer>(make_normalized_attention(o, n));
  m->to(dtype);
  return m;
}

Tensor param(Mixer& m, const std::string& name) {
  return m.named_parameters()[name];
}

Tensor heads_of(const Tensor& t, int64_t H) {  // (B, T, H·d) -> (B, H, T, d)
  return t.view({t.size(0), t.size(1), H, t.size(2) / H}).permute({0, 2, 1, 3});
}

// The dsf variant (dsf-mqar MHNA) written out from its parameters (§2.2.5):
// y_i = W_o concat_h(Σ_{j≤i} (q_iᵀk_j) v_j / exp(W_η u_i + b_η)_h) + b_o.
TEST(NormalizedAttention, DsfVariantWrittenOutFromItsParameters) {
  torch::NoGradGuard no_grad;
  const int64_t H = 2, n = 3, T = 7;
  auto m = make(small(8, H, n), {}, torch::kFloat64, 1);
  auto x = torch::randn({2, T, 8}, torch::kFloat64);
  auto qk =
      torch::nn::functional::linear(x, param(*m, "qk_proj.weight"), param(*m, "qk_proj.bias"));
  auto q = heads_of(qk.narrow(-1, 0, H * n), H), k = heads_of(qk.narrow(-1, H * n, H * n), H);
  auto v = heads_of(
      torch::nn::functional::linear(x, param(*m, "v_proj.weight"), param(*m, "v_proj.bias")), H);
  auto eta = torch::nn::functional::linear(x, param(*m, "n_proj.weight"), param(*m, "n_proj.bias"))
                 .exp()
                 .permute({0, 2, 1});  // (B, H, T)
  auto scores = torch::matmul(q, k.transpose(-2, -1)).tril();
  auto y = torch::matmul(scores, v) / eta.unsqueeze(-1);
  auto out =
      torch::nn::functional::linear(y.permute({0, 2, 1, 3}).reshape({2, T, 8}),
                                    param(*m, "out_proj.weight"), param(*m, "out_proj.bias"));
  EXPECT_TRUE(close(m->forward(x), out, r_vs_e(torch::kFloat64), "F vs written out"));
  EXPECT_TRUE(close(m->reference(x), out, r_vs_e(torch::kFloat64), "R vs written out"));
  const auto norm = m->normalizers(x);
  EXPECT_TRUE(close(norm.eta, eta, Tol{1e-14, 1e-14}, "normalizers"));
  EXPECT_EQ(m->structure(), Structure::kIdentity);
  EXPECT_EQ(m->state_size(5), H * n * (8 / H));
  EXPECT_EQ(m->transitions(x).kind, core::TransitionKind::kIdentity);  // A = I
}

NormalizedAttentionOptions companion(const std::string& norm_fn, const std::string& approx_fn,
                                     int64_t dim_conv, const std::string& conv_type = "full") {
  NormalizedAttentionOptions n;
  n.variant = "companion";
  n.norm_fn = norm_fn;
  n.approx_fn = approx_fn;
  n.dim_conv = dim_conv;
  n.conv_type = conv_type;
  return n;
}

// norm_fn exp with the offsets (4..9 or 8..14) makes η = exp(e^{n+o}) overflow, so the output is
// exactly 0 (as in the reference); such cases run without the offset.
NormalizedAttentionOptions no_offset(NormalizedAttentionOptions n) {
  n.offset = false;
  return n;
}

// §6.5 item 6 (fp64, 1e-12 relative): the DSF recurrence h_i = (η_{i−1}/η_i) h_{i−1} +
// (1/η_i) k_i v_iᵀ, y_i = q_iᵀ h_i, with h_i = S_i/η_i, reproduces normalized attention; and the
// same recurrence is the scalar class with A_i = Λ_i I, Λ_i = η_{i−1}/η_i, impulse k_i/η_i.
TEST(NormalizedAttention, DsfRecurrenceReproducesNormalizedAttention) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, NormalizedAttentionOptions>> variants = {
      {"dsf", {}},
      {"companion softplus", companion("softplus", "none", 0)},
      {"companion exp elu+1 conv", no_offset(companion("exp", "elu+1", 3))},
      {"companion sigmoid partial conv", companion("sigmoid", "none", 2, "partial")},
      {"companion elu", companion("elu", "elu+1", 0)}};
  for (const auto& [what, opts] : variants) {
    auto m = make(small(8, 2), opts, torch::kFloat64, 3);
    const int64_t T = 13;
    auto x = torch::randn({2, T, 8}, torch::kFloat64);
    auto c = m->core_inputs(x, 0);     // q, b·k, v (B, H, T, ·)
    auto eta = m->normalizers(x).eta;  // (B, H, T)
    auto h = torch::zeros({2, 2, c.k.size(-1), c.v.size(-1)}, torch::kFloat64);
    std::vector<Tensor> ys;
    for (int64_t i = 0; i < T; ++i) {
      auto e = eta.select(2, i).unsqueeze(-1).unsqueeze(-1);
      auto lambda =
          i == 0 ? torch::zeros_like(e) : eta.select(2, i - 1).unsqueeze(-1).unsqueeze(-1) / e;
      auto kv = c.k.select(2, i).unsqueeze(-1) * c.v.select(2, i).unsqueeze(-2);
      h = lambda * h + kv / e;
      ys.push_back((c.q.select(2, i).unsqueeze(-1) * h).sum(-2));  // q_iᵀ h_i
    }
    auto y_core = torch::stack(ys, 2);
    // from_core divides by η; undo it to compare the normalized core.
    auto out = m->from_core(x, y_core * eta.unsqueeze(-1));
    EXPECT_TRUE(close(m->reference(x), out, Tol{1e-12, 1e-13}, what + ": R vs DSF recurrence"));
    EXPECT_TRUE(close(m->forward(x), out, Tol{1e-12, 1e-13}, what + ": F vs DSF recurrence"));
    EXPECT_TRUE(close(explicit_path(*m, x), out, Tol{1e-12, 1e-13}, what + ": E vs DSF"));
    // The scalar-gated form: log gate log Λ_i = log η_{i−1} − log η_i, impulse k_i / η_i.
    auto log_eta = eta.log();
    auto g =
        (torch::constant_pad_nd(log_eta, {1, 0}, 0.0).narrow(-1, 0, T) - log_eta).unsqueeze(-1);
    auto scalar = core::gated_scan_reference(c.q, c.k / eta.unsqueeze(-1), c.v, g).y;
    EXPECT_TRUE(close(scalar, y_core, Tol{1e-12, 1e-13}, what + ": scalar-class form"));
  }
}

struct Case {
  std::string norm_fn, approx_fn;
  int64_t dim_conv;
  std::string conv_type;
  bool scale_B, offset;
  std::string offset_init;
  int64_t T;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.norm_fn << "_" << (c.approx_fn == "none" ? "id" : "elu1") << "_conv" << c.dim_conv
            << c.conv_type << (c.scale_B ? "_scaled" : "") << (c.offset ? "_off" : "")
            << c.offset_init << "_T" << c.T << (c.dtype == torch::kFloat64 ? "_f64" : "_f32");
}

NormalizedAttentionOptions options_of(const Case& c) {
  auto n = companion(c.norm_fn, c.approx_fn, c.dim_conv, c.conv_type);
  n.scale_B = c.scale_B;
  n.offset = c.offset;
  n.offset_init = c.offset_init;
  return n;
}

class Companion : public ::testing::TestWithParam<Case> {};

TEST_P(Companion, PathsAgreeForwardAndBackward) {
  const Case c = GetParam();
  for (auto path : {core::ScanPath::kFused, core::ScanPath::kChunked}) {
    auto o = small(8, 2);
    o.path = path;
    auto m = make(o, options_of(c), c.dtype, 11);
    check_paths_agree(*m, c.T, 8, c.dtype);
  }
}

TEST_P(Companion, StepMatchesReferenceAndForward) {
  const Case c = GetParam();
  auto m = make(small(8, 2), options_of(c), c.dtype, 12);
  check_step_matches(*m, c.T, 8, c.dtype);
}

std::vector<Case> cases() {
  std::vector<Case> out;
  for (auto dt : {torch::kFloat32, torch::kFloat64}) {
    out.push_back({"softplus", "none", 0, "full", true, true, "exp", 7, dt});
    out.push_back({"exp", "elu+1", 3, "full", false, false, "exp", 9, dt});
    out.push_back({"elu", "none", 4, "partial", true, false, "exp", 1, dt});
    out.push_back({"sigmoid", "elu+1", 2, "partial", true, true, "uniform", 20, dt});
    out.push_back({"softplus", "elu+1", 3, "full", true, true, "uniform", 7, dt});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Options, Companion, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::ostringstream os;
                           os << info.param;
                           auto s = os.str();
                           for (auto& ch : s)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });

TEST(NormalizedAttention, CompanionGradientsMatchCentralDifferences) {
  for (const auto& opts :
       {companion("softplus", "elu+1", 3), companion("exp", "none", 2, "partial")}) {
    auto m = make(small(8, 2), opts, torch::kFloat64, 21);
    auto x = torch::randn({2, 5, 8}, torch::kFloat64).requires_grad_(true);
    auto w1 = torch::randn({2, 5, 8}, torch::kFloat64),
         w2 = torch::randn({2, 5, 8}, torch::kFloat64);
    std::vector<Tensor> params{x};
    std::vector<std::string> names{"x"};
    for (auto& kv : m->named_parameters()) {
      params.push_back(kv.value());
      names.push_back(kv.key());
    }
    EXPECT_TRUE(seqlab::testing::gradcheck(
        [&] { return seqlab::testing::contract_loss(m->forward(x), w1, w2); }, params, names))
        << opts.norm_fn;
  }
}

TEST(NormalizedAttention, CompanionNormalizerIsExpOfNormFnOfShiftedLogit) {
  // η_i = exp(f(n_i + o_h)) with n the last H outputs of the fused projection (§2.2.5).
  torch::NoGradGuard no_grad;
  auto m = make(small(8, 2), companion("softplus", "none", 0), torch::kFloat64, 4);
  auto x = torch::randn({2, 6, 8}, torch::kFloat64);
  auto all =
      torch::nn::functional::linear(x, param(*m, "in_proj.weight"), param(*m, "in_proj.bias"));
  auto pre = all.narrow(-1, 8 + 2 * 8, 2) + param(*m, "offset");
  auto eta = torch::exp(torch::softplus(pre)).permute({0, 2, 1});
  EXPECT_TRUE(close(m->normalizers(x).eta, eta, Tol{1e-14, 1e-14}, "eta"));
  EXPECT_EQ(all.size(-1), 8 + 2 * 8 + 2);  // [v, q, k, n]
}

// The companion's short conv written out (§2.2.5, §5.3): depthwise causal
// c_t = Σ_{m<K} w[c, m] x_{t−K+1+m} + b_c, then SiLU, over [v, q, k] (full) or [q, k] (partial,
// v stays the raw projection); approx_fn elu+1 on q and k afterwards; k scaled by n^{-1/2}.
TEST(NormalizedAttention, CompanionConvTypesWrittenOut) {
  torch::NoGradGuard no_grad;
  const int64_t K = 3, T = 8, d = 8, H = 2, dqk = 8;
  for (const std::string type : {"full", "partial"}) {
    auto m = make(small(d, H), companion("softplus", "elu+1", K, type), torch::kFloat64, 6);
    auto x = torch::randn({2, T, d}, torch::kFloat64);
    auto z =
        torch::nn::functional::linear(x, param(*m, "in_proj.weight"), param(*m, "in_proj.bias"))
            .narrow(-1, 0, d + 2 * dqk);
    const int64_t first = type == "full" ? 0 : d;  // first convolved channel
    auto w = param(*m, "conv.conv.weight").squeeze(1), b = param(*m, "conv.conv.bias");
    ASSERT_EQ(w.size(0), d + 2 * dqk - first);
    auto conv = torch::zeros_like(z.narrow(-1, first, d + 2 * dqk - first));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t mm = 0; mm < K; ++mm) {
        const int64_t src = t - K + 1 + mm;
        if (src >= 0)
          conv.select(1, t) += w.select(1, mm) * z.select(1, src).narrow(-1, first, w.size(0));
      }
    auto act = torch::silu(conv + b);
    auto vqk = first == 0 ? act : torch::cat({z.narrow(-1, 0, d), act}, -1);
    auto c = m->core_inputs(x, 0);
    const Tol exact{1e-14, 1e-14};
    EXPECT_TRUE(close(c.v, heads_of(vqk.narrow(-1, 0, d), H), exact, type + " v"));
    EXPECT_TRUE(
        close(c.q, heads_of(torch::elu(vqk.narrow(-1, d, dqk)) + 1, H), exact, type + " q"));
    EXPECT_TRUE(close(c.k, heads_of(torch::elu(vqk.narrow(-1, d + dqk, dqk)) + 1, H) / 2.0, exact,
                      type + " k"));  // n = 4: s = 1/2
  }
}

TEST(NormalizedAttention, OffsetInitializations) {
  auto e = normalized_attention_offset_init("exp", 4);
  EXPECT_TRUE(close(e, torch::tensor({4.0, 4 + 5.0 / 3, 4 + 10.0 / 3, 9.0}, torch::kFloat64),
                    Tol{1e-15, 1e-15}, "exp"));
  auto u = normalized_attention_offset_init("uniform", 4);
  EXPECT_DOUBLE_EQ(u[0].item<double>(), 8.0);
  EXPECT_DOUBLE_EQ(u[3].item<double>(), 14.0);
  // softplus⁻¹ is concave near 0: the rescaled points are increasing and bunched at the top.
  EXPECT_GT(u[1].item<double>(), 8.0 + 2.0);
  EXPECT_LT(u[1].item<double>(), u[2].item<double>());
  const double y = 0.02 + 0.08 / 3;  // second point, written out
  const auto inv = [](double t) { return t + std::log(-std::expm1(-t)); };
  EXPECT_NEAR(u[1].item<double>(), 8 + 6 * (inv(y) - inv(0.02)) / (inv(0.1) - inv(0.02)), 1e-12);
  // The reference's H = 1 quirk: (hi − lo)/2 = 3, not a value in [8, 14].
  EXPECT_DOUBLE_EQ(normalized_attention_offset_init("uniform", 1)[0].item<double>(), 3.0);
  EXPECT_DOUBLE_EQ(normalized_attention_offset_init("exp", 1)[0].item<double>(), 4.0);
  EXPECT_THROW(normalized_attention_offset_init("normal", 2), UserError);
}

TEST(NormalizedAttention, ZooVariantSwitchAndBadOptions) {
  auto o = small(8, 2);
  o.conv_size = 3;
  auto dsf = make_mixer("normalized_attention", o);
  EXPECT_EQ(dsf->named_parameters().size(), 8u);  // qk, v, n, out projections
  o.variant = "companion";
  auto comp = make_mixer("normalized_attention", o);
  auto names = comp->named_parameters().keys();
  for (const char* want : {"in_proj.weight", "conv.conv.weight", "offset"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  // Published defaults: offset_init exp; conv over [v, q, k] with kernel conv_size.
  EXPECT_TRUE(close(comp->named_parameters()["offset"].to(torch::kFloat64),
                    torch::tensor({4.0, 9.0}, torch::kFloat64), Tol{1e-6, 1e-6}, "offset"));
  EXPECT_EQ(comp->state_size(1), 2 * 4 * 4 + 2 * (8 + 16));
  o.variant = "mhna";
  EXPECT_THROW(make_mixer("normalized_attention", o), UserError);
  auto bad = [&](auto edit) {
    auto n = companion("softplus", "none", 0);
    edit(n);
    return make_normalized_attention(small(), n);
  };
  EXPECT_THROW(bad([](auto& n) { n.norm_fn = "tanh"; }), UserError);
  EXPECT_THROW(bad([](auto& n) { n.approx_fn = "relu"; }), UserError);
  EXPECT_THROW(bad([](auto& n) { n.conv_type = "half"; }), UserError);
  EXPECT_THROW(bad([](auto& n) { n.dim_conv = -1; }), UserError);
  EXPECT_THROW(make_normalized_attention(small(10, 3), NormalizedAttentionOptions{}), UserError);
}

}  // namespace normalized_attention_test
}  // namespace seqlab::mixers
