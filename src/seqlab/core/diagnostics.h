// Stability diagnostics of the evolution matrices A_t (spec/mixers.md §4.1-§4.2), per layer on a
// given batch, from the closed form of each structure class; and statistics of an explicit
// coefficient matrix (variance gain, coefficient mass, effective number of sources).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>

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

}  // namespace seqlab::core
