// Delta rule with an optional scalar gate: the "identity minus rank 1" structure class
// (spec/mixers.md §2.2.17-§2.2.18, §3.1). For each batch b and head h, t = 1..T:
//
//     S_t = a_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,     y_t = S_tᵀ q_t,     S_0 = s0
//
// with a_t = exp(log_a_t) (a ≡ 1 for DeltaNet). The caller applies L2 normalization of k and the
// query scale; the kernel takes k as given.
//
// Shapes (float32 or float64; every path takes the same arguments):
//   q, k   (B, H, T, n)
//   v      (B, H, T, dv)
//   beta   (B, H, T)
//   log_a  (B, H, T) | undefined: a ≡ 1
//   s0     (B, H, n, dv) | undefined: zero initial state
// Output y (B, H, T, dv) and the final state S_T (B, H, n, dv); both are differentiable.
//
// Paths (all agree to the tolerances of spec §6.2):
//   delta_scan_reference  one step at a time in LibTorch ops;
//   delta_scan_fused      CPU kernel parallel over (batch × head); the forward stores S at chunk
//                         boundaries and the backward recomputes inside each chunk (§3.3.8); the
//                         backward is the reverse-time adjoint with A_{t+1}ᵀ and the rank-1
//                         projections of §3.3.2; not differentiable twice;
//   delta_scan_chunked    WY/UT chunked form (§3.2.4), any chunk size ≥ 1 with neutral padding,
//                         LibTorch ops on any device, autograd backward.
#pragma once
#include <torch/types.h>

#include <cstdint>

#include "seqlab/core/scan_types.h"

namespace seqlab::core {

// Steps between the states the fused forward stores for its backward (§3.2.1, §3.3.8).
constexpr int64_t kDeltaScanCheckpoint = 64;

// Validates the arguments shared by every path below: shapes as listed above, one floating dtype
// (float32 or float64) and one device. Throws c10::Error prefixed with `who` that names the
// expected shape.
void delta_scan_check_inputs(const char* who, const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& beta,
                             const torch::Tensor& log_a, const torch::Tensor& s0);

ScanResult delta_scan_reference(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& beta,
                                const torch::Tensor& log_a, const torch::Tensor& s0 = {});
ScanResult delta_scan_fused(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& beta, const torch::Tensor& log_a,
                            const torch::Tensor& s0 = {});
ScanResult delta_scan_chunked(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& beta,
                              const torch::Tensor& log_a, const torch::Tensor& s0 = {},
                              int64_t chunk = 64);
// Dispatch on `path`; kFused falls back to kChunked for tensors that are not on the CPU.
ScanResult delta_scan(ScanPath path, const torch::Tensor& q, const torch::Tensor& k,
                      const torch::Tensor& v, const torch::Tensor& beta, const torch::Tensor& log_a,
                      const torch::Tensor& s0 = {}, int64_t chunk = 64);

// One recurrent step (spec §6.6): q_t, k_t (B, H, n), v_t (B, H, dv), beta_t (B, H),
// log_a_t (B, H) | undefined, state (B, H, n, dv). Returns y_t (B, H, dv) and the next state.
ScanResult delta_scan_step(const torch::Tensor& q_t, const torch::Tensor& k_t,
                           const torch::Tensor& v_t, const torch::Tensor& beta_t,
                           const torch::Tensor& log_a_t, const torch::Tensor& state);

// Explicit coefficients (spec §1.2): M[b, h, i, j] = q_iᵀ Φ(i, j) β_j k_j for j ≤ i, else 0,
// with Φ(i, j) = A_i ⋯ A_{j+1}. (B, H, T, T), computed by propagating every impulse
// (O(T² n) per head); y = M v when s0 = 0.
torch::Tensor delta_scan_coefficients(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& beta, const torch::Tensor& log_a);

}  // namespace seqlab::core
