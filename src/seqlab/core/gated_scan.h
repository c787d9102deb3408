// Gated linear recurrence with a matrix state: the identity, scalar and real-diagonal structure
// classes (spec/mixers.md §1.4, §3.1). For each batch b and head h, t = 1..T:
//
//     S_t = Diag(exp(g_t)) S_{t−1} + k_t v_tᵀ,     y_t = S_tᵀ q_t,     S_0 = s0 (default 0)
//
// g = log a is the log-gate (≤ 0 for a stable system, but any real value is accepted). The
// impulse gain b_j is folded into k by the caller (K̄ = b k, §3.2.2); normalizers are the same
// system run on v ≡ 1 (append a column of ones to v, §1.4).
//
// Shapes (float32 or float64; every path takes the same arguments):
//   q, k  (B, H, T, n)
//   v     (B, H, T, dv)
//   g     (B, H, T, n) diagonal gates | (B, H, T, 1) scalar gates | undefined: identity (g ≡ 0)
//   s0    (B, H, n, dv) | undefined: zero initial state
// Output y (B, H, T, dv) and the final state S_T (B, H, n, dv); both are differentiable.
//
// Paths (all agree to the tolerances of spec §6.2):
//   gated_scan_reference  one step at a time in LibTorch ops;
//   gated_scan_fused      CPU kernel parallel over (batch × head), the state stays in cache; the
//                         backward recomputes the states (§3.3.8) and obtains the gate gradient
//                         from the log-gate identity (§3.3.3); not differentiable twice;
//   gated_scan_chunked    chunked matrix form (§3.2.2 scalar/identity with the stable segsum,
//                         §3.2.3 diagonal with per-sub-chunk reference points), any chunk size ≥ 1
//                         with neutral padding, LibTorch ops on any device, autograd backward.
#pragma once
#include <torch/types.h>

#include <cstdint>

#include "seqlab/core/scan_types.h"

namespace seqlab::core {

ScanResult gated_scan_reference(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& g,
                                const torch::Tensor& s0 = {});
ScanResult gated_scan_fused(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& g, const torch::Tensor& s0 = {});
ScanResult gated_scan_chunked(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& g,
                              const torch::Tensor& s0 = {}, int64_t chunk = 64);
// Dispatch on `path`; kFused falls back to kChunked for tensors that are not on the CPU.
ScanResult gated_scan(ScanPath path, const torch::Tensor& q, const torch::Tensor& k,
                      const torch::Tensor& v, const torch::Tensor& g, const torch::Tensor& s0 = {},
                      int64_t chunk = 64);

// One recurrent step (spec §6.6): q_t, k_t (B, H, n), v_t (B, H, dv), g_t (B, H, n) | (B, H, 1) |
// undefined, state (B, H, n, dv). Returns y_t (B, H, dv) and the next state. Differentiable.
ScanResult gated_scan_step(const torch::Tensor& q_t, const torch::Tensor& k_t,
                           const torch::Tensor& v_t, const torch::Tensor& g_t,
                           const torch::Tensor& state);

// The explicit coefficients (spec §1.3): M[b, h, i, j] = Σ_d q_{i,d} k_{j,d} exp(G_{i,d} − G_{j,d})
// for j ≤ i, else 0, with G the inclusive cumulative sum of g. (B, H, T, T); y = M v when s0 = 0.
// Exponents are formed as segment sums Σ_{t=j+1}^{i} g_t, never as G_i − G_j (§3.4).
torch::Tensor gated_scan_coefficients(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& g);

}  // namespace seqlab::core
