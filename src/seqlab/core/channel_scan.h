// Channel-wise real-diagonal scans: the S6 selective scan and the plain elementwise linear
// recurrence (spec/mixers.md §2.2.10, §2.2.15, §2.2.16, §3.1 "real diagonal, ID": sequential scan
// for small n, one system per channel with d_v = 1).
//
// Selective scan (S6 / Mamba-1, §2.2.10 step 6; ZOH for A, Euler for B), for batch b, channel c,
// state m, t = 1..T:
//
//     h_t[c, m] = exp(Δ_t[c] A[c, m]) h_{t−1}[c, m] + Δ_t[c] B_t[m] x_t[c]
//     y_t[c]    = Σ_m C_t[m] h_t[c, m]
//
// (the skip D x and the gate are applied by the caller). Shapes, float32 or float64:
//   x, delta (B, T, D);  A (D, N);  Bm, Cm (B, T, N) shared by all channels;  h0 (B, D, N) | {}.
// Returns y (B, T, D) and the final state (B, D, N).
//
// Linear recurrence (RG-LRU, qLSTM; n = 1 per channel):
//
//     h_t[c] = exp(log_a_t[c]) h_{t−1}[c] + u_t[c]
//
//   log_a, u (B, T, D);  h0 (B, D) | {}.  Returns every h_t (B, T, D) and the final state (B, D).
//
// Paths: *_reference runs one step at a time in LibTorch ops; *_fused is a CPU kernel parallel
// over (batch × channel blocks) with channels innermost (vectorized), hand-written backward (the
// reverse-time adjoint, §3.3.1-§3.3.2), bit-identical at any thread count, not differentiable
// twice. The fused selective scan stores h at chunk boundaries and recomputes inside each chunk
// in the backward (§3.3.8).
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <utility>

#include "seqlab/core/scan_types.h"

namespace seqlab::core {

std::pair<torch::Tensor, torch::Tensor> selective_scan_reference(
    const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& h0 = {});
std::pair<torch::Tensor, torch::Tensor> selective_scan_fused(
    const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& h0 = {});
// kFused falls back to kReference off the CPU; kChunked is not offered (throws UserError).
std::pair<torch::Tensor, torch::Tensor> selective_scan(
    ScanPath path, const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& h0 = {});
// The fused selective scan with an explicit checkpoint interval: the backward recomputes the
// states inside chunks of `checkpoint` ≥ 1 steps (§3.3.8; the default above uses 64). Any T.
std::pair<torch::Tensor, torch::Tensor> selective_scan_fused(
    const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& h0, int64_t checkpoint);
// Explicit coefficients per channel (spec §1.3, Diag class): (B, D, T, T) with
// M[b, c, i, j] = Σ_m C_i[m] exp(Σ_{t=j+1}^{i} Δ_t[c] A[c, m]) Δ_j[c] B_j[m] for j ≤ i.
torch::Tensor selective_scan_coefficients(const torch::Tensor& delta, const torch::Tensor& A,
                                          const torch::Tensor& Bm, const torch::Tensor& Cm);

std::pair<torch::Tensor, torch::Tensor> linear_recurrence_reference(const torch::Tensor& log_a,
                                                                    const torch::Tensor& u,
                                                                    const torch::Tensor& h0 = {});
std::pair<torch::Tensor, torch::Tensor> linear_recurrence_fused(const torch::Tensor& log_a,
                                                                const torch::Tensor& u,
                                                                const torch::Tensor& h0 = {});
std::pair<torch::Tensor, torch::Tensor> linear_recurrence(ScanPath path, const torch::Tensor& log_a,
                                                          const torch::Tensor& u,
                                                          const torch::Tensor& h0 = {});
// (B, D, T, T) with M[b, c, i, j] = exp(Σ_{t=j+1}^{i} log_a_t[c]) for j ≤ i (coefficients of u).
torch::Tensor linear_recurrence_coefficients(const torch::Tensor& log_a);

namespace detail {
// Shape, dtype and device checks shared by every path; throw c10::Error naming `fn`, the argument
// and the expected shape.
void check_selective_scan_inputs(const char* fn, const torch::Tensor& x, const torch::Tensor& delta,
                                 const torch::Tensor& A, const torch::Tensor& Bm,
                                 const torch::Tensor& Cm, const torch::Tensor& h0);
void check_linear_recurrence_inputs(const char* fn, const torch::Tensor& log_a,
                                    const torch::Tensor& u, const torch::Tensor& h0);
// The exp of the fused kernels (branch-free, so the loops calling it vectorize), applied to a
// contiguous CPU tensor; exposed so tests can measure its error against std::exp.
torch::Tensor kernel_exp(const torch::Tensor& x);
}  // namespace detail

}  // namespace seqlab::core
