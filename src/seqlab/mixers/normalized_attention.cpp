// Normalized attention (DSF), spec/mixers.md §2.2.5; see normalized_attention.h.
#include "seqlab/mixers/normalized_attention.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "seqlab/mixers/gated_mixer.h"
#include "seqlab/mixers/gated_mixers.h"
#include "seqlab/mixers/layers.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

torch::Tensor normalized_attention_offset_init(const std::string& kind, int64_t heads) {
  if (kind == "exp") return torch::linspace(4.0, 9.0, heads, torch::kFloat64);
  if (kind != "uniform")
    throw UserError("normalized_attention: offset_init = '" + kind +
                    "' is not valid; valid choices: exp, uniform");
  const double lo = 8.0, hi = 14.0;
  if (heads == 1) return torch::full({1}, (hi - lo) / 2, torch::kFloat64);  // reference quirk: 3
  auto x = softplus_inverse(torch::linspace(0.02, 0.1, heads, torch::kFloat64));
  x = (x - x.min()) / (x.max() - x.min());
  return x * (hi - lo) + lo;
}

namespace {

void check_choice(const std::string& key, const std::string& value,
                  const std::vector<std::string>& valid) {
  for (const auto& v : valid)
    if (v == value) return;
  throw UserError("normalized_attention: " + key + " = '" + value +
                  "' is not valid; valid choices: " + join_names(valid));
}

class NormalizedAttention : public GatedMixer {
 public:
  NormalizedAttention(const ZooOptions& o, const NormalizedAttentionOptions& n)
      : GatedMixer(o), opt_(n) {
    detail::check_heads("normalized_attention", o, o.d_model, "model.d_model");
    check_choice("variant", n.variant, {"dsf", "companion"});
    check_choice("approx_fn", n.approx_fn, {"none", "elu+1"});
    check_choice("norm_fn", n.norm_fn, {"exp", "elu", "softplus", "sigmoid"});
    check_choice("offset_init", n.offset_init, {"exp", "uniform"});
    check_choice("conv_type", n.conv_type, {"full", "partial"});
    if (n.dim_conv < 0)
      throw UserError("normalized_attention: dim_conv = " + std::to_string(n.dim_conv) +
                      " must be >= 0");
    companion_ = n.variant == "companion";
    H_ = o.heads;
    dk_ = detail::head_dim_or("normalized_attention", o, o.d_model / o.heads);
    dqk_ = H_ * dk_;
    d_ = o.d_model;
    dvh_ = d_ / H_;
    s_ = companion_ && n.scale_B ? 1.0 / std::sqrt(double(dk_)) : 1.0;
    K_ = companion_ ? n.dim_conv : 0;
    // PyTorch Linear init (§0.3) for every projection.
    if (companion_) {
      in_proj = register_module("in_proj", torch::nn::Linear(d_, d_ + 2 * dqk_ + H_));
      if (K_ > 0)
        conv = register_module(
            "conv", ShortConv(n.conv_type == "full" ? d_ + 2 * dqk_ : 2 * dqk_, K_, true));
      if (n.offset)
        offset = register_parameter(
            "offset", normalized_attention_offset_init(n.offset_init, H_).to(torch::kFloat32));
    } else {
      qk_proj = register_module("qk_proj", torch::nn::Linear(d_, 2 * dqk_));
      v_proj = register_module("v_proj", torch::nn::Linear(d_, d_));
      n_proj = register_module("n_proj", torch::nn::Linear(d_, H_));
    }
    out_proj = register_module("out_proj", torch::nn::Linear(d_, d_));
  }

  // log η_i per head, (B, H, T): dsf W_η u + b_η; companion f(n_i + o_h), where n_i are the last
  // H rows of the fused projection (computed alone, not through the whole in_proj).
  torch::Tensor log_normalizer(const torch::Tensor& x) {
    if (!companion_) return n_proj(x).permute({0, 2, 1});
    auto pre = torch::nn::functional::linear(x, in_proj->weight.narrow(0, d_ + 2 * dqk_, H_),
                                             in_proj->bias.narrow(0, d_ + 2 * dqk_, H_));
    if (offset.defined()) pre = pre + offset;
    torch::Tensor f;
    if (opt_.norm_fn == "exp")
      f = torch::exp(pre);
    else if (opt_.norm_fn == "elu")
      f = torch::elu(pre);
    else if (opt_.norm_fn == "softplus")
      f = torch::softplus(pre);
    else
      f = torch::sigmoid(pre);
    return f.permute({0, 2, 1});
  }

  GatedCore core_inputs(const torch::Tensor& x, int64_t) override {
    torch::Tensor q, k, v;
    if (companion_) {
      auto vqk = in_proj(x).narrow(-1, 0, d_ + 2 * dqk_);
      if (K_ > 0) {
        if (opt_.conv_type == "full") {
          vqk = torch::silu(conv(vqk));
        } else {
          vqk = torch::cat({vqk.narrow(-1, 0, d_), torch::silu(conv(vqk.narrow(-1, d_, 2 * dqk_)))},
                           -1);
        }
      }
      v = vqk.narrow(-1, 0, d_);
      q = vqk.narrow(-1, d_, dqk_);
      k = vqk.narrow(-1, d_ + dqk_, dqk_);
      if (opt_.approx_fn == "elu+1") {
        q = torch::elu(q) + 1.0;
        k = torch::elu(k) + 1.0;
      }
    } else {
      auto qk = qk_proj(x);
      q = qk.narrow(-1, 0, dqk_);
      k = qk.narrow(-1, dqk_, dqk_);
      v = v_proj(x);
    }
    // b = s is folded into k (gated_scan.h).
    return {split_heads(q, H_), split_heads(k, H_) * s_, split_heads(v, H_), {}};
  }

  // y_i / η_i = y_i exp(−log η_i), then W_o.
  torch::Tensor from_core(const torch::Tensor& x, const torch::Tensor& y) override {
    return out_proj(merge_heads(y * torch::exp(-log_normalizer(x)).unsqueeze(-1)));
  }

  core::Normalizer normalizers(const torch::Tensor& x) override {
    core::Normalizer n;
    n.log_eta = log_normalizer(x);
    n.eta = torch::exp(n.log_eta);
    return n;
  }

  int64_t receptive_field() const override { return std::max<int64_t>(K_, 1); }
  int64_t state_heads() const override { return H_; }
  int64_t state_rows() const override { return dk_; }
  int64_t state_cols() const override { return dvh_; }
  // S (n × dv per head) plus the conv buffer (§6.6); η has no state.
  int64_t state_size(int64_t) const override {
    return H_ * dk_ * dvh_ + (K_ > 0 ? (K_ - 1) * conv->channels() : 0);
  }
  Structure structure() const override { return Structure::kIdentity; }

  torch::nn::Linear qk_proj{nullptr}, v_proj{nullptr}, n_proj{nullptr}, in_proj{nullptr},
      out_proj{nullptr};
  ShortConv conv{nullptr};
  torch::Tensor offset;

 private:
  NormalizedAttentionOptions opt_;
  bool companion_ = false;
  int64_t H_ = 0, dk_ = 0, dqk_ = 0, d_ = 0, dvh_ = 0, K_ = 0;
  double s_ = 1.0;
};

}  // namespace

std::shared_ptr<Mixer> make_normalized_attention(const ZooOptions& o,
                                                 const NormalizedAttentionOptions& n) {
  return std::make_shared<NormalizedAttention>(o, n);
}

std::shared_ptr<Mixer> make_normalized_attention(const ZooOptions& o) {
  NormalizedAttentionOptions n;
  if (o.variant.empty() || o.variant == "dsf") return make_normalized_attention(o, n);
  if (o.variant != "companion")
    throw UserError("normalized_attention: model.variant = '" + o.variant +
                    "' is not valid; valid choices: dsf, companion");
  n.variant = "companion";
  n.dim_conv = o.conv_size;
  return make_normalized_attention(o, n);
}

}  // namespace seqlab::mixers
