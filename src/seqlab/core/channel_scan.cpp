// Channel-wise real-diagonal scans: input checks, the per-step reference paths, the explicit
// coefficients and the path dispatchers. The fused kernels are in channel_scan_fused.cpp. See
// channel_scan.h for the recurrences and shapes.
#include "seqlab/core/channel_scan.h"

#include <torch/torch.h>

#include <vector>

#include "seqlab/util/error.h"

namespace seqlab::core {

// ---- input checks ------------------------------------------------------------------------------
namespace detail {
namespace {

void check_same_dtype_device(const char* fn, const char* name, const torch::Tensor& t,
                             const torch::Tensor& like) {
  TORCH_CHECK(t.scalar_type() == like.scalar_type(), fn, ": ", name, " dtype ", t.scalar_type(),
              " differs from ", like.scalar_type());
  TORCH_CHECK(t.device() == like.device(), fn, ": ", name, " is on ", t.device(), ", expected ",
              like.device());
}

}  // namespace

void check_selective_scan_inputs(const char* fn, const torch::Tensor& x, const torch::Tensor& delta,
                                 const torch::Tensor& A, const torch::Tensor& Bm,
                                 const torch::Tensor& Cm, const torch::Tensor& h0) {
  TORCH_CHECK(x.defined() && delta.defined() && A.defined() && Bm.defined() && Cm.defined(), fn,
              ": x, delta, A, Bm and Cm must all be defined");
  TORCH_CHECK(x.dim() == 3, fn, ": x must be (B, T, D), got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == torch::kFloat32 || x.scalar_type() == torch::kFloat64, fn,
              ": float32 or float64 expected, got ", x.scalar_type());
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2);
  TORCH_CHECK(delta.sizes() == x.sizes(), fn, ": delta must match x (B, T, D) = ", x.sizes(),
              ", got ", delta.sizes());
  TORCH_CHECK(A.dim() == 2 && A.size(0) == D, fn, ": A must be (D, N) with D = ", D, ", got ",
              A.sizes());
  const int64_t N = A.size(1);
  const std::vector<int64_t> bt_n{B, T, N};
  TORCH_CHECK(Bm.sizes() == bt_n, fn, ": Bm must be (B, T, N) = ", bt_n, ", got ", Bm.sizes());
  TORCH_CHECK(Cm.sizes() == bt_n, fn, ": Cm must be (B, T, N) = ", bt_n, ", got ", Cm.sizes());
  check_same_dtype_device(fn, "delta", delta, x);
  check_same_dtype_device(fn, "A", A, x);
  check_same_dtype_device(fn, "Bm", Bm, x);
  check_same_dtype_device(fn, "Cm", Cm, x);
  if (h0.defined()) {
    const std::vector<int64_t> bdn{B, D, N};
    TORCH_CHECK(h0.sizes() == bdn, fn, ": h0 must be (B, D, N) = ", bdn, ", got ", h0.sizes());
    check_same_dtype_device(fn, "h0", h0, x);
  }
}

void check_linear_recurrence_inputs(const char* fn, const torch::Tensor& log_a,
                                    const torch::Tensor& u, const torch::Tensor& h0) {
  TORCH_CHECK(log_a.defined() && u.defined(), fn, ": log_a and u must be defined");
  TORCH_CHECK(log_a.dim() == 3, fn, ": log_a must be (B, T, D), got ", log_a.sizes());
  TORCH_CHECK(log_a.scalar_type() == torch::kFloat32 || log_a.scalar_type() == torch::kFloat64, fn,
              ": float32 or float64 expected, got ", log_a.scalar_type());
  TORCH_CHECK(u.sizes() == log_a.sizes(), fn, ": u must match log_a (B, T, D) = ", log_a.sizes(),
              ", got ", u.sizes());
  check_same_dtype_device(fn, "u", u, log_a);
  if (h0.defined()) {
    const std::vector<int64_t> bd{log_a.size(0), log_a.size(2)};
    TORCH_CHECK(h0.sizes() == bd, fn, ": h0 must be (B, D) = ", bd, ", got ", h0.sizes());
    check_same_dtype_device(fn, "h0", h0, log_a);
  }
}

}  // namespace detail

// ---- reference paths (§3.2.1, one step at a time) ----------------------------------------------

std::pair<torch::Tensor, torch::Tensor> selective_scan_reference(
    const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& h0) {
  detail::check_selective_scan_inputs("selective_scan_reference", x, delta, A, Bm, Cm, h0);
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2), N = A.size(1);
  auto h = h0.defined() ? h0 : torch::zeros({B, D, N}, x.options());
  // unbind once: its backward is one stack, where a select per step would cost O(T²) (style.md).
  const auto xs = x.unbind(1), ds = delta.unbind(1), bs = Bm.unbind(1), cs = Cm.unbind(1);
  std::vector<torch::Tensor> ys;
  ys.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    // §2.2.10 step 6: ZOH for A, Euler for B: h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t x_t B_t.
    const auto decay = torch::exp(ds[t].unsqueeze(-1) * A);                   // (B, D, N)
    const auto impulse = (ds[t] * xs[t]).unsqueeze(-1) * bs[t].unsqueeze(1);  // (B, D, N)
    h = decay * h + impulse;
    ys.push_back((h * cs[t].unsqueeze(1)).sum(-1));  // y_t[c] = Σ_m C_t[m] h_t[c, m]
  }
  auto y = T > 0 ? torch::stack(ys, 1) : torch::zeros({B, 0, D}, x.options());
  return {y, h};
}

std::pair<torch::Tensor, torch::Tensor> linear_recurrence_reference(const torch::Tensor& log_a,
                                                                    const torch::Tensor& u,
                                                                    const torch::Tensor& h0) {
  detail::check_linear_recurrence_inputs("linear_recurrence_reference", log_a, u, h0);
  const int64_t B = log_a.size(0), T = log_a.size(1), D = log_a.size(2);
  auto h = h0.defined() ? h0 : torch::zeros({B, D}, log_a.options());
  const auto las = log_a.unbind(1), us = u.unbind(1);
  std::vector<torch::Tensor> hs;
  hs.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    h = torch::exp(las[t]) * h + us[t];  // h_t = a_t ⊙ h_{t−1} + u_t
    hs.push_back(h);
  }
  auto all = T > 0 ? torch::stack(hs, 1) : torch::zeros({B, 0, D}, log_a.options());
  return {all, h};
}

// ---- explicit coefficients (§1.3) --------------------------------------------------------------
namespace {

// (T, T) boolean masks: j ≤ i (causal) and j < i (strict).
torch::Tensor lower_mask(int64_t T, int64_t diagonal, const torch::Device& device) {
  return torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(device))
      .tril(diagonal);
}

// S[..., i, j] = Σ_{t=j+1}^{i} x[..., t] for j ≤ i, and 0 for j > i: (..., T) -> (..., T, T).
// Every entry is a sum of its own terms (the stable segsum of §3.2.2), never a difference of
// cumulative sums, so no exponent is formed by cancellation (§3.4).
torch::Tensor segment_sums(const torch::Tensor& x) {
  const int64_t T = x.size(-1);
  // terms[..., t, j] = x_t for t > j, else 0; a cumulative sum over t up to i sums t ∈ (j, i].
  const auto terms =
      torch::where(lower_mask(T, -1, x.device()), x.unsqueeze(-1), torch::zeros({}, x.options()));
  return terms.cumsum(-2);
}

}  // namespace

torch::Tensor selective_scan_coefficients(const torch::Tensor& delta, const torch::Tensor& A,
                                          const torch::Tensor& Bm, const torch::Tensor& Cm) {
  detail::check_selective_scan_inputs("selective_scan_coefficients", delta, delta, A, Bm, Cm, {});
  const int64_t T = delta.size(1), D = delta.size(2), N = A.size(1);
  const auto dt = delta.transpose(1, 2);  // (B, D, T)
  // Exponent Σ_{t=j+1}^{i} Δ_t[c] A[c, m] = A[c, m] · segsum(Δ[c])[i, j]: (B, D, T, T, N).
  const auto exponent = segment_sums(dt).unsqueeze(-1) * A.view({1, D, 1, 1, N});
  const auto causal = lower_mask(T, 0, delta.device()).view({1, 1, T, T, 1});
  const auto decay = torch::where(causal, torch::exp(exponent), torch::zeros({}, A.options()));
  // q_i k_j = C_i[m] B_j[m] per state m: (B, 1, T, T, N).
  const auto cb = (Cm.unsqueeze(2) * Bm.unsqueeze(1)).unsqueeze(1);
  // M[b, c, i, j] = Σ_m C_i[m] exp(·) Δ_j[c] B_j[m]  (b_j = Δ_j, k_j = B_j; §2.2.10 Framework).
  return (decay * cb).sum(-1) * dt.unsqueeze(2);
}

torch::Tensor linear_recurrence_coefficients(const torch::Tensor& log_a) {
  detail::check_linear_recurrence_inputs("linear_recurrence_coefficients", log_a, log_a, {});
  const int64_t T = log_a.size(1);
  const auto exponent = segment_sums(log_a.transpose(1, 2));  // (B, D, T, T)
  const auto causal = lower_mask(T, 0, log_a.device());
  return torch::where(causal, torch::exp(exponent), torch::zeros({}, log_a.options()));
}

// ---- dispatchers -------------------------------------------------------------------------------
namespace {

[[noreturn]] void no_chunked_path(const char* fn) {
  throw UserError(std::string(fn) +
                  ": path 'chunked' is not offered for the channel-wise scans (valid: fused, "
                  "reference)");
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> selective_scan(
    ScanPath path, const torch::Tensor& x, const torch::Tensor& delta, const torch::Tensor& A,
    const torch::Tensor& Bm, const torch::Tensor& Cm, const torch::Tensor& h0) {
  switch (path) {
    case ScanPath::kFused:
      if (x.device().is_cpu()) return selective_scan_fused(x, delta, A, Bm, Cm, h0);
      return selective_scan_reference(x, delta, A, Bm, Cm, h0);
    case ScanPath::kReference:
      return selective_scan_reference(x, delta, A, Bm, Cm, h0);
    case ScanPath::kChunked:
      break;
  }
  no_chunked_path("selective_scan");
}

std::pair<torch::Tensor, torch::Tensor> linear_recurrence(ScanPath path, const torch::Tensor& log_a,
                                                          const torch::Tensor& u,
                                                          const torch::Tensor& h0) {
  switch (path) {
    case ScanPath::kFused:
      if (log_a.device().is_cpu()) return linear_recurrence_fused(log_a, u, h0);
      return linear_recurrence_reference(log_a, u, h0);
    case ScanPath::kReference:
      return linear_recurrence_reference(log_a, u, h0);
    case ScanPath::kChunked:
      break;
  }
  no_chunked_path("linear_recurrence");
}

}  // namespace seqlab::core
