// mLSTM cell with the max stabilizer (spec/mixers.md §2.2.14; Beck et al., arXiv:2405.04517):
//   q = W_q x, k = W_k x / √n, v = W_v x (no biases), per head;
//   ĩ_t = w_iᵀx_t + b_i, log f_t = logσ(w_fᵀx_t + b_f), o_t = σ(W_o x_t + b_o);
//   S_t = f_t S_{t−1} + exp(ĩ_t) k_t v_tᵀ, z_t = f_t z_{t−1} + exp(ĩ_t) k_t,
//   h_t = o_t ⊙ S_tᵀq_t / max(|z_tᵀq_t|, 1);  out = out_proj(h).
// Stabilizer: m_t = max(log f_t + m_{t−1}, ĩ_t), m_0 = 0, i.e. m_t = F_t + max(0, max_{j≤t}(ĩ_j −
// F_j)) with F the cumulative log f. The core runs with f'_t = exp(log f_t + m_{t−1} − m_t) and
// k'_t = exp(ĩ_t − m_t) k_t on [v, 1] (numerator and normalizer state), and the denominator is
// max(|z'ᵀq|, exp(−m_t)). The output is exactly invariant to m (§6.5.7), so m is detached.
// Gate init (xLSTM block): gate weights 0, f bias linspace(3, 6) over heads, i bias N(0, 0.1²).
#include <torch/torch.h>

#include <cmath>

#include "seqlab/mixers/gated_mixer.h"
#include "seqlab/mixers/gated_mixers.h"
#include "seqlab/mixers/layers.h"

namespace seqlab::mixers {

namespace {

class MLSTM : public GatedMixer {
 public:
  explicit MLSTM(const ZooOptions& o) : GatedMixer(o) {
    detail::check_heads("mlstm", o, o.d_model, "model.d_model");
    H_ = o.heads;
    dk_ = detail::head_dim_or("mlstm", o, o.d_model / o.heads);
    dvh_ = o.d_model / H_;
    auto lin = [&](const char* name, int64_t in, int64_t out, bool bias) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias)));
    };
    q_proj = lin("q_proj", o.d_model, H_ * dk_, false);
    k_proj = lin("k_proj", o.d_model, H_ * dk_, false);
    v_proj = lin("v_proj", o.d_model, o.d_model, false);
    i_gate = lin("i_gate", o.d_model, H_, true);
    f_gate = lin("f_gate", o.d_model, H_, true);
    o_gate = lin("o_gate", o.d_model, o.d_model, true);
    out_proj = lin("out_proj", o.d_model, o.d_model, true);
    torch::NoGradGuard no_grad;
    i_gate->weight.zero_();
    f_gate->weight.zero_();
    i_gate->bias.normal_(0.0, 0.1);
    f_gate->bias.copy_(torch::linspace(3.0, 6.0, H_));
  }

  // (B, H, T) input-gate preactivations ĩ and log forget gates.
  std::pair<torch::Tensor, torch::Tensor> gates(const torch::Tensor& x) {
    return {i_gate(x).permute({0, 2, 1}), torch::log_sigmoid(f_gate(x)).permute({0, 2, 1})};
  }

  // Stabilizer m (B, H, T), detached: m_t = F_t + max(0, cummax_j(ĩ_j − F_j)).
  static torch::Tensor stabilizer(const torch::Tensor& i_tilde, const torch::Tensor& log_f) {
    torch::NoGradGuard no_grad;
    auto F = log_f.cumsum(-1);
    auto run = std::get<0>(torch::cummax(i_tilde - F, -1));
    return F + run.clamp_min(0.0);
  }

  GatedCore core_inputs(const torch::Tensor& x, int64_t) override {
    auto [i_tilde, log_f] = gates(x);
    auto m = stabilizer(i_tilde, log_f);
    auto m_prev = torch::constant_pad_nd(m, {1, 0}, 0.0).narrow(-1, 0, m.size(-1));
    auto g = (log_f + m_prev - m).unsqueeze(-1);  // log f'
    auto k = split_heads(k_proj(x), H_) / std::sqrt(double(dk_)) *
             torch::exp(i_tilde - m).unsqueeze(-1);  // i' k
    auto v = split_heads(v_proj(x), H_);
    auto ones = torch::ones({v.size(0), v.size(1), v.size(2), 1}, v.options());
    return {split_heads(q_proj(x), H_), k, torch::cat({v, ones}, -1), g};
  }

  torch::Tensor output(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& m) {
    auto den = torch::maximum(y.narrow(-1, dvh_, 1).abs(), torch::exp(-m).unsqueeze(-1));
    auto h = merge_heads(y.narrow(-1, 0, dvh_) / den);
    return out_proj(torch::sigmoid(o_gate(x)) * h);
  }

  torch::Tensor from_core(const torch::Tensor& x, const torch::Tensor& y) override {
    auto [i_tilde, log_f] = gates(x);
    return output(x, y, stabilizer(i_tilde, log_f));
  }

  // η_i = max(|q_iᵀz_i|, 1) with the un-stabilized z (§2.2.14, §4.2). The stabilized core on
  // v ≡ 1 gives z'ᵀq = e^{−m} zᵀq, so log η = max(m + log|z'ᵀq|, 0), exactly 0 where the clamp
  // is active (|zᵀq| < 1).
  core::Normalizer normalizers(const torch::Tensor& x) override {
    auto c = core_inputs(x, 0);
    auto [i_tilde, log_f] = gates(x);
    auto m = stabilizer(i_tilde, log_f);  // (B, H, T)
    auto ones = c.v.narrow(-1, dvh_, 1).contiguous();
    auto zq = core::gated_scan(options_.path, c.q, c.k, ones, c.g, {}, options_.chunk_size)
                  .y.squeeze(-1)
                  .abs();
    auto log_zq = m + torch::log(zq);  // log |zᵀq|
    core::Normalizer n;
    n.log_eta = torch::clamp_min(log_zq, 0.0);
    n.eta = torch::exp(n.log_eta);
    n.clamp_active = log_zq < 0;
    return n;
  }

  // A_t = f_t I (the stabilized gate f' of the core is a rescaling, not the transition).
  core::Transition transitions(const torch::Tensor& x) override {
    core::Transition tr;
    tr.kind = core::TransitionKind::kScalar;
    tr.log_gate = gates(x).second.unsqueeze(-1).detach();
    return tr;
  }

  // The stabilizer depends on the whole history, so the step carries m (spec §6.6):
  // state = {S' (B, H, n, dv + 1), m (B, H)}.
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override {
    return {torch::zeros({batch, H_, dk_, dvh_ + 1}, options), torch::zeros({batch, H_}, options)};
  }

  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) override {
    TORCH_CHECK(state.size() == 2, "mlstm: step expects the state from initial_state()");
    auto x = x_t.unsqueeze(1);
    auto [i_tilde, log_f] = gates(x);  // (B, H, 1)
    auto it = i_tilde.squeeze(-1), lf = log_f.squeeze(-1);
    torch::Tensor m;
    {
      torch::NoGradGuard no_grad;
      m = torch::maximum(lf + state[1], it);
    }
    auto i_prime = torch::exp(it - m).view({-1, H_, 1});
    auto q = split_heads(q_proj(x), H_).squeeze(2);
    auto k = split_heads(k_proj(x), H_).squeeze(2) / std::sqrt(double(dk_)) * i_prime;
    auto v = split_heads(v_proj(x), H_).squeeze(2);
    v = torch::cat({v, torch::ones({v.size(0), H_, 1}, v.options())}, -1);
    auto r = core::gated_scan_step(q, k, v, (lf + state[1] - m).unsqueeze(-1), state[0]);
    state[0] = r.state;
    state[1] = m;
    return output(x, r.y.unsqueeze(2), m.unsqueeze(-1)).squeeze(1);
  }

  int64_t state_heads() const override { return H_; }
  int64_t state_rows() const override { return dk_; }
  int64_t state_cols() const override { return dvh_ + 1; }
  int64_t state_size(int64_t) const override { return H_ * (dk_ * (dvh_ + 1) + 1); }
  Structure structure() const override { return Structure::kScalar; }

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, i_gate{nullptr},
      f_gate{nullptr}, o_gate{nullptr}, out_proj{nullptr};

 private:
  int64_t H_, dk_, dvh_;
};

}  // namespace

std::shared_ptr<Mixer> make_mlstm(const ZooOptions& o) {
  return std::make_shared<MLSTM>(o);
}

}  // namespace seqlab::mixers
