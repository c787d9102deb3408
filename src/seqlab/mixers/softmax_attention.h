// Multi-head softmax attention, causal or not, NoPE, RoPE or ALiBi (spec/mixers.md §2.2.1-§2.2.3).
//
// Per head h (n = d/H):  q_i = W_q^h u_i + b_q,  k_j = W_k^h u_j + b_k,  v_j = W_v^h u_j + b_v,
//   alpha~_ij = tau q_i^T Phi(i,j) k_j (+ ALiBi bias),  alpha_i. = softmax over j <= i (causal)
//   or over all j (non-causal, model.bidirectional: mixers.md §1.2 "Bidirectional (non-causal)
//   use", the sums over j and eta_i run over all T positions),
//   y = W_o concat_h(sum_j alpha_ij v_j) + b_o.
// tau = n^{-1/2}, or a learnable scalar initialized there (§2.2.1 option `learnable_tau`).
// position:
//   none   A = I, Phi = I (structure identity).
//   rope   A = R_1^T, Phi(i,j) = R_{j-i}, equivalently the score (R_i q_i)^T (R_j k_j) with
//          R_t = blockdiag(rot(t theta_m)), theta_m = base^{-2m/n} (structure orthogonal LTI).
//          The pair layout is `half` (m, m + n/2) or `interleaved` (2m, 2m+1).
//   alibi  alpha~_ij = tau q_i^T k_j - m_h (i - j), the bias not scaled by tau (§2.2.3); slopes
//          m_h fixed (alibi_slopes()). In the framework A = I_n (+) [[1, -m_h], [0, 1]] on
//          R^{n+2} (Jordan, LTI; reported as the orthogonal / Jordan LTI class of §3.1).
//          Non-causal: the symmetric bias -m_h |i - j|.
// Non-causal attention in the framework (§1.2): the sum of the forward system (j <= i, A^{i-j})
// and a system run on the reversed sequence (j > i, A_rev^{j-i}) with A_rev = A^{-1} = A^T for
// RoPE (rotation the other way), A_rev = A for ALiBi (the same Jordan block counts |i - j|) and
// I for NoPE. It has no step form (a query needs keys that have not arrived).
//
// Paths (spec/mixers.md §6.1):
//   forward      rotate q and k elementwise (cos/sin tables), one batched matmul with the
//                mask (and the ALiBi bias) over the (B, H, T, T) scores, softmax, matmul with V
//                (§2.2.2, §2.2.3 "fast path").
//   reference    the KV-cache form of §1.5: keys rotated once into the cache k^_j = R_j k_j
//                (explicit n x n rotation matrices), then one query at a time; ALiBi as a bias.
//   coefficients the explicit (B, H, T, T) softmax matrix alpha (zero above the diagonal; rows sum
//                to 1), so that forward(x) = out_proj(concat_h(alpha_h V_h)).
//   coefficients_from_transition  alpha by the framework's own definition b q~_i^T A^{i-j} k~_j
//                with the explicit A (§2.2.2 "Explicit path", §2.2.3 "Framework"); a test oracle.
//   step         the KV cache one token at a time (§6.6).
//
// Local attention (`window` w > 0; the DLR paper's long-sequence baseline, spec/protocols.md §4.2
// "LocalAttention: windows of w tokens. Causal: windows c-1 and c. Non-causal: c-1, c, c+1"): the
// sequence is cut into chunks of w tokens and query i in chunk c = floor(i/w) attends to keys
// j <= i in chunks c-1 and c, i.e. j >= (c-1)w, or (non-causal) to every key of chunks c-1, c and
// c+1, (c-1)w <= j < (c+2)w. Every path applies the same band. Forward, once T exceeds the band,
// runs the fused CPU kernel of core/local_attention.h (O(T w) time, O(T n) memory, backward by
// recomputation) or, off the CPU or with fused(false), the chunked form ((B, H, T/w, w, 2w or 3w)
// scores: O(T w) time and memory instead of O(T^2)); the causal KV cache keeps at most 2w keys.
#pragma once
#include <torch/arg.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "seqlab/core/local_attention.h"
#include "seqlab/mixers/mixer.h"

namespace seqlab::mixers {

struct SoftmaxAttentionOptions {
  SoftmaxAttentionOptions(int64_t d_model, int64_t heads) : d_model_(d_model), heads_(heads) {}
  TORCH_ARG(int64_t, d_model);
  TORCH_ARG(int64_t, heads);
  // Position information inside the attention: "none" (NoPE, §2.2.1), "rope" (§2.2.2) or
  // "alibi" (§2.2.3).
  TORCH_ARG(std::string, position) = "none";
  // Backward-compatible spelling of position = "rope" (true with position "none" selects RoPE).
  TORCH_ARG(bool, rope) = false;
  // §2.2.1 option: tau is a learnable scalar parameter "tau" initialized at n^{-1/2}.
  TORCH_ARG(bool, learnable_tau) = false;
  // "half": pairs (m, m + n/2) (FLA default); "interleaved": pairs (2m, 2m+1) (RoFormer).
  TORCH_ARG(std::string, rope_layout) = "half";
  TORCH_ARG(double, rope_base) = 10000.0;
  // Local attention window w (chunk length); 0 = full attention.
  TORCH_ARG(int64_t, window) = 0;
  // false: non-causal (bidirectional) attention, every key (or chunks c-1, c, c+1) visible.
  TORCH_ARG(bool, causal) = true;
  // Local attention on the CPU: the fused banded kernel (core/local_attention.h, O(T n) memory)
  // when true; the chunked (B, H, T/w, w, span) form when false (and always on other devices).
  TORCH_ARG(bool, fused) = true;
};

class SoftmaxAttentionImpl : public Mixer {
 public:
  // Throws seqlab::UserError on d_model/heads < 1, heads not dividing d_model, an unknown
  // position (or rope(true) with position alibi), an odd head dimension with rope, an unknown
  // rope_layout or rope_base <= 0.
  explicit SoftmaxAttentionImpl(const SoftmaxAttentionOptions& options);

  // x: (B, T, d) -> (B, T, d).
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor reference(const torch::Tensor& x) override;
  // (B, H, T, T) alpha with alpha[b, h, i, j] = 0 for j > i (causal) and outside the window.
  torch::Tensor coefficients(const torch::Tensor& x) override;
  // Framework decomposition (mixer.h): values (B, H, T, n) = v_j per head; from_core merges the
  // heads and applies W_o, so forward(x) == from_core(x, coefficients(x) @ values(x)).
  torch::Tensor values(const torch::Tensor& x) override;
  torch::Tensor from_core(const torch::Tensor& x, const torch::Tensor& y_core) override;
  // eta_i = sum_{l<=i} exp(alpha~_il) per head, with log_eta = LSE_i (§1.2, §3.2.8, §4.2).
  core::Normalizer normalizers(const torch::Tensor& x) override;
  // The constant A of the position encoding (§2.2.2-2.2.3), one per head and the same at every
  // step: identity (NoPE), the rotation R_1^T (RoPE), I (+) the ALiBi Jordan block (non-normal,
  // ‖A‖₂ > 1, so the diagnostics flag it). The softmax normalizer is reported by normalizers().
  core::Transition transitions(const torch::Tensor& x) override;
  // §4.2 "logit scale" of the content logits tau q_i.k_j (rotated for RoPE; the ALiBi bias, a
  // fixed function of i - j, is left out) over the visible entries, against tau sqrt(n Var Var).
  core::LogitScale logit_scale(const torch::Tensor& x);
  // KV cache step (§1.5, §6.6): state = {K^ (B, H, t', n) rotated keys, V (B, H, t', n), t}, with
  // t' = t, or the keys still visible with a window. Causal attention only: non-causal attention
  // throws seqlab::UserError (a query needs keys that have not arrived yet).
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) override;
  // KV cache: keys and values of every past token, 2 d floats per position (§6.6).
  // Local attention keeps only the keys the next query may see (at most 2w). (Non-causal
  // attention has no recurrent state; the figure is the causal cache's.)
  int64_t state_size(int64_t position) const override {
    return 2 * d_model_ * (position - first_visible_key(position));
  }
  // RoPE and ALiBi are the "orthogonal / Jordan, LTI" class of §3.1.
  Structure structure() const override {
    return position_ == "none" ? Structure::kIdentity : Structure::kOrthogonalLTI;
  }

  // alpha (B, H, T, T) from the explicit constant A of the framework (§1.2, §1.5):
  //   alpha~_ij = b q~_i^T A^{i-j} k~_j for j <= i, alpha_i. = softmax_j(alpha~_i.), b = tau;
  //   non-causal: alpha~_ij = b q~_i^T A_rev^{j-i} k~_j for j > i (reverse_transition_matrices);
  //   none:  A = I_n, q~ = q, k~ = k;
  //   rope:  A = R_1^T (n x n), q~ = q, k~ = k un-rotated (§2.2.2);
  //   alibi: A = I_n (+) [[1, -m_h], [0, 1]] (n + 2), q~ = (q, 1, 0), k~ = (k, 0, 1/tau), i.e.
  //          the impulse b k~ = (tau k, 0, 1) (§2.2.3 with tau = n^{-1/2}).
  // Powers A^l are formed by repeated products; O(T^2 n'^2) per head. Test oracle only.
  torch::Tensor coefficients_from_transition(const torch::Tensor& x);
  // The constant A of each head as an explicit (H, n', n') float64 tensor (n' = n + 2 for ALiBi).
  torch::Tensor transition_matrices() const;
  // A_rev of the reversed system of non-causal attention: A^T for RoPE (= A^{-1}), A otherwise.
  torch::Tensor reverse_transition_matrices() const;

  int64_t heads() const { return heads_; }
  int64_t window() const { return window_; }
  bool causal() const { return causal_; }
  // The first key index query i may attend to: 0, or (floor(i/w) - 1) w with a window.
  int64_t first_visible_key(int64_t i) const { return band().first(i); }
  // One past the last key query i may attend to in a sequence of T: i + 1 (causal), T (non-causal
  // full attention) or min(T, (floor(i/w) + 2) w) (non-causal window: chunks up to c + 1).
  int64_t end_visible_key(int64_t i, int64_t T) const { return band().end(i, T); }
  core::LocalAttentionBand band() const { return core::LocalAttentionBand{window_, causal_}; }
  int64_t head_dim() const { return head_dim_; }
  // Current temperature (the learnable parameter's value when learnable_tau).
  double tau() const;
  const std::string& position() const { return position_; }
  const SoftmaxAttentionOptions& options() const { return options_; }

  // ALiBi slopes m_h, h = 1..H (§2.2.3): H a power of 2: m_h = 2^{-8h/H}; otherwise the slopes of
  // H' = 2^floor(log2 H) followed by every other slope of the 2H' sequence until there are H.
  static std::vector<double> alibi_slopes(int64_t heads);

  // Rotary frequency theta_m = base^{-2m/n}, m = 0..n/2-1 (§2.2.2), as a float64 (n/2) tensor.
  torch::Tensor rope_frequencies() const;
  // Index of the two coordinates of rotation pair m in a head vector for the configured layout.
  std::pair<int64_t, int64_t> rope_pair(int64_t m) const;

  // Projections (PyTorch Linear init, §0.3); public so tests and exporters can read them.
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  // Learnable temperature (0-dim), defined only with learnable_tau.
  torch::Tensor tau_param;

 private:
  // (B, T, d) -> (B, H, T, n), un-rotated.
  torch::Tensor split_heads(const torch::Tensor& t) const;
  // (B, H, T, n) -> (B, T, d).
  torch::Tensor merge_heads(const torch::Tensor& t) const;
  // Elementwise rotation of (B, H, T, n) by R_t at position t = offset + index (forward path).
  torch::Tensor rotate(const torch::Tensor& t, int64_t offset = 0) const;
  // tau * scores, with the learnable tau when there is one.
  torch::Tensor scale(const torch::Tensor& scores) const;
  // ALiBi bias -m_h (i - j) (non-causal: -m_h |i - j|) for queries at positions q_pos (Tq) and
  // keys at k_pos (Tk), as a (H, Tq, Tk) tensor of x's dtype; hidden entries are left to the
  // caller's mask.
  torch::Tensor alibi_bias(const torch::Tensor& q_pos, const torch::Tensor& k_pos,
                           torch::Dtype dtype) const;
  // Raw scores alpha~ = tau q.k (+ ALiBi bias) of already rotated (B, H, T, n) q and k, with
  // -inf on hidden keys (hidden_keys): (B, H, T, T).
  torch::Tensor masked_scores(const torch::Tensor& q, const torch::Tensor& k) const;
  // (T, T) bool: true where query i may not see key j: j outside
  // [first_visible_key(i), end_visible_key(i, T)).
  torch::Tensor hidden_keys(int64_t T, const torch::Device& device) const;
  // The local-attention fast path on rotated (B, H, T, n) q, k, v: (B, H, T, n) outputs.
  torch::Tensor local_attend(const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v) const;
  // Explicit R_t for t = 0..T-1 as a (T, n, n) tensor (reference and explicit paths).
  torch::Tensor rotation_matrices(int64_t T, torch::Dtype dtype) const;
  void check_input(const torch::Tensor& x, const char* path) const;

  SoftmaxAttentionOptions options_;
  int64_t d_model_;
  int64_t heads_;
  int64_t head_dim_;
  int64_t window_;
  bool causal_;
  std::string position_;
  bool rope_;
  double tau_;            // n^{-1/2}, the initial value of tau_param
  torch::Tensor slopes_;  // (H) float64 ALiBi slopes
};
TORCH_MODULE(SoftmaxAttention);

}  // namespace seqlab::mixers
