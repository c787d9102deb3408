// Gated linear recurrence with a matrix state: reference, explicit coefficients, step and the
// dispatcher (spec/mixers.md §1.3, §1.4, §3.2.1). The fused kernel is in gated_scan_fused.cpp and
// the chunked form in gated_scan_chunked.cpp.
#include "seqlab/core/gated_scan.h"

#include <torch/torch.h>

#include <vector>

#include "seqlab/core/gated_scan_check.h"

namespace seqlab::core {

namespace detail {

void check_gated_scan_inputs(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const torch::Tensor& g, const torch::Tensor& s0, const char* who) {
  TORCH_CHECK(q.defined() && k.defined() && v.defined(), who, ": q, k and v must be defined");
  TORCH_CHECK(q.dim() == 4, who, ": q must be (B, H, T, n), got ", q.sizes());
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), n = q.size(3);
  TORCH_CHECK(k.sizes() == q.sizes(), who, ": k must match q (B, H, T, n) = ", q.sizes(), ", got ",
              k.sizes());
  TORCH_CHECK(v.dim() == 4 && v.size(0) == B && v.size(1) == H && v.size(2) == T, who,
              ": v must be (B, H, T, dv) = (", B, ", ", H, ", ", T, ", dv), got ", v.sizes());
  TORCH_CHECK(q.scalar_type() == torch::kFloat32 || q.scalar_type() == torch::kFloat64, who,
              ": float32 or float64 tensors only, got ", q.scalar_type());
  TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(), who,
              ": q, k, v must share one dtype");
  if (g.defined()) {
    TORCH_CHECK(g.dim() == 4 && g.size(0) == B && g.size(1) == H && g.size(2) == T &&
                    (g.size(3) == n || g.size(3) == 1),
                who, ": g must be (B, H, T, n) = (", B, ", ", H, ", ", T, ", ", n,
                ") for diagonal gates or (B, H, T, 1) for scalar gates, got ", g.sizes());
    TORCH_CHECK(g.scalar_type() == q.scalar_type(), who, ": g dtype ", g.scalar_type(),
                " differs from q dtype ", q.scalar_type());
  }
  if (s0.defined()) {
    TORCH_CHECK(s0.dim() == 4 && s0.size(0) == B && s0.size(1) == H && s0.size(2) == n &&
                    s0.size(3) == v.size(3),
                who, ": s0 must be (B, H, n, dv) = (", B, ", ", H, ", ", n, ", ", v.size(3),
                "), got ", s0.sizes());
    TORCH_CHECK(s0.scalar_type() == q.scalar_type(), who, ": s0 dtype ", s0.scalar_type(),
                " differs from q dtype ", q.scalar_type());
  }
}

}  // namespace detail

ScanResult gated_scan_step(const torch::Tensor& q_t, const torch::Tensor& k_t,
                           const torch::Tensor& v_t, const torch::Tensor& g_t,
                           const torch::Tensor& state) {
  // S_t = Diag(exp(g_t)) S_{t−1} + k_t v_tᵀ; y_t = S_tᵀ q_t (§1.4).
  auto S = k_t.unsqueeze(-1) * v_t.unsqueeze(-2);
  S = g_t.defined() ? S + torch::exp(g_t).unsqueeze(-1) * state : S + state;
  auto y = (S * q_t.unsqueeze(-1)).sum(-2);
  return {y, S};
}

ScanResult gated_scan_reference(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& g,
                                const torch::Tensor& s0) {
  detail::check_gated_scan_inputs(q, k, v, g, s0, "gated_scan_reference");
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), n = q.size(3), dv = v.size(3);
  auto S = s0.defined() ? s0 : torch::zeros({B, H, n, dv}, q.options());
  std::vector<torch::Tensor> ys;
  ys.reserve(T);
  for (int64_t t = 0; t < T; ++t) {
    auto g_t = g.defined() ? g.select(2, t) : torch::Tensor();
    auto r = gated_scan_step(q.select(2, t), k.select(2, t), v.select(2, t), g_t, S);
    ys.push_back(r.y);
    S = r.state;
  }
  auto y = T > 0 ? torch::stack(ys, 2) : torch::zeros({B, H, 0, dv}, q.options());
  return {y, S};
}

torch::Tensor gated_scan_coefficients(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& g) {
  detail::check_gated_scan_inputs(q, k, q.narrow(3, 0, 1), g, {}, "gated_scan_coefficients");
  const int64_t T = q.size(2);
  if (!g.defined()) return torch::matmul(q, k.transpose(-1, -2)).tril();
  // seg[i, j, d] = Σ_{t=j+1}^{i} g_{t,d} by masked cumulative summation (§3.2.2 "stable segsum"):
  // X[i', j] = g_{i'} for i' > j, else 0; seg = cumsum over i'; entries with j > i get −∞.
  auto strict = torch::ones({T, T}, q.options().dtype(torch::kBool)).tril(-1);  // [i', j]: i' > j
  auto X = g.unsqueeze(3).expand({g.size(0), g.size(1), T, T, g.size(3)});      // [b,h,i',j,d]
  X = X.masked_fill(~strict.unsqueeze(-1), 0.0);
  auto seg = X.cumsum(2);
  auto causal = torch::ones({T, T}, q.options().dtype(torch::kBool)).tril();
  auto decay = torch::exp(seg.masked_fill(~causal.unsqueeze(-1), -INFINITY));  // (B,H,T,T,n|1)
  if (g.size(3) == 1) return torch::matmul(q, k.transpose(-1, -2)) * decay.squeeze(-1);
  return (q.unsqueeze(3) * k.unsqueeze(2) * decay).sum(-1);
}

ScanResult gated_scan(ScanPath path, const torch::Tensor& q, const torch::Tensor& k,
                      const torch::Tensor& v, const torch::Tensor& g, const torch::Tensor& s0,
                      int64_t chunk) {
  switch (path) {
    case ScanPath::kFused:
      if (q.device().is_cpu()) return gated_scan_fused(q, k, v, g, s0);
      return gated_scan_chunked(q, k, v, g, s0, chunk);
    case ScanPath::kChunked:
      return gated_scan_chunked(q, k, v, g, s0, chunk);
    case ScanPath::kReference:
      return gated_scan_reference(q, k, v, g, s0);
  }
  TORCH_CHECK(false, "gated_scan: unknown path");
}

}  // namespace seqlab::core
