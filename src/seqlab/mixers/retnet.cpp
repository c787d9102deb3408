// RetNet multi-scale retention (spec/mixers.md §2.2.6; Sun et al., arXiv:2307.08621):
//   per head h: A = γ_h R_θᵀ, γ_h = 1 − 2^{−5−h}, b = n^{−1/2};
//   fold (§1.5, §2.2.6 "fold trick"): q̂_i = R_i W_Q u_i, k̂_j = R_j W_K u_j (RoPE, half layout,
//   θ_m = 10000^{−2m/n}), leaving the scalar class with a = γ_h;
//   MSR(X) = (swish(X W_G) ⊙ GroupNorm_H(retention)) W_O, value head dim 2n.
// The paper's three per-row normalizations are cancelled by the GroupNorm up to its ε (§2.2.6),
// so the core runs unnormalized (η = 1).
#include <torch/torch.h>

#include <cmath>

#include "seqlab/mixers/gated_mixer.h"
#include "seqlab/mixers/gated_mixers.h"
#include "seqlab/mixers/layers.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

namespace {

class RetNet : public GatedMixer {
 public:
  explicit RetNet(const ZooOptions& o) : GatedMixer(o) {
    detail::check_heads("retnet", o, o.d_model, "model.d_model");
    H_ = o.heads;
    dk_ = detail::head_dim_or("retnet", o, o.d_model / o.heads);
    if (dk_ % 2 != 0)
      throw UserError("retnet: the key dimension per head (" + std::to_string(dk_) +
                      ") must be even for the rotation; set model.head_dim");
    dvh_ = 2 * dk_;
    auto lin = [&](const char* name, int64_t in, int64_t out) {
      return register_module(name,
                             torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
    };
    q_proj = lin("q_proj", o.d_model, H_ * dk_);
    k_proj = lin("k_proj", o.d_model, H_ * dk_);
    v_proj = lin("v_proj", o.d_model, H_ * dvh_);
    g_proj = lin("g_proj", o.d_model, H_ * dvh_);
    out_proj = lin("out_proj", H_ * dvh_, o.d_model);
    norm_weight = register_parameter("norm_weight", torch::ones({H_ * dvh_}));
    norm_bias = register_parameter("norm_bias", torch::zeros({H_ * dvh_}));
    auto h = torch::arange(H_, torch::kFloat64);
    log_gamma_ = torch::log1p(-torch::pow(2.0, -5.0 - h));  // log γ_h (§2.2.6 eq. 8)
    theta_ = torch::pow(10000.0, -2.0 * torch::arange(dk_ / 2, torch::kFloat64) / double(dk_));
  }

  // Rotates (B, H, T, n) by R_t at absolute positions offset..offset+T−1, pairs (m, m + n/2).
  torch::Tensor rotate(const torch::Tensor& x, int64_t offset) const {
    const int64_t T = x.size(2), half = dk_ / 2;
    auto pos = torch::arange(offset, offset + T, torch::kFloat64).unsqueeze(1);
    auto ang = (pos * theta_.unsqueeze(0)).to(x.scalar_type());  // (T, n/2)
    auto c = torch::cos(ang), s = torch::sin(ang);
    auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
    return torch::cat({x1 * c - x2 * s, x1 * s + x2 * c}, -1);
  }

  GatedCore core_inputs(const torch::Tensor& x, int64_t offset) override {
    auto q = rotate(split_heads(q_proj(x), H_), offset);
    auto k = rotate(split_heads(k_proj(x), H_), offset) / std::sqrt(double(dk_));
    auto v = split_heads(v_proj(x), H_);
    auto g =
        log_gamma_.to(x.scalar_type()).view({1, H_, 1, 1}).expand({x.size(0), H_, x.size(1), 1});
    return {q, k, v, g};
  }

  torch::Tensor from_core(const torch::Tensor& x, const torch::Tensor& y) override {
    auto merged = merge_heads(y);  // (B, T, H·dv)
    auto shape = merged.sizes().vec();
    auto normed =
        torch::group_norm(merged.reshape({-1, H_ * dvh_}), H_, norm_weight, norm_bias, 1e-5)
            .reshape(shape);
    return out_proj(torch::silu(g_proj(x)) * normed);
  }

  // The paper's per-row normalizer (§2.2.6 "Framework"), which the GroupNorm cancels:
  //   η_i = sqrt(D_i) · max(|s_i| / sqrt(D_i), 1) = max(|s_i|, sqrt(D_i)),
  // s_i = Σ_{j≤i} α̃_ij (the core on v ≡ 1), D_i = Σ_{l≤i} γ^{i−l} = (1 − γ^i)/(1 − γ), i 1-based.
  // The clamp is active where |s_i| < sqrt(D_i).
  core::Normalizer normalizers(const torch::Tensor& x) override {
    auto c = core_inputs(x, 0);
    auto ones = torch::ones({c.v.size(0), H_, c.v.size(2), 1}, c.v.options());
    auto s = core::gated_scan(options_.path, c.q, c.k, ones, c.g, {}, options_.chunk_size)
                 .y.squeeze(-1)
                 .abs();
    auto i = torch::arange(1, x.size(1) + 1, torch::kFloat64);
    auto D = -torch::expm1(log_gamma_.unsqueeze(1) * i) / -torch::expm1(log_gamma_).unsqueeze(1);
    auto root = D.sqrt().to(s.scalar_type());  // (H, T)
    core::Normalizer n;
    n.eta = torch::maximum(s, root);
    n.clamp_active = s < root;
    return n;
  }

  int64_t state_heads() const override { return H_; }
  int64_t state_rows() const override { return dk_; }
  int64_t state_cols() const override { return dvh_; }
  int64_t state_size(int64_t) const override { return H_ * dk_ * dvh_; }
  Structure structure() const override { return Structure::kScalar; }

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, g_proj{nullptr},
      out_proj{nullptr};
  torch::Tensor norm_weight, norm_bias;

 private:
  int64_t H_, dk_, dvh_;
  torch::Tensor log_gamma_, theta_;
};

}  // namespace

std::shared_ptr<Mixer> make_retnet(const ZooOptions& o) {
  return std::make_shared<RetNet>(o);
}

}  // namespace seqlab::mixers
