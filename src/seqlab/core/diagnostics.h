// Stability diagnostics of the evolution matrices A_t (spec/mixers.md §4.1-§4.2), per layer on a
// given batch, from the closed form of each structure class; and statistics of an explicit
// coefficient matrix (variance gain, coefficient mass, effective number of sources).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seqlab::core {

enum class TransitionKind { kIdentity, kScalar, kDiagonal, kDeltaRule, kDense, kComplexDiagonal };
const char* transition_kind_name(TransitionKind k);

// The A_t of one layer on one batch, in its structure's parametrization. S = systems (heads or
// channels); only the fields of `kind` are read.
struct Transition {
  TransitionKind kind = TransitionKind::kIdentity;
  torch::Tensor log_gate;   // kScalar (B, S, T, 1), kDiagonal (B, S, T, n): log a_t
  torch::Tensor beta;       // kDeltaRule (B, H, T)
  torch::Tensor keys;       // kDeltaRule (B, H, T, n)
  torch::Tensor log_alpha;  // kDeltaRule (B, H, T) or undefined (α ≡ 1)
  torch::Tensor dense;      // kDense (B, T, n, n)
  torch::Tensor lambda;     // kComplexDiagonal (B, T, N, 2) real pairs
};

// min / median / max over the finite values of a set (all zero when it is empty).
struct Summary {
  double min = 0, median = 0, max = 0;
};
Summary summarize(const torch::Tensor& values);

// §4.2, over every (batch, system, time) step of one layer.
struct Diagnostics {
  std::string kind;
  int64_t steps = 0;
  Summary spectral_radius;  // ρ(A_t) = max |eig|
  Summary norm2;            // ‖A_t‖₂ (closed form when normal, singular values when dense)
  // Memory horizon 1/(1 − |λ|) over every eigenvalue with |λ| < 1; eigenvalues with |λ| ≥ 1
  // (infinite horizon) are counted in infinite_horizon_fraction.
  Summary memory_horizon;
  double infinite_horizon_fraction = 0;
  int64_t expansive_steps = 0;            // ρ > 1 + 1e-6 (flag)
  int64_t nonnormal_transient_steps = 0;  // ‖A‖₂ > 1 + 1e-6 while ρ ≤ 1 + 1e-6 (flag)
  double saturated_high_fraction = 0;     // gates a > 1 − 1e-4 (scalar / diagonal)
  double saturated_low_fraction = 0;      // gates a < 1e-4 (scalar / diagonal)
};
Diagnostics diagnose(const Transition& transition);

// Statistics of an explicit coefficient matrix M (B, S, T, T), per output row i (§4.2): the
// coefficient mass Σ_j α_ij, the realized variance gain E_i = Σ_j α_ij² and the effective number
// of sources (Σ_j |α_ij|)² / E_i (rows with E_i = 0 are skipped there).
struct CoefficientStats {
  Summary mass, variance_gain, effective_sources;
  int64_t rows = 0;
  int64_t variance_gain_flags = 0;  // rows with E_i > 10 or E_i < 1e-3
};
CoefficientStats coefficient_stats(const torch::Tensor& M);

// §4.2 "logit scale" of a softmax mixer: the standard deviation of the raw logits α̃ over the
// causal entries, against the value predicted for independent zero-mean entries,
// b·sqrt(n Var(q) Var(k)) (the std of b qᵀk with per-entry variances Var(q), Var(k)).
struct LogitScale {
  int64_t entries = 0;
  double std = 0;            // population std of the finite logits
  double predicted_std = 0;  // b·sqrt(n Var(q) Var(k)), variances over every entry of q, k
};
// logits (B, S, T, T), non-finite entries (the masked j > i) skipped; q, k (B, S, T, n).
LogitScale logit_scale(const torch::Tensor& logits, const torch::Tensor& q, const torch::Tensor& k,
                       double b);

// The normalizer η_i of each output row of a mixer with one (spec §1.2, §1.4): softmax η_i =
// Σ_{l≤i} exp(α̃_il), linear attention q_iᵀz_i, DSF normalized attention η(u_i), mLSTM / RetNet
// the clamped max(|·|, 1) forms. (B, S, T) each; log_eta and clamp_active may be undefined.
struct Normalizer {
  torch::Tensor eta;           // η_i
  torch::Tensor log_eta;       // log η_i where the mixer has it exactly (softmax LSE, DSF)
  torch::Tensor clamp_active;  // bool: the clamp max(|·|, 1) is active (mLSTM, RetNet)
};

// §4.2 "normalizer minima" and "DSF eigenvalue" over every (batch, system, time) row.
struct NormalizerStats {
  int64_t rows = 0;
  Summary eta;                       // min / median / max η_i
  double small_fraction = 0;         // fraction of rows with η_i < tau_eta
  bool has_clamp = false;            // whether clamp_active_fraction applies
  double clamp_active_fraction = 0;  // fraction of rows where the clamp is active
  bool tiny = false;                 // flag: min η < 1e-6
  // Λ_i = η_{i−1}/η_i for i ≥ 2 (computed as exp(log η_{i−1} − log η_i) when log_eta is given).
  int64_t eigen_steps = 0;
  Summary dsf_eigenvalue;
  // Bin k counts t_{k−1} < Λ ≤ t_k over the thresholds t = {0.5, 0.9, 0.99, 1, 1.01}
  // (t_{−1} = −∞, t_5 = +∞), so bins 4 and 5 together are the Λ > 1 rows.
  static std::vector<double> thresholds() { return {0.5, 0.9, 0.99, 1.0, 1.01}; }
  std::vector<int64_t> eigen_bins = std::vector<int64_t>(6, 0);
  int64_t eigen_above_one = 0;  // flag: Λ_i > 1
};
NormalizerStats normalizer_stats(const Normalizer& normalizer, double tau_eta = 1e-3);

}  // namespace seqlab::core
