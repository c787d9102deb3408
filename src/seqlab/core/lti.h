// LTI diagonal structure class (spec/mixers.md §3.1 "LTI diagonal", §3.2.7, §3.3.5): banks of
// time-invariant complex-diagonal systems, one per channel, evaluated as a kernel (a Vandermonde
// product) followed by a long convolution computed with the FFT. Members: S4D, DSS, DLR and the
// per-mode form of LRU (spec §2.2.7-§2.2.9).
//
// Notation. Complex numbers are real pairs (last dimension 2: re, im; spec §0.3). A bank has C
// output channels (DLR's `channels`, doubled when bidirectional), H input channels and M modes;
// mode m of channel h has the log-eigenvalue s[h, m] = a + i b, i.e. λ = exp(s), shared by all
// channels when s has one row (DLR: s_m = Λ_m = −p_m² + i b_m) or one per channel (S4D, DSS:
// s = log Ā_h). The readout weights are W[c, h, m].
//
// 1. Kernel (§3.2.7 step 1), l = 0..L−1:
//
//        K_c[c, h, l] = Σ_m W[c, h, m] exp(l s[h, m])                  (complex)
//        K[c, h, l]   = to_real(K_c)   with to_real ∈ {Re, Im, Re + Im, Re·Im} or real-prod
//                       (Re on the first ⌊H/2⌋ channels h, Re·Im on the rest)   (§2.2.8)
//
//    The fused kernel never forms exp(l s) for all (m, l): it works on tiles of 128 lags and
//    writes λ^l = λ^{l0}·λ^{16q}·λ^r (l = l0 + 16q + r), each factor evaluated directly as
//    exp(l·a)·(cos, sin)(l·b) in fp64, so every power is within a few ulp of the exact value
//    (no error growth in l). Phases l·b are reduced mod 2π in fp64 with an exact product (fma)
//    and a two-constant Cody-Waite reduction, so the kernel stays accurate for l up to 10^6
//    and beyond (§3.2.7 "phases"). The multiply-adds over m run in the input dtype.
//
//    Backward (§3.3.5, real formulas). With G_c = ∂L/∂Re K_c + i ∂L/∂Im K_c (G_c = G for
//    to_real = Re; the chain through Im, Re + Im or Re·Im is applied first), S = Σ_l conj(G_c,l)
//    λ^l and T = Σ_l l conj(G_c,l) λ^l per (c, h, m):
//
//        ∂L/∂Re W = Re S,   ∂L/∂Im W = −Im S,   ∂L/∂a = Re(W T),   ∂L/∂b = −Im(W T)
//
//    summed over the channels sharing s. For DLR, a = −p² and the last step ∂L/∂p = −2p ∂L/∂a
//    (§3.3.5) is autograd on the (N)-sized tensor a (dlr_kernel below).
//
//    Parallelism: forward over lag tiles (shared s) or channels (per-channel s); backward over
//    (s row, group of modes), each output element computed by one thread in a fixed order, so
//    results are bit-identical at any thread count.
//
// 2. Convolution (§3.2.7 step 2-3; bidirectional layout §2.2.8 step 4), u (B, H, T):
//
//        y[b, c, h, t] = Σ_{j=0}^{Lk−1} k[c, h, j] u[b, h, t−j]
//                      + Σ_{j=1}^{Lk} k_bwd[c, h, j−1] u[b, h, t+j]      (if k_bwd is given)
//                      + D[c, h] u[b, h, t]                               (if D is given)
//
//    computed as irfft(rfft(u, n)·rfft(f, n), n)[:T] with the filter f = [k, 0…0, flip(k_bwd)]
//    of length n = lti_fft_size(T, Lk, bidirectional): the smallest 2^a 3^b 5^c ≥ T + Lk − 1
//    (causal) or ≥ T + Lk (bidirectional), so nothing wraps around (§3.4 "FFT size"). DLR's
//    own n = T + Lk gives the same result up to rounding; a 5-smooth size is several times
//    faster in pocketfft when T + Lk has a large prime factor. Memory O(n) per (b, h) channel.
//    Backward (§3.3.5): du = irfft(Σ_c conj(F_c)·G_c)[:T] (cross-correlation), dk and dk_bwd
//    from irfft(Σ_b conj(U_b)·G_b) at lags 0..Lk−1 and −1..−Lk, dD = Σ_{b,t} g ⊙ u.
//
// 3. Step form (§3.2.7 step 4): x ← λ ⊙ x + u_t, y_t = Re(Σ_m q_m x_m), per channel.
//
// The *_reference functions use plain LibTorch ops (complex arithmetic, loops over lags or
// steps) and are the oracles of the tests; they are differentiable by autograd.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace seqlab::core {

// How the complex kernel becomes real (DLR `kernel_to_real`, spec §2.2.8).
// kRealProd: Re on the first ⌊H/2⌋ channels h, Re·Im on the others.
enum class KernelToReal { kReal, kImag, kSum, kProd, kRealProd };
const char* kernel_to_real_name(KernelToReal k);
// "real" | "imag" | "sum" | "prod" | "real-prod"; throws seqlab::UserError naming the valid
// choices.
KernelToReal kernel_to_real_from_name(const std::string& name);
std::vector<std::string> kernel_to_real_names();

// ---- 1. kernel ---------------------------------------------------------------------------------
// s (M, 2) shared or (H, M, 2) per channel, W (C, H, M, 2), float32 or float64 CPU ->
// K (C, H, L). The fused kernel with the hand-written backward above (not twice
// differentiable). Throws c10::Error naming the argument and the expected shape.
torch::Tensor vandermonde_kernel(const torch::Tensor& s, const torch::Tensor& W, int64_t length,
                                 KernelToReal to_real = KernelToReal::kReal);
// The same with complex LibTorch ops: V = exp(l s) as an (·, M, L) complex tensor and an einsum.
torch::Tensor vandermonde_kernel_reference(const torch::Tensor& s, const torch::Tensor& W,
                                           int64_t length,
                                           KernelToReal to_real = KernelToReal::kReal);
// DLR (§2.2.8): s_m = −p_m² + i b_m shared by all channels; p, b (N), W (C, H, N, 2).
torch::Tensor dlr_kernel(const torch::Tensor& p, const torch::Tensor& b, const torch::Tensor& W,
                         int64_t length, KernelToReal to_real = KernelToReal::kReal);

// ---- 2. convolution ----------------------------------------------------------------------------
// The FFT length used by lti_conv (see the header comment).
int64_t lti_fft_size(int64_t T, int64_t kernel_length, bool bidirectional);
// u (B, H, T), k (C, H, Lk) with 1 ≤ Lk ≤ T, k_bwd (C, H, Lk) or undefined, D (C, H) or
// undefined -> y (B, C, H, T). Autograd Function with the FFT cross-correlation backward.
torch::Tensor lti_conv(const torch::Tensor& u, const torch::Tensor& k,
                       const torch::Tensor& k_bwd = {}, const torch::Tensor& D = {});
// The same sum as a loop over lags of LibTorch ops (O(T·Lk); tests only).
torch::Tensor lti_conv_direct(const torch::Tensor& u, const torch::Tensor& k,
                              const torch::Tensor& k_bwd = {}, const torch::Tensor& D = {});

// ---- 3. recurrent form -------------------------------------------------------------------------
// One step at a time in complex LibTorch ops: per channel h and mode m, x_t = λ x_{t−1} + u_t
// (x_0 = 0), λ = exp(s[h, m]); y[b, c, h, t] = Re Σ_m q[c, h, m] x_t[h, m]. With anti_causal the
// scan runs backwards and is shifted by one: y_t = Re Σ_m q Σ_{j≥1} λ^{j−1} u_{t+j}, the
// backward half of the bidirectional layout. u (B, H, T), s (M, 2) | (H, M, 2), q (C, H, M, 2)
// -> (B, C, H, T). Equals lti_conv with K = vandermonde_kernel(s, q, T, kReal).
torch::Tensor lti_scan_reference(const torch::Tensor& u, const torch::Tensor& s,
                                 const torch::Tensor& q, bool anti_causal = false);

// The explicit coefficients of a causal (and optionally anti-causal) convolution, spec §6.1 path
// E: k (S, Lk), k_bwd (S, Lk) or undefined -> (S, T, T) Toeplitz with M[s, i, j] = k[s, i − j]
// for 0 ≤ i − j < Lk and k_bwd[s, j − i − 1] for 1 ≤ j − i ≤ Lk, 0 elsewhere.
torch::Tensor toeplitz_coefficients(const torch::Tensor& k, int64_t T,
                                    const torch::Tensor& k_bwd = {});

}  // namespace seqlab::core
