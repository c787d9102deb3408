// SD-SSM, the selective dense SSM (spec/mixers.md §2.2.20; protocols.md §2.4). Structure class
// "dense, input-dependent" (§3.1), computed by core::dense_scan (§3.2.6).
//
//   s_t  = softmax(W_s u_t + b_s)                   selector, Linear(D → K, bias)
//   Ā_t  = Σ_k s_{t,k} A_k                          convex mix BEFORE normalization
//   A_t[:, c] = Ā_t[:, c] / ‖Ā_t[:, c]‖_p           every column c, norm over the rows
//   x_0 = 0,   x_t = A_t x_{t−1} + B u_t            B: Linear(D → N, no bias)
//
// Index convention: A_k[row, col], x_new = A x, so x_new[row] = Σ_col A[row, col] x[col]. Column
// `col` holds where state coordinate `col` is sent (the from-state); the normalization scales each
// column by its Lp norm over the rows. An automaton transition matrix is column-one-hot
// (A[δ(q), q] = 1) and is left unchanged for every p (§2.2.20 "Properties", §6.5 #13).
//
// ‖v‖_p = (Σ_i |v_i|^p)^{1/p}, with no ε by default, as in the reference: an all-zero column gives
// NaN. Option colnorm_eps = ε > 0 adds it inside the root: (Σ_i |v_i|^p + ε)^{1/p} (§3.3.6).
// The state is kept raw (§3.4 "SD-SSM with p > 1": it may grow by up to N^{1−1/p} per step).
//
// Output: the states x (B, T, N). LayerNorm and the readout live in the model (sdssm_model.h).
// Framework (§2.2.20 "Framework", §1.2): n = N, b = 1, k_j = B u_j, value ≡ 1, q = e_m for every
// state coordinate m.
#pragma once
#include <torch/arg.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "seqlab/mixers/mixer.h"

namespace seqlab::mixers {

struct SDSSMOptions {
  SDSSMOptions(int64_t input_dim, int64_t state_size, int64_t dict_size)
      : input_dim_(input_dim), state_size_(state_size), dict_size_(dict_size) {}
  TORCH_ARG(int64_t, input_dim);         // D: one-hot width (alphabet, +1 with a query token)
  TORCH_ARG(int64_t, state_size);        // N
  TORCH_ARG(int64_t, dict_size);         // K
  TORCH_ARG(double, p) = 1.2;            // column-normalization exponent, p >= 1
  TORCH_ARG(double, colnorm_eps) = 0.0;  // ε inside the column norm's root; 0 = reference
};

// Column Lp normalization of a (..., N, N): each column a[..., :, c] divided by its Lp norm over
// the row index, (Σ_r |a[..., r, c]|^p + eps)^{1/p}. Plain LibTorch ops (autograd differentiates
// it; the gradient is the §3.3.6 "column Lp normalization" row).
torch::Tensor column_lp_normalize(const torch::Tensor& a, double p, double eps = 0.0);

class SDSSMImpl : public Mixer {
 public:
  explicit SDSSMImpl(const SDSSMOptions& options);

  // Generic path: u (B, T, D), any real input (not only one-hot) -> states x (B, T, N). One
  // normalized A_t per (b, t), scanned by core::dense_scan with M = B·T.
  torch::Tensor forward(const torch::Tensor& u) override;
  // One-hot fast path (§3.2.6): ids (B, T) int64 in [0, D) -> states x (B, T, N). Builds the D
  // normalized matrices once (inputs = identity rows), gathers them per token inside the scan
  // (M = D, idx = ids) and takes u_t = column ids[t] of B. Equals forward(one_hot(ids)).
  torch::Tensor forward_tokens(const torch::Tensor& ids);
  // forward / forward_tokens scanned by dense_scan_renormalized (below): the states divided by a
  // power of two per sequence and chunk, so long inputs cannot overflow. Inference only.
  torch::Tensor forward_renormalized(const torch::Tensor& u);
  torch::Tensor forward_tokens_renormalized(const torch::Tensor& ids);
  // The recurrence as a plain LibTorch loop over t (slow, obviously correct, fp64 capable).
  torch::Tensor reference(const torch::Tensor& u) override;
  // Propagator-weighted impulses (§2.2.20 "Framework"), (B, N, T, T):
  //   coef[b, :, i, j] = Φ(i, j) B u_j for j ≤ i, exactly 0 for j > i,
  // with Φ(i, j) = A_i ⋯ A_{j+1} and Φ(j, j) = I (0-based i, j). The states are the row sums:
  // forward(u)[b, i, :] = Σ_j coef[b, :, i, j]. Built by propagating each impulse separately.
  torch::Tensor coefficients(const torch::Tensor& u) override;
  // N floats (the state x), independent of the position.
  int64_t state_size(int64_t position) const override;
  Structure structure() const override { return Structure::kDense; }

  // The normalized transitions A for inputs u (..., D): (..., N, N). Differentiable.
  torch::Tensor build_transitions(const torch::Tensor& u) const;
  // The D per-symbol matrices of the fast path: build_transitions(I_D), (D, N, N).
  torch::Tensor symbol_transitions() const;

  const SDSSMOptions& options() const { return options_; }

  torch::Tensor A_dict;                 // "A_dict": (K, N, N), A_dict[k][row][col]
  torch::nn::Linear selector{nullptr};  // "selector": Linear(D → K, bias)
  torch::nn::Linear B{nullptr};         // "B": Linear(D → N, no bias); weight (N, D)

 private:
  void check_input(const torch::Tensor& u) const;
  // The arguments of core::dense_scan (a_table, idx, bu) for the generic path (checked input u)
  // and for the one-hot fast path (checked token ids).
  struct ScanArgs {
    torch::Tensor a_table, idx, bu;
  };
  ScanArgs scan_args(const torch::Tensor& u);
  ScanArgs token_scan_args(const torch::Tensor& ids);

  SDSSMOptions options_;
};
TORCH_MODULE(SDSSM);

// Long-sequence inference without overflow (spec/mixers.md §3.4, "SD-SSM with p > 1"): the raw
// state can grow by up to N^{1-1/p} per step and overflows float32 somewhere past T ≈ 150
// (p = 1.2) or T ≈ 400 (p = 1.1) for trained models. This scans x_t = a_table[idx_t] x_{t-1} +
// bu_t (core::dense_scan's arguments: a_table (M, N, N), idx (B, T), bu (B, T, N)) in chunks of
// `chunk` steps and carries x = 2^e·x̂: after each chunk the carried state is divided by a power
// of two (exact in floating point) chosen per sequence so that max|x̂| ≈ 1, and the following
// inputs are scaled by the same factor. Returns the states of each chunk divided by that chunk's
// 2^e, (B, T, N): equal to the raw states up to one positive factor per (sequence, chunk), which a
// LayerNorm readout does not see (up to its ε). No gradients: inference only.
// The chunk length both SD-SSM models use: growth within a chunk is at most N^{(1-1/p)·32}, which
// is 2^32 for the presets' p = 1.2 and N = 64, far inside float32's range.
inline constexpr int64_t kRenormChunk = 32;
torch::Tensor dense_scan_renormalized(const torch::Tensor& a_table, const torch::Tensor& idx,
                                      const torch::Tensor& bu, int64_t chunk = kRenormChunk);

}  // namespace seqlab::mixers
