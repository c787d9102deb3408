// Linear attention (spec/mixers.md §2.2.4; Katharopoulos et al., arXiv:2006.16236):
//   q_i = elu+1(W_q u_i), k_j = elu+1(W_k u_j), v_j = W_v u_j, per head,
//   y_i = Σ_{j≤i} (q_iᵀ k_j) v_j / η_i,  η_i = q_iᵀ z_i,  z_i = Σ_{j≤i} k_j,
// then W_o. Structure identity (A = I). The normalizer is the same system on v ≡ 1 (§1.4,
// identity test §6.5.5): the core runs on [v, 1] and from_core divides by the last column.
#include <torch/torch.h>

#include "seqlab/mixers/gated_mixer.h"
#include "seqlab/mixers/gated_mixers.h"
#include "seqlab/mixers/layers.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

namespace detail {

void check_heads(const char* mixer, const ZooOptions& o, int64_t width, const char* what) {
  if (o.d_model < 1)
    throw UserError(std::string(mixer) + ": model.d_model = " + std::to_string(o.d_model) +
                    " must be >= 1");
  if (o.heads < 1 || width % o.heads != 0)
    throw UserError(std::string(mixer) + ": model.heads = " + std::to_string(o.heads) +
                    " must be >= 1 and divide the " + what + " " + std::to_string(width));
}

int64_t head_dim_or(const char* mixer, const ZooOptions& o, int64_t fallback) {
  const int64_t n = o.head_dim > 0 ? o.head_dim : fallback;
  if (n < 1)
    throw UserError(std::string(mixer) + ": key dimension per head is " + std::to_string(n) +
                    "; set model.head_dim >= 1");
  return n;
}

}  // namespace detail

namespace {

torch::Tensor elu_plus_one(const torch::Tensor& x) {
  return torch::elu(x) + 1.0;
}

class LinearAttention : public GatedMixer {
 public:
  explicit LinearAttention(const ZooOptions& o) : GatedMixer(o) {
    detail::check_heads("linear_attention", o, o.d_model, "model.d_model");
    H_ = o.heads;
    dk_ = detail::head_dim_or("linear_attention", o, o.d_model / o.heads);
    dvh_ = o.d_model / o.heads;
    q_proj = register_module(
        "q_proj", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, H_ * dk_).bias(false)));
    k_proj = register_module(
        "k_proj", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, H_ * dk_).bias(false)));
    v_proj = register_module(
        "v_proj", torch::nn::Linear(torch::nn::LinearOptions(o.d_model, o.d_model).bias(false)));
    out_proj = register_module("out_proj", torch::nn::Linear(o.d_model, o.d_model));
  }

  GatedCore core_inputs(const torch::Tensor& x, int64_t) override {
    auto v = split_heads(v_proj(x), H_);
    auto ones = torch::ones({v.size(0), v.size(1), v.size(2), 1}, v.options());
    return {elu_plus_one(split_heads(q_proj(x), H_)),
            elu_plus_one(split_heads(k_proj(x), H_)),
            torch::cat({v, ones}, -1),
            {}};
  }

  torch::Tensor from_core(const torch::Tensor&, const torch::Tensor& y) override {
    auto out = y.narrow(-1, 0, dvh_) / y.narrow(-1, dvh_, 1);  // η_i = q_iᵀ z_i > 0 (elu+1)
    return out_proj(merge_heads(out));
  }

  // η_i = q_iᵀ z_i: the core on v ≡ 1 (§1.4, §4.2).
  core::Normalizer normalizers(const torch::Tensor& x) override {
    auto c = core_inputs(x, 0);
    auto ones = c.v.narrow(-1, dvh_, 1).contiguous();
    core::Normalizer n;
    n.eta =
        core::gated_scan(options_.path, c.q, c.k, ones, c.g, {}, options_.chunk_size).y.squeeze(-1);
    return n;
  }

  int64_t state_heads() const override { return H_; }
  int64_t state_rows() const override { return dk_; }
  int64_t state_cols() const override { return dvh_ + 1; }
  int64_t state_size(int64_t) const override { return H_ * dk_ * (dvh_ + 1); }
  Structure structure() const override { return Structure::kIdentity; }

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t H_, dk_, dvh_;
};

}  // namespace

std::shared_ptr<Mixer> make_linear_attention(const ZooOptions& o) {
  return std::make_shared<LinearAttention>(o);
}

}  // namespace seqlab::mixers
