// Chunked (matrix-multiply) form of the gated matrix-state recurrence in LibTorch ops, for any
// device, with autograd backward (spec/mixers.md §3.2.2 scalar/identity gates, §3.2.3 diagonal
// gates).
//
// The sequence is padded to a multiple of C with neutral steps (k = v = q = 0, g = 0; §3.2
// padding rule) and cut into chunks r = 1..C. With seg[r, s] = Σ_{t=s+1}^{r} g_t (stable segsum,
// −∞ for s > r), per chunk:
//
//   Y_intra = A_intra V,  A_intra[r, s] = Σ_d q_{r,d} k_{s,d} exp(seg_d[r, s])
//   Y_inter = (Q ⊙ exp(G)) S_prev,                       G_r = Σ_{t≤r} g_t   (= g_1 + seg[r, 1])
//   S_next  = Diag(exp(G_C)) S_prev + (K ⊙ exp(tail))ᵀ V,  tail_r = Σ_{t=r+1}^{C} g_t = seg[C, r]
//
// Every exponent is a segment sum of log-gates, never a difference of cumulative sums (§3.4), so
// nothing overflows for any gate values ≤ 0. Scalar and identity gates use a (C × C) mask per
// chunk (SSD); diagonal gates use the exact per-channel (C × C × n) form, i.e. §3.2.3 with one
// sub-chunk per chunk (c' = C): memory O(T·C·n) per head, so small chunks (16) suit this class.
// Chunk states are chained by a sequential pass over the T/C chunks.
#include <torch/torch.h>

#include <vector>

#include "seqlab/core/gated_scan.h"
#include "seqlab/core/gated_scan_check.h"

namespace seqlab::core {

namespace {

// (…, C, w) log-gates -> (…, C, C, w) segment sums seg[r, s] = Σ_{t=s+1}^{r} g_t, −∞ for s > r,
// by masked cumulative summation over the row index (§3.2.2 "Computing seg").
torch::Tensor stable_segsum(const torch::Tensor& g) {
  const int64_t C = g.size(-2);
  auto opts = g.options().dtype(torch::kBool);
  auto strict = torch::ones({C, C}, opts).tril(-1).unsqueeze(-1);  // [r', s, 1]: r' > s
  auto causal = torch::ones({C, C}, opts).tril().unsqueeze(-1);    // [r, s, 1]: s ≤ r
  auto sizes = g.sizes().vec();
  sizes.insert(sizes.end() - 1, C);                                  // (…, C, C, w)
  auto X = g.unsqueeze(-2).expand(sizes).masked_fill(~strict, 0.0);  // X[r', s] = g_{r'}
  return X.cumsum(-3).masked_fill(~causal, -INFINITY);
}

torch::Tensor pad_time(const torch::Tensor& x, int64_t pad) {
  if (pad == 0) return x;
  return torch::constant_pad_nd(x, {0, 0, 0, pad}, 0.0);  // pads dim 2 (time) at the end
}

}  // namespace

ScanResult gated_scan_chunked(const torch::Tensor& q, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& g,
                              const torch::Tensor& s0, int64_t chunk) {
  detail::check_gated_scan_inputs(q, k, v, g, s0, "gated_scan_chunked");
  TORCH_CHECK(chunk >= 1, "gated_scan_chunked: chunk must be a positive integer, got ", chunk);
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), n = q.size(3), dv = v.size(3);
  auto S = s0.defined() ? s0 : torch::zeros({B, H, n, dv}, q.options());
  if (T == 0) return {torch::zeros({B, H, 0, dv}, q.options()), S};

  const int64_t C = chunk, Nc = (T + C - 1) / C, pad = Nc * C - T;
  auto gate = g.defined() ? g : torch::zeros({B, H, T, 1}, q.options());
  const int64_t w = gate.size(3);  // 1 (scalar/identity) or n (diagonal)
  auto Q = pad_time(q, pad).reshape({B, H, Nc, C, n});
  auto K = pad_time(k, pad).reshape({B, H, Nc, C, n});
  auto V = pad_time(v, pad).reshape({B, H, Nc, C, dv});
  auto Gl = pad_time(gate, pad).reshape({B, H, Nc, C, w});

  auto seg = stable_segsum(Gl);                                   // (B, H, Nc, C, C, w)
  auto G_incl = Gl.select(3, 0).unsqueeze(3) + seg.select(4, 0);  // G_r = g_1 + seg[r, 1]
  auto tail = seg.select(3, C - 1);                               // Σ_{t=r+1}^{C} g_t
  auto G_total = G_incl.select(3, C - 1);                         // (B, H, Nc, w)

  // Intra-chunk coefficients.
  torch::Tensor A_intra;
  if (w == 1) {
    A_intra = torch::matmul(Q, K.transpose(-1, -2)) * torch::exp(seg.squeeze(-1));
  } else {
    A_intra = (Q.unsqueeze(4) * K.unsqueeze(3) * torch::exp(seg)).sum(-1);
  }
  auto Y = torch::matmul(A_intra, V);  // (B, H, Nc, C, dv)

  // Chunk-local states, then a sequential pass over chunks for the incoming states.
  auto dS = torch::matmul((K * torch::exp(tail)).transpose(-1, -2), V);  // (B, H, Nc, n, dv)
  auto decay = torch::exp(G_total).unsqueeze(-1);                        // (B, H, Nc, w, 1)
  std::vector<torch::Tensor> prev;
  prev.reserve(Nc);
  for (int64_t c = 0; c < Nc; ++c) {
    prev.push_back(S);
    S = decay.select(2, c) * S + dS.select(2, c);
  }
  auto S_prev = torch::stack(prev, 2);  // (B, H, Nc, n, dv)
  Y = Y + torch::matmul(Q * torch::exp(G_incl), S_prev);

  Y = Y.reshape({B, H, Nc * C, dv}).narrow(2, 0, T);
  return {Y, S};
}

}  // namespace seqlab::core
