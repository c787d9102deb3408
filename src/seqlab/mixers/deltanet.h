// DeltaNet (spec/mixers.md §2.2.17) and Gated DeltaNet (§2.2.18): structure class "I − rank 1"
// (§3.1), A_t = a_t (I − β_t k_t k_tᵀ), b_j = β_j, with a ≡ 1 for DeltaNet.
//
// Layer, per token u_t ∈ R^d, H heads, key (state) dimension n = head_dim, value dimension
// dv = head_dim (expand_v = 1):
//   q, k, v = Linear(d → H·n | H·n | H·dv, no bias) u_t
//           → short causal conv (kernel conv_size, no bias, §5.3) → SiLU   (SiLU alone without
//           conv)
//   q ← n^{−1/2} L2norm(q),  k ← L2norm(k)               per head, ε = 1e-6 inside the sqrt (§0.2)
//   β = σ(b_proj u_t) (× 2 with allow_neg_eigval),  b_proj Linear(d → H, no bias)
//   Gated DeltaNet: log a_t = −exp(A_log) · softplus(a_proj u_t + dt_bias),  a_proj Linear(d → H)
//   S_t = a_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,   o_t = S_tᵀ q_t        (core, S_0 = 0)
//   DeltaNet:       o ← RMSNorm(o) per head (weight dv shared by the heads, ε = 1e-5)
//   Gated DeltaNet: o ← RMSNorm(o) ⊙ swish(g_proj u_t), g_proj Linear(d → H·dv) (§5.4: norm first)
//   y_t = o_proj(concat_h o_t),  o_proj Linear(H·dv → d, no bias)
//
// Initialization: Linear and Conv1d as PyTorch (§0.3); Gated DeltaNet A_log = log A with
// A ~ U(0, 16), dt_bias = softplus⁻¹(dt) with dt = max(exp(U[log 1e-3, log 1e-1]), 1e-4) (§2.2.18).
//
// Paths (§6.1): forward runs the core with options.path (fused CPU kernel by default, chunked
// WY/UT with options.chunk_size); reference with the per-step loop; coefficients returns the
// explicit M (B, H, T, T) with y_core = M V. step() carries S and the three conv buffers.
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "seqlab/mixers/layers.h"
#include "seqlab/mixers/mixer.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

class DeltaNetImpl : public Mixer {
 public:
  // Reads d_model, heads, head_dim, conv_size, chunk_size, path and allow_neg_eigval. Throws
  // seqlab::UserError naming the option and its allowed values on bad sizes.
  explicit DeltaNetImpl(const ZooOptions& options) : DeltaNetImpl(options, /*gated=*/false) {}

  // x (B, T, d) -> (B, T, d).
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor reference(const torch::Tensor& x) override;
  // M (B, H, T, T): M[b, h, i, j] = q_iᵀ Φ(i, j) β_j k_j for j ≤ i, else 0 (§1.2).
  torch::Tensor coefficients(const torch::Tensor& x) override;
  // V (B, H, T, dv): the values after projection, conv and SiLU.
  torch::Tensor values(const torch::Tensor& x) override;
  // Everything after the core: y_core (B, H, T, dv) -> norm, gate, o_proj -> (B, T, d).
  torch::Tensor from_core(const torch::Tensor& x, const torch::Tensor& y_core) override;

  // {S (B, H, n, dv)} followed, with a short conv, by the buffers of the last conv_size − 1
  // inputs of the q, k and v convs: (B, K − 1, H·n), (B, K − 1, H·n), (B, K − 1, H·dv).
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) override;
  // H·n·dv + (K − 1)·(2·H·n + H·dv), independent of the position.
  int64_t state_size(int64_t position) const override;
  // A_t in closed form for the stability diagnostics (spec §4.2).
  core::Transition transitions(const torch::Tensor& x) override;
  Structure structure() const override { return Structure::kIdentityMinusRank1; }
  // Gated DeltaNet: A_log and dt_bias (spec §5.6); plain DeltaNet has none.
  std::vector<std::string> dynamics_parameters() const override {
    if (!gated_) return {};
    return {"A_log", "dt_bias"};
  }

  bool gated() const { return gated_; }
  int64_t heads() const { return heads_; }
  int64_t key_dim() const { return key_dim_; }
  int64_t value_dim() const { return value_dim_; }
  const ZooOptions& options() const { return options_; }

  // Public so that tests and exporters can read them; gated-only members are null/undefined in
  // plain DeltaNet, convs are null without a short conv.
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, b_proj{nullptr};
  torch::nn::Linear a_proj{nullptr}, g_proj{nullptr}, o_proj{nullptr};
  ShortConv q_conv{nullptr}, k_conv{nullptr}, v_conv{nullptr};
  RMSNorm o_norm{nullptr};
  torch::Tensor A_log, dt_bias;  // (H) each, Gated DeltaNet only

 protected:
  DeltaNetImpl(const ZooOptions& options, bool gated);

 private:
  // Core inputs of §2.2.17/§2.2.18, heads first: q, k (B, H, T, n) (q already scaled by n^{−1/2}),
  // v (B, H, T, dv), β and log a (B, H, T) (log a undefined for DeltaNet).
  struct CoreInputs {
    torch::Tensor q, k, v, beta, log_a;
  };
  CoreInputs core_inputs(const torch::Tensor& x);
  // β and log a from the layer input (B, T, d) or (B, d), with heads last.
  torch::Tensor beta_of(const torch::Tensor& x);
  torch::Tensor log_gate_of(const torch::Tensor& x);
  // q, k: L2-normalized per head (q also scaled), from the post-activation features.
  torch::Tensor normalize_query(const torch::Tensor& q_heads) const;
  void check_input(const torch::Tensor& x, int64_t dims) const;

  ZooOptions options_;
  bool gated_;
  int64_t heads_, key_dim_, value_dim_;
};

// Gated DeltaNet: the same layer with the scalar gate a_t and the output gate.
class GatedDeltaNetImpl : public DeltaNetImpl {
 public:
  explicit GatedDeltaNetImpl(const ZooOptions& options) : DeltaNetImpl(options, /*gated=*/true) {}
};

std::shared_ptr<Mixer> make_deltanet(const ZooOptions& options);
std::shared_ptr<Mixer> make_gated_deltanet(const ZooOptions& options);

}  // namespace seqlab::mixers
