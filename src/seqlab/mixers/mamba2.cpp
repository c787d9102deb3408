// Mamba-2 / SSD layer (spec/mixers.md §2.2.11; Dao & Gu, arXiv:2405.21060):
//   [z, x, B, C, dt] = in_proj(u);  [x, B, C] ← SiLU(conv([x, B, C]));
//   Δ^h = softplus(dt^h + dt_bias^h);  A^h = −exp(A_log^h);
//   per head h: S_t = exp(Δ_t A) S_{t−1} + Δ_t B_t x_tᵀ,  y_t = S_tᵀ C_t + D^h x_t;
//   out = out_proj(RMSNorm(y ⊙ SiLU(z)))  (gate before the norm, §5.4).
// Framework: scalar class, a_t = exp(Δ_t A), b_j = Δ_j folded into k = Δ_j B_j, q = C_i.
// Initialization: A ~ U[1, 16], dt = max(exp(U[log 1e-3, log 1e-1]), 1e-4), dt_bias =
// softplus⁻¹(dt), D = 1 (§2.2.11 table).
#include <torch/torch.h>

#include <cmath>

#include "seqlab/mixers/gated_mixer.h"
#include "seqlab/mixers/gated_mixers.h"
#include "seqlab/mixers/layers.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

namespace {

class Mamba2 : public GatedMixer {
 public:
  explicit Mamba2(const ZooOptions& o) : GatedMixer(o) {
    if (o.expand < 1) throw UserError("mamba2: model.expand must be >= 1");
    di_ = o.expand * o.d_model;
    detail::check_heads("mamba2", o, di_, "inner width expand * d_model =");
    if (o.state_size < 1) throw UserError("mamba2: model.state_size must be >= 1");
    H_ = o.heads;
    P_ = di_ / H_;
    N_ = o.state_size;
    K_ = o.conv_size;
    in_proj = register_module(
        "in_proj",
        torch::nn::Linear(torch::nn::LinearOptions(o.d_model, 2 * di_ + 2 * N_ + H_).bias(false)));
    if (K_ > 0) conv = register_module("conv", ShortConv(di_ + 2 * N_, K_, true));
    norm = register_module("norm", RMSNorm(di_, 1e-5));
    out_proj = register_module(
        "out_proj", torch::nn::Linear(torch::nn::LinearOptions(di_, o.d_model).bias(false)));
    torch::NoGradGuard no_grad;
    A_log = register_parameter("A_log", torch::log(torch::empty({H_}).uniform_(1.0, 16.0)));
    auto dt =
        torch::exp(torch::empty({H_}).uniform_(std::log(1e-3), std::log(1e-1))).clamp_min(1e-4);
    dt_bias = register_parameter("dt_bias", softplus_inverse(dt));
    D = register_parameter("D", torch::ones({H_}));
  }

  struct Parts {
    torch::Tensor z, x, Bm, Cm, delta;
  };
  Parts parts(const torch::Tensor& u) {
    auto zxbcdt = in_proj(u);
    auto z = zxbcdt.narrow(-1, 0, di_);
    auto xbc = zxbcdt.narrow(-1, di_, di_ + 2 * N_);
    auto dt = zxbcdt.narrow(-1, 2 * di_ + 2 * N_, H_);
    xbc = torch::silu(K_ > 0 ? conv(xbc) : xbc);
    auto delta = torch::softplus(dt + dt_bias);  // (B, T, H)
    return {z, xbc.narrow(-1, 0, di_), xbc.narrow(-1, di_, N_), xbc.narrow(-1, di_ + N_, N_),
            delta};
  }

  GatedCore core_inputs(const torch::Tensor& u, int64_t) override {
    auto p = parts(u);
    const int64_t B = u.size(0), T = u.size(1);
    auto delta = p.delta.permute({0, 2, 1}).unsqueeze(-1);      // (B, H, T, 1)
    auto q = p.Cm.unsqueeze(1).expand({B, H_, T, N_});          // C_i
    auto k = p.Bm.unsqueeze(1) * delta;                         // Δ_j B_j
    auto g = delta * (-torch::exp(A_log)).view({1, H_, 1, 1});  // Δ_t A
    return {q, k, split_heads(p.x, H_), g};
  }

  torch::Tensor from_core(const torch::Tensor& u, const torch::Tensor& y) override {
    auto p = parts(u);
    auto out = merge_heads(y + D.view({1, H_, 1, 1}) * split_heads(p.x, H_));
    return out_proj(norm(out * torch::silu(p.z)));
  }

  int64_t receptive_field() const override { return std::max<int64_t>(K_, 1); }
  int64_t state_heads() const override { return H_; }
  int64_t state_rows() const override { return N_; }
  int64_t state_cols() const override { return P_; }
  // A_log, dt_bias and D (spec §5.6).
  std::vector<std::string> dynamics_parameters() const override {
    return {"A_log", "dt_bias", "D"};
  }
  int64_t state_size(int64_t) const override {
    return H_ * N_ * P_ + std::max<int64_t>(K_ - 1, 0) * (di_ + 2 * N_);
  }
  Structure structure() const override { return Structure::kScalar; }

  torch::nn::Linear in_proj{nullptr}, out_proj{nullptr};
  ShortConv conv{nullptr};
  RMSNorm norm{nullptr};
  torch::Tensor A_log, dt_bias, D;

 private:
  int64_t di_, H_, P_, N_, K_;
};

}  // namespace

std::shared_ptr<Mixer> make_mamba2(const ZooOptions& o) {
  return std::make_shared<Mamba2>(o);
}

}  // namespace seqlab::mixers
