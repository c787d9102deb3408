// Delta-rule scan: input checks, the per-step reference (§3.2.1 in LibTorch ops), the step API
// (§6.6), the explicit coefficients (§1.2) and the path dispatch. The fused kernel lives in
// delta_scan_fused.cpp, the WY/UT chunked form in delta_scan_chunked.cpp. See delta_scan.h.
#include "seqlab/core/delta_scan.h"

#include <torch/torch.h>

#include <vector>

namespace seqlab::core {
namespace {

bool is_float_dtype(const torch::Tensor& t) {
  return t.scalar_type() == torch::kFloat32 || t.scalar_type() == torch::kFloat64;
}

// Same dtype and device as q, for one named argument.
void check_like_q(const char* who, const char* name, const torch::Tensor& t,
                  const torch::Tensor& q) {
  TORCH_CHECK(t.scalar_type() == q.scalar_type(), who, ": ", name, " dtype ", t.scalar_type(),
              " differs from q dtype ", q.scalar_type());
  TORCH_CHECK(t.device() == q.device(), who, ": ", name, " is on ", t.device(), ", q on ",
              q.device());
}

// One step of §2.2.17/§2.2.18 on batched tensors, without checks (shared by the reference loop
// and the step API so that both give the same bits):
//   p = S_{t−1}ᵀ k,   S_t = a S_{t−1} + β k (v − a p)ᵀ,   y = S_tᵀ q
// which is S_t = a (I − β k kᵀ) S_{t−1} + β k vᵀ. The mat-vecs are products and sums over the key
// axis: LibTorch's bmm runs one parallel region per call for small matrices, which dominated the
// loop's cost on a loaded machine.
ScanResult step_unchecked(const torch::Tensor& q_t, const torch::Tensor& k_t,
                          const torch::Tensor& v_t, const torch::Tensor& beta_t,
                          const torch::Tensor& log_a_t, const torch::Tensor& state) {
  auto p = (k_t.unsqueeze(-1) * state).sum(-2);  // (B, H, dv)
  const auto b = beta_t.unsqueeze(-1);           // (B, H, 1)
  torch::Tensor next;
  if (log_a_t.defined()) {
    const auto a = torch::exp(log_a_t).unsqueeze(-1);  // (B, H, 1)
    next = a.unsqueeze(-1) * state + k_t.unsqueeze(-1) * (b * (v_t - a * p)).unsqueeze(-2);
  } else {
    next = state + k_t.unsqueeze(-1) * (b * (v_t - p)).unsqueeze(-2);
  }
  auto y = (q_t.unsqueeze(-1) * next).sum(-2);  // (B, H, dv)
  return {y, next};
}

}  // namespace

void delta_scan_check_inputs(const char* who, const torch::Tensor& q, const torch::Tensor& k,
                             const torch::Tensor& v, const torch::Tensor& beta,
                             const torch::Tensor& log_a, const torch::Tensor& s0) {
  TORCH_CHECK(q.defined() && k.defined() && v.defined() && beta.defined(), who,
              ": q, k, v and beta must be defined");
  TORCH_CHECK(q.dim() == 4, who, ": q must be (B, H, T, n), got ", q.sizes());
  TORCH_CHECK(is_float_dtype(q), who, ": q must be float32 or float64, got ", q.scalar_type());
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), n = q.size(3);
  TORCH_CHECK(k.sizes() == q.sizes(), who, ": k must be (B, H, T, n) = (", B, ", ", H, ", ", T,
              ", ", n, ") like q, got ", k.sizes());
  TORCH_CHECK(v.dim() == 4 && v.size(0) == B && v.size(1) == H && v.size(2) == T, who,
              ": v must be (B, H, T, dv) with (B, H, T) = (", B, ", ", H, ", ", T, ") from q, got ",
              v.sizes());
  const int64_t dv = v.size(3);
  TORCH_CHECK(beta.dim() == 3 && beta.size(0) == B && beta.size(1) == H && beta.size(2) == T, who,
              ": beta must be (B, H, T) = (", B, ", ", H, ", ", T, "), got ", beta.sizes());
  check_like_q(who, "k", k, q);
  check_like_q(who, "v", v, q);
  check_like_q(who, "beta", beta, q);
  if (log_a.defined()) {
    TORCH_CHECK(log_a.sizes() == beta.sizes(), who, ": log_a must be (B, H, T) = (", B, ", ", H,
                ", ", T, "), got ", log_a.sizes());
    check_like_q(who, "log_a", log_a, q);
  }
  if (s0.defined()) {
    TORCH_CHECK(
        s0.dim() == 4 && s0.size(0) == B && s0.size(1) == H && s0.size(2) == n && s0.size(3) == dv,
        who, ": s0 must be (B, H, n, dv) = (", B, ", ", H, ", ", n, ", ", dv, "), got ",
        s0.sizes());
    check_like_q(who, "s0", s0, q);
  }
}

// ---- reference (§3.2.1) ------------------------------------------------------------------------
// The per-step views come from one unbind per input, so the backward builds no full-size zero
// tensor per step (design/style.md "Slicing inside loops").
ScanResult delta_scan_reference(const torch::Tensor& q, const torch::Tensor& k,
                                const torch::Tensor& v, const torch::Tensor& beta,
                                const torch::Tensor& log_a, const torch::Tensor& s0) {
  delta_scan_check_inputs("delta_scan_reference", q, k, v, beta, log_a, s0);
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), n = q.size(3), dv = v.size(3);
  auto state = s0.defined() ? s0 : torch::zeros({B, H, n, dv}, q.options());
  if (T == 0) return {torch::zeros({B, H, 0, dv}, q.options()), state};
  const auto qs = q.unbind(2), ks = k.unbind(2), vs = v.unbind(2), bs = beta.unbind(2);
  const auto gs = log_a.defined() ? log_a.unbind(2) : std::vector<torch::Tensor>(T);
  std::vector<torch::Tensor> ys;
  ys.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    auto r = step_unchecked(qs[t], ks[t], vs[t], bs[t], gs[t], state);
    ys.push_back(r.y);
    state = r.state;
  }
  return {torch::stack(ys, 2), state};
}

// ---- step API (§6.6) ---------------------------------------------------------------------------
ScanResult delta_scan_step(const torch::Tensor& q_t, const torch::Tensor& k_t,
                           const torch::Tensor& v_t, const torch::Tensor& beta_t,
                           const torch::Tensor& log_a_t, const torch::Tensor& state) {
  TORCH_CHECK(q_t.defined() && q_t.dim() == 3, "delta_scan_step: q_t must be (B, H, n), got ",
              q_t.defined() ? q_t.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(state.defined() && state.dim() == 4,
              "delta_scan_step: state must be (B, H, n, dv), got ",
              state.defined() ? state.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(v_t.defined() && v_t.dim() == 3, "delta_scan_step: v_t must be (B, H, dv), got ",
              v_t.defined() ? v_t.sizes() : torch::IntArrayRef{});
  const int64_t B = q_t.size(0), H = q_t.size(1), n = q_t.size(2), dv = v_t.size(2);
  TORCH_CHECK(state.size(0) == B && state.size(1) == H && state.size(2) == n && state.size(3) == dv,
              "delta_scan_step: state must be (B, H, n, dv) = (", B, ", ", H, ", ", n, ", ", dv,
              ") from q_t and v_t, got ", state.sizes());
  // The checks of the sequence form on length-1 views name the other expected shapes.
  auto as_sequence = [](const torch::Tensor& t) { return t.defined() ? t.unsqueeze(2) : t; };
  delta_scan_check_inputs("delta_scan_step", as_sequence(q_t), as_sequence(k_t), as_sequence(v_t),
                          as_sequence(beta_t), as_sequence(log_a_t), state);
  return step_unchecked(q_t, k_t, v_t, beta_t, log_a_t, state);
}

// ---- explicit coefficients (§1.2, §1.3) --------------------------------------------------------
// Row i of M is the output at time i of the recurrence run on the identity values V = I_T
// (dv = T): column j of S then holds the propagated impulse Φ(i, j) β_j k_j (zero until j is
// injected), and y_i = S_iᵀ q_i reads q_iᵀ Φ(i, j) β_j k_j for every j at once.
torch::Tensor delta_scan_coefficients(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& beta, const torch::Tensor& log_a) {
  TORCH_CHECK(q.defined() && q.dim() == 4, "delta_scan_coefficients: q must be (B, H, T, n), got ",
              q.defined() ? q.sizes() : torch::IntArrayRef{});
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2);
  const auto identity = torch::eye(T, q.options()).expand({B, H, T, T});
  return delta_scan_reference(q, k, identity, beta, log_a).y;
}

// ---- dispatch
// ------------------------------------------------------------------------------------
ScanResult delta_scan(ScanPath path, const torch::Tensor& q, const torch::Tensor& k,
                      const torch::Tensor& v, const torch::Tensor& beta, const torch::Tensor& log_a,
                      const torch::Tensor& s0, int64_t chunk) {
  switch (path) {
    case ScanPath::kFused:
      if (q.defined() && q.device().is_cpu()) return delta_scan_fused(q, k, v, beta, log_a, s0);
      return delta_scan_chunked(q, k, v, beta, log_a, s0, chunk);
    case ScanPath::kChunked:
      return delta_scan_chunked(q, k, v, beta, log_a, s0, chunk);
    case ScanPath::kReference:
      return delta_scan_reference(q, k, v, beta, log_a, s0);
  }
  TORCH_CHECK(false, "delta_scan: unknown path");
}

}  // namespace seqlab::core
