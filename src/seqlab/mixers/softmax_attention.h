// Multi-head causal softmax attention, NoPE or RoPE (spec/mixers.md §2.2.1, §2.2.2).
//
// Per head h (n = d/H):  q_i = W_q^h u_i + b_q,  k_j = W_k^h u_j + b_k,  v_j = W_v^h u_j + b_v,
//   alpha~_ij = tau q_i^T Phi(i,j) k_j,  tau = n^{-1/2},  alpha_i. = softmax over j <= i,
//   y = W_o concat_h(sum_j alpha_ij v_j) + b_o.
// NoPE: A = I, Phi = I (structure identity). RoPE: A = R_1^T, Phi(i,j) = R_{j-i}, equivalently
// the score (R_i q_i)^T (R_j k_j) with R_t = blockdiag(rot(t theta_m)), theta_m = base^{-2m/n}
// (structure orthogonal LTI). The pair layout is `half` (m, m + n/2) or `interleaved` (2m, 2m+1).
//
// Paths (spec/mixers.md §6.1):
//   forward      rotate q and k elementwise (cos/sin tables), one batched matmul with a causal
//                mask over the (B, H, T, T) scores, softmax, matmul with V (§2.2.2 "fast path").
//   reference    the KV-cache form of §1.5: keys rotated once into the cache k^_j = R_j k_j
//                (explicit n x n rotation matrices), then one query at a time.
//   coefficients the explicit (B, H, T, T) softmax matrix alpha (zero above the diagonal; rows sum
//                to 1), so that forward(x) = out_proj(concat_h(alpha_h V_h)).
#pragma once
#include <torch/arg.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>

#include "seqlab/mixers/mixer.h"

namespace seqlab::mixers {

struct SoftmaxAttentionOptions {
  SoftmaxAttentionOptions(int64_t d_model, int64_t heads) : d_model_(d_model), heads_(heads) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, heads);
  // Rotary position embedding inside the attention (§2.2.2); false = NoPE (§2.2.1).
  TORCH_ARG(bool, rope) = false;
  // "half": pairs (m, m + n/2) (FLA default); "interleaved": pairs (2m, 2m+1) (RoFormer).
  TORCH_ARG(std::string, rope_layout) = "half";
  TORCH_ARG(double, rope_base) = 10000.0;
};

class SoftmaxAttentionImpl : public Mixer {
 public:
  // Throws seqlab::UserError on d_model/heads < 1, heads not dividing d_model, an odd head
  // dimension with rope, an unknown rope_layout or rope_base <= 0.
  explicit SoftmaxAttentionImpl(const SoftmaxAttentionOptions& options);

  // x: (B, T, d) -> (B, T, d).
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor reference(const torch::Tensor& x) override;
  // (B, H, T, T) alpha with alpha[b, h, i, j] = 0 for j > i.
  torch::Tensor coefficients(const torch::Tensor& x) override;
  // KV cache: keys and values of every past token, 2 d floats per position (§6.6).
  int64_t state_size(int64_t position) const override { return 2 * d_model_ * position; }
  Structure structure() const override {
    return rope_ ? Structure::kOrthogonalLTI : Structure::kIdentity;
  }

  int64_t heads() const { return heads_; }
  int64_t head_dim() const { return head_dim_; }
  double tau() const { return tau_; }
  const SoftmaxAttentionOptions& options() const { return options_; }

  // Rotary frequency theta_m = base^{-2m/n}, m = 0..n/2-1 (§2.2.2), as a float64 (n/2) tensor.
  torch::Tensor rope_frequencies() const;
  // Index of the two coordinates of rotation pair m in a head vector for the configured layout.
  std::pair<int64_t, int64_t> rope_pair(int64_t m) const;

  // Projections (PyTorch Linear init, §0.3); public so tests and exporters can read them.
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};

 private:
  // (B, T, d) -> (B, H, T, n), un-rotated.
  torch::Tensor split_heads(const torch::Tensor& t) const;
  // (B, H, T, n) -> (B, T, d).
  torch::Tensor merge_heads(const torch::Tensor& t) const;
  // Elementwise rotation of (B, H, T, n) by R_t at position t (forward path).
  torch::Tensor rotate(const torch::Tensor& t) const;
  // Explicit R_t for t = 0..T-1 as a (T, n, n) tensor (reference and explicit paths).
  torch::Tensor rotation_matrices(int64_t T, torch::Dtype dtype) const;
  void check_input(const torch::Tensor& x, const char* path) const;

  SoftmaxAttentionOptions options_;
  int64_t d_model_;
  int64_t heads_;
  int64_t head_dim_;
  bool rope_;
  double tau_;
};
TORCH_MODULE(SoftmaxAttention);

}  // namespace seqlab::mixers
