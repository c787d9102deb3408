// Gated linear attention (spec/mixers.md §2.2.12; Yang et al., arXiv:2312.06635):
//   q, k = W_q u, W_k u (key_dim), v = W_v u (d), per head;
//   log α_t = logσ(gk_proj(u_t)) / 16, gk_proj = Linear(d → 16) then Linear(16 → key_dim, bias);
//   S_t = Diag(α_t) S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ (n^{−1/2} q_t);
//   out = o_proj(RMSNorm_head(o) ⊙ swish(g_proj u))  (norm before the gate, §5.4).
// Framework: real diagonal class. Key dim per head defaults to d / (2H) (key_dim = d/2).
#include <torch/torch.h>

#include <cmath>

#include "seqlab/mixers/gated_mixer.h"
#include "seqlab/mixers/gated_mixers.h"
#include "seqlab/mixers/layers.h"

namespace seqlab::mixers {

namespace {

torch::nn::Linear linear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

class GLA : public GatedMixer {
 public:
  explicit GLA(const ZooOptions& o) : GatedMixer(o) {
    detail::check_heads("gla", o, o.d_model, "model.d_model");
    H_ = o.heads;
    dk_ = detail::head_dim_or("gla", o, o.d_model / (2 * o.heads));
    dvh_ = o.d_model / H_;
    q_proj = register_module("q_proj", linear(o.d_model, H_ * dk_, false));
    k_proj = register_module("k_proj", linear(o.d_model, H_ * dk_, false));
    v_proj = register_module("v_proj", linear(o.d_model, o.d_model, false));
    g_proj = register_module("g_proj", linear(o.d_model, o.d_model, false));
    gk_down = register_module("gk_down", linear(o.d_model, 16, false));
    gk_up = register_module("gk_up", linear(16, H_ * dk_, true));
    o_proj = register_module("o_proj", linear(o.d_model, o.d_model, false));
    head_norm = register_module("head_norm", RMSNorm(dvh_, 1e-5));
  }

  GatedCore core_inputs(const torch::Tensor& x, int64_t) override {
    auto g = torch::log_sigmoid(gk_up(gk_down(x))) / 16.0;
    return {split_heads(q_proj(x), H_) / std::sqrt(double(dk_)), split_heads(k_proj(x), H_),
            split_heads(v_proj(x), H_), split_heads(g, H_)};
  }

  torch::Tensor from_core(const torch::Tensor& x, const torch::Tensor& y) override {
    auto normed = merge_heads(head_norm(y));
    return o_proj(normed * torch::silu(g_proj(x)));
  }

  int64_t state_heads() const override { return H_; }
  int64_t state_rows() const override { return dk_; }
  int64_t state_cols() const override { return dvh_; }
  int64_t state_size(int64_t) const override { return H_ * dk_ * dvh_; }
  Structure structure() const override { return Structure::kDiagonal; }

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, g_proj{nullptr},
      gk_down{nullptr}, gk_up{nullptr}, o_proj{nullptr};
  RMSNorm head_norm{nullptr};

 private:
  int64_t H_, dk_, dvh_;
};

}  // namespace

std::shared_ptr<Mixer> make_gla(const ZooOptions& o) {
  return std::make_shared<GLA>(o);
}

}  // namespace seqlab::mixers
