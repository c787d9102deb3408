// HGRN2 (spec/mixers.md §2.2.13; Qin et al., arXiv:2404.07904):
//   q = SiLU(q_proj u), log f = logσ(f_proj u), k = 1 − f, v = i_proj u, per head;
//   S_t = Diag(f_t) S_{t−1} + k_t v_tᵀ,  o_t = S_tᵀ (n^{−1/2} q_t);
//   out = o_proj(RMSNorm(o))  (RMSNorm over the full width).
// Framework: real diagonal class. k = 1 − f = σ(−f_proj u) is computed directly (§3.4 log-gates).
#include <torch/torch.h>

#include <cmath>

#include "seqlab/mixers/gated_mixer.h"
#include "seqlab/mixers/gated_mixers.h"
#include "seqlab/mixers/layers.h"

namespace seqlab::mixers {

namespace {

class HGRN2 : public GatedMixer {
 public:
  explicit HGRN2(const ZooOptions& o) : GatedMixer(o) {
    detail::check_heads("hgrn2", o, o.d_model, "model.d_model");
    H_ = o.heads;
    dk_ = detail::head_dim_or("hgrn2", o, o.d_model / o.heads);
    dvh_ = o.d_model / H_;
    auto lin = [&](const char* name, int64_t in, int64_t out) {
      return register_module(name,
                             torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
    };
    q_proj = lin("q_proj", o.d_model, H_ * dk_);
    f_proj = lin("f_proj", o.d_model, H_ * dk_);
    i_proj = lin("i_proj", o.d_model, o.d_model);
    o_proj = lin("o_proj", o.d_model, o.d_model);
    norm = register_module("norm", RMSNorm(o.d_model, 1e-5));
  }

  GatedCore core_inputs(const torch::Tensor& x, int64_t) override {
    auto f = f_proj(x);
    return {split_heads(torch::silu(q_proj(x)), H_) / std::sqrt(double(dk_)),
            split_heads(torch::sigmoid(-f), H_), split_heads(i_proj(x), H_),
            split_heads(torch::log_sigmoid(f), H_)};
  }

  torch::Tensor from_core(const torch::Tensor&, const torch::Tensor& y) override {
    return o_proj(norm(merge_heads(y)));
  }

  int64_t state_heads() const override { return H_; }
  int64_t state_rows() const override { return dk_; }
  int64_t state_cols() const override { return dvh_; }
  int64_t state_size(int64_t) const override { return H_ * dk_ * dvh_; }
  Structure structure() const override { return Structure::kDiagonal; }

  torch::nn::Linear q_proj{nullptr}, f_proj{nullptr}, i_proj{nullptr}, o_proj{nullptr};
  RMSNorm norm{nullptr};

 private:
  int64_t H_, dk_, dvh_;
};

}  // namespace

std::shared_ptr<Mixer> make_hgrn2(const ZooOptions& o) {
  return std::make_shared<HGRN2>(o);
}

}  // namespace seqlab::mixers
