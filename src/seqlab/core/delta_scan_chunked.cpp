// Delta rule, WY/UT chunked form with an optional scalar gate (spec/mixers.md §3.2.4), in LibTorch
// ops on any device with an autograd backward (§3.3.4 is what autograd derives through the
// triangular solve). See delta_scan.h for the recurrence and shapes.
//
// Every chunk-local quantity (gate factors, the unit lower-triangular system and its solution,
// the masked query-key products) is computed for all chunks at once; only the inter-chunk state
// S_prev → S_next runs as a loop over chunks.
#include <torch/torch.h>

#include <limits>
#include <vector>

#include "seqlab/core/delta_scan.h"

namespace seqlab::core {
namespace {

// Pads dimension `dim` (the time axis) with `pad` zeros at the end: the neutral steps of §3.2
// (k = 0, v = 0, β = 0, log a = 0, q = 0 leave the state unchanged).
torch::Tensor pad_time(const torch::Tensor& x, int64_t dim, int64_t pad) {
  if (pad == 0) return x;
  auto shape = x.sizes().vec();
  shape[dim] = pad;
  return torch::cat({x, torch::zeros(shape, x.options())}, dim);
}

// Stable segment sum (§3.2.2 "Computing seg"): for x (..., L), seg[..., r, s] = Σ_{t=s+1}^{r} x_t
// for s ≤ r and −∞ for s > r, built by a masked cumulative sum over the row index (never as a
// difference of prefix sums, §3.4).
torch::Tensor stable_segsum(const torch::Tensor& x) {
  const int64_t L = x.size(-1);
  const auto opts = x.options().dtype(torch::kBool);
  auto shape = x.sizes().vec();
  shape.push_back(L);
  auto xr = x.unsqueeze(-1).expand(shape);  // xr[..., r', s] = x_{r'}
  const auto strictly_lower = torch::ones({L, L}, opts).tril(-1);
  auto seg = torch::cumsum(xr.masked_fill(strictly_lower.logical_not(), 0.0), -2);
  const auto upper = torch::ones({L, L}, opts).triu(1);
  return seg.masked_fill(upper, -std::numeric_limits<double>::infinity());
}

// Chunk-local pieces of §3.2.4 for all chunks, each (B, H, NC, ...):
struct ChunkTerms {
  torch::Tensor u;        // U = M⁻¹ Diag(β) V                           (C, dv)
  torch::Tensor w;        // W = M⁻¹ Diag(β ⊙ Γ) K                       (C, n)
  torch::Tensor qk;       // tril((Q Kᵀ) ⊙ Lmask), diagonal included      (C, C)
  torch::Tensor q_gamma;  // Diag(Γ) Q                                   (C, n)
  torch::Tensor k_decay;  // Diag(exp(G_C − G)) K                         (C, n)
  torch::Tensor gamma_c;  // Γ_C                                         (1, 1)
};

// Q, K (B, H, NC, C, n), V (B, H, NC, C, dv), β and g = log a (B, H, NC, C).
ChunkTerms chunk_terms(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const torch::Tensor& beta, const torch::Tensor& g) {
  const int64_t C = q.size(3), dv = v.size(4);
  // Gate factors from one segment sum over [0, g_1, ..., g_C] (a virtual step 0 with g = 0), so
  // that seg[r, 0] = G_r, seg[C, s] = G_C − G_s and seg[r, s] = G_r − G_s are all segment sums
  // with exponents ≤ 0 for g ≤ 0 (§3.4).
  auto seg = stable_segsum(torch::cat({torch::zeros_like(g.narrow(-1, 0, 1)), g}, -1));
  auto lmask = torch::exp(seg.narrow(-2, 1, C).narrow(-1, 1, C));  // exp(G_r − G_s), 0 if s > r
  auto gamma = torch::exp(seg.narrow(-2, 1, C).select(-1, 0));     // Γ_r = exp(G_r)
  auto last = seg.select(-2, C);                                   // row C: G_C − G_s, s = 0..C
  auto decay = torch::exp(last.narrow(-1, 1, C));                  // exp(G_C − G_s)
  auto gamma_c = torch::exp(last.narrow(-1, 0, 1)).unsqueeze(-1);  // Γ_C, (1, 1)

  // M = I + strictly_lower(Diag(β) (K Kᵀ ⊙ Lmask)), unit lower-triangular (§3.2.4).
  const auto b = beta.unsqueeze(-1);
  auto kk = torch::matmul(k, k.transpose(-1, -2)) * lmask;
  auto m = (b * kk).tril(-1) + torch::eye(C, q.options());
  // Forward substitution for both right-hand sides at once: [Diag(β) V, Diag(β ⊙ Γ) K].
  auto rhs = torch::cat({b * v, (b * gamma.unsqueeze(-1)) * k}, -1);
  auto sol = torch::linalg_solve_triangular(m, rhs, /*upper=*/false, /*left=*/true,
                                            /*unitriangular=*/true);
  ChunkTerms terms;
  terms.u = sol.narrow(-1, 0, dv);
  terms.w = sol.narrow(-1, dv, sol.size(-1) - dv);
  terms.qk = torch::matmul(q, k.transpose(-1, -2)) * lmask;  // lmask is 0 above the diagonal
  terms.q_gamma = gamma.unsqueeze(-1) * q;
  terms.k_decay = decay.unsqueeze(-1) * k;
  terms.gamma_c = gamma_c;
  return terms;
}

}  // namespace

ScanResult delta_scan_chunked(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& beta,
                              const torch::Tensor& log_a, const torch::Tensor& s0, int64_t chunk) {
  delta_scan_check_inputs("delta_scan_chunked", q, k, v, beta, log_a, s0);
  TORCH_CHECK(chunk >= 1, "delta_scan_chunked: chunk must be >= 1, got ", chunk);
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), n = q.size(3), dv = v.size(3);
  auto state = s0.defined() ? s0 : torch::zeros({B, H, n, dv}, q.options());
  if (T == 0) return {torch::zeros({B, H, 0, dv}, q.options()), state};

  const int64_t C = chunk, NC = (T + C - 1) / C, pad = NC * C - T;
  auto to_chunks = [&](const torch::Tensor& x) {  // (B, H, T, ...) → (B, H, NC, C, ...)
    auto shape = x.sizes().vec();
    shape[2] = C;
    shape.insert(shape.begin() + 2, NC);
    return pad_time(x, 2, pad).reshape(shape);
  };
  const auto g = log_a.defined() ? log_a : torch::zeros_like(beta);
  const auto t =
      chunk_terms(to_chunks(q), to_chunks(k), to_chunks(v), to_chunks(beta), to_chunks(g));

  // Inter-chunk recurrence (§3.2.4), one chunk at a time:
  //   Ũ = U − W S_prev,  Y = Diag(Γ) Q S_prev + tril(QKᵀ ⊙ Lmask) Ũ,
  //   S_next = Γ_C S_prev + (Diag(exp(G_C − G)) K)ᵀ Ũ.
  const auto us = t.u.unbind(2), ws = t.w.unbind(2), qks = t.qk.unbind(2);
  const auto qgs = t.q_gamma.unbind(2), kds = t.k_decay.unbind(2), gcs = t.gamma_c.unbind(2);
  std::vector<torch::Tensor> ys;
  ys.reserve(static_cast<size_t>(NC));
  for (int64_t c = 0; c < NC; ++c) {
    auto pseudo = us[c] - torch::matmul(ws[c], state);  // Ũ, (B, H, C, dv)
    ys.push_back(torch::matmul(qgs[c], state) + torch::matmul(qks[c], pseudo));
    state = gcs[c] * state + torch::matmul(kds[c].transpose(-1, -2), pseudo);
  }
  auto y = torch::stack(ys, 2).reshape({B, H, NC * C, dv});
  return {pad > 0 ? y.narrow(2, 0, T) : y, state};
}

}  // namespace seqlab::core
