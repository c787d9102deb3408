#include "seqlab/core/diagnostics.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

namespace seqlab::core {

const char* transition_kind_name(TransitionKind k) {
  switch (k) {
    case TransitionKind::kIdentity:
      return "identity";
    case TransitionKind::kScalar:
      return "scalar";
    case TransitionKind::kDiagonal:
      return "diagonal";
    case TransitionKind::kDeltaRule:
      return "identity minus rank 1";
    case TransitionKind::kDense:
      return "dense";
    case TransitionKind::kComplexDiagonal:
      return "complex diagonal";
  }
  return "unknown";
}

Summary summarize(const torch::Tensor& values) {
  auto v = values.detach().to(torch::kFloat64).reshape({-1});
  v = v.masked_select(torch::isfinite(v));
  if (v.numel() == 0) return {};
  auto sorted = std::get<0>(v.sort());
  return {sorted[0].item<double>(), sorted[(sorted.numel() - 1) / 2].item<double>(),
          sorted[-1].item<double>()};
}

namespace {

constexpr double kTol = 1e-6;

// Fills the fields that follow from per-step ρ, ‖A‖₂ and the moduli of all eigenvalues.
// `source` is the dtype the transition came in (its rounding decides what counts as |λ| = 1).
void fill(Diagnostics& d, const torch::Tensor& rho, const torch::Tensor& norm2,
          const torch::Tensor& moduli, torch::ScalarType source) {
  d.steps = rho.numel();
  d.spectral_radius = summarize(rho);
  d.norm2 = summarize(norm2);
  // |λ| = 1 up to the rounding of the dtype the eigenvalues were computed in (float32 gives
  // 1 − 6e-8 for a unit-modulus e^{iθ}) counts as an infinite horizon, not as 1/(1 − |λ|) ≈ 1.7e7.
  const double unit_tol = 16 * (source == torch::kFloat64 ? 2.220446e-16 : 1.192093e-7);
  auto m = moduli.detach().to(torch::kFloat64).reshape({-1});
  auto finite = m < 1.0 - unit_tol;
  d.infinite_horizon_fraction =
      m.numel() ? 1.0 - finite.to(torch::kFloat64).mean().item<double>() : 0.0;
  d.memory_horizon = summarize(1.0 / (1.0 - m.masked_select(finite)));
  auto expansive = rho > 1 + kTol;
  d.expansive_steps = expansive.sum().item<int64_t>();
  d.nonnormal_transient_steps = ((norm2 > 1 + kTol) & ~expansive).sum().item<int64_t>();
}

}  // namespace

Diagnostics diagnose(const Transition& tr) {
  torch::NoGradGuard no_grad;
  Diagnostics d;
  d.kind = transition_kind_name(tr.kind);
  switch (tr.kind) {
    case TransitionKind::kIdentity: {
      auto one = torch::ones({1}, torch::kFloat64);
      fill(d, one, one, one, torch::kFloat64);
      d.steps = 0;  // no per-step data; ρ = ‖A‖ = 1 everywhere
      break;
    }
    case TransitionKind::kScalar:
    case TransitionKind::kDiagonal: {
      // Normal: eigenvalues a_{t,d} = exp(g_{t,d}) and ‖A_t‖₂ = ρ_t = max_d a_{t,d} (§4.1).
      auto a = torch::exp(tr.log_gate.detach().to(torch::kFloat64));
      auto rho = std::get<0>(a.abs().max(-1));
      fill(d, rho, rho, a.abs(), tr.log_gate.scalar_type());
      d.saturated_high_fraction = (a > 1 - 1e-4).to(torch::kFloat64).mean().item<double>();
      d.saturated_low_fraction = (a < 1e-4).to(torch::kFloat64).mean().item<double>();
      break;
    }
    case TransitionKind::kDeltaRule: {
      // α(I − βkkᵀ) is symmetric: eigenvalues α (n − 1 times) and α(1 − β‖k‖²) (§4.1).
      auto k2 = tr.keys.detach().to(torch::kFloat64).pow(2).sum(-1);
      auto alpha = tr.log_alpha.defined() ? torch::exp(tr.log_alpha.detach().to(torch::kFloat64))
                                          : torch::ones_like(k2);
      auto special = (alpha * (1 - tr.beta.detach().to(torch::kFloat64) * k2)).abs();
      auto rho = torch::maximum(alpha, special);
      fill(d, rho, rho, torch::stack({alpha, special}, -1), tr.keys.scalar_type());
      break;
    }
    case TransitionKind::kDense: {
      auto A = tr.dense.detach().to(torch::kFloat64);
      auto moduli = torch::linalg_eigvals(A).abs();
      auto rho = std::get<0>(moduli.max(-1));
      auto norm2 = std::get<0>(torch::linalg_svdvals(A).max(-1));
      fill(d, rho, norm2, moduli, tr.dense.scalar_type());
      break;
    }
    case TransitionKind::kComplexDiagonal: {
      auto lam = tr.lambda.detach().to(torch::kFloat64);
      auto moduli = (lam.select(-1, 0).pow(2) + lam.select(-1, 1).pow(2)).sqrt();
      auto rho = std::get<0>(moduli.max(-1));
      fill(d, rho, rho, moduli, tr.lambda.scalar_type());
      break;
    }
  }
  return d;
}

CoefficientStats coefficient_stats(const torch::Tensor& M) {
  torch::NoGradGuard no_grad;
  auto m = M.detach().to(torch::kFloat64);
  CoefficientStats s;
  auto mass = m.sum(-1);
  auto energy = m.pow(2).sum(-1);
  auto l1 = m.abs().sum(-1);
  s.rows = mass.numel();
  s.mass = summarize(mass);
  s.variance_gain = summarize(energy);
  s.effective_sources = summarize((l1.pow(2) / energy).masked_select(energy > 0));
  s.variance_gain_flags = ((energy > 10) | (energy < 1e-3)).sum().item<int64_t>();
  return s;
}

LogitScale logit_scale(const torch::Tensor& logits, const torch::Tensor& q, const torch::Tensor& k,
                       double b) {
  torch::NoGradGuard no_grad;
  LogitScale s;
  auto l = logits.detach().to(torch::kFloat64).reshape({-1});
  l = l.masked_select(torch::isfinite(l));
  s.entries = l.numel();
  if (s.entries > 0) s.std = l.std(/*unbiased=*/false).item<double>();
  if (q.numel() > 0 && k.numel() > 0) {
    const double vq = q.detach().to(torch::kFloat64).var(/*unbiased=*/false).item<double>();
    const double vk = k.detach().to(torch::kFloat64).var(/*unbiased=*/false).item<double>();
    s.predicted_std = std::abs(b) * std::sqrt(double(q.size(-1)) * vq * vk);
  }
  return s;
}

NormalizerStats normalizer_stats(const Normalizer& n, double tau_eta) {
  // §4.2 "normalizer minima" and "DSF eigenvalue" (Λ_i = η_{i−1}/η_i; bins as in the companion
  // eigenvalue paper, arXiv:2510.09379).
  torch::NoGradGuard no_grad;
  NormalizerStats s;
  auto eta = n.eta.detach().to(torch::kFloat64);
  TORCH_CHECK(eta.dim() == 3, "normalizer_stats: expected eta of shape (B, S, T), got ",
              eta.sizes());
  s.rows = eta.numel();
  if (s.rows == 0) return s;
  if (n.log_eta.defined()) {  // exp is monotone: the summary of log η maps to that of η, and an
                              // η that overflows is reported as inf rather than dropped
    const auto l = summarize(n.log_eta);
    s.eta = {std::exp(l.min), std::exp(l.median), std::exp(l.max)};
  } else {
    s.eta = summarize(eta);
  }
  s.small_fraction = (eta < tau_eta).to(torch::kFloat64).mean().item<double>();
  s.tiny = s.eta.min < 1e-6;
  if (n.clamp_active.defined()) {
    s.has_clamp = true;
    s.clamp_active_fraction = n.clamp_active.to(torch::kFloat64).mean().item<double>();
  }
  const int64_t T = eta.size(-1);
  if (T < 2) return s;
  torch::Tensor lambda;
  if (n.log_eta.defined()) {  // exp(log η_{i−1} − log η_i): no overflow for softmax's LSE
    auto le = n.log_eta.detach().to(torch::kFloat64);
    lambda = torch::exp(le.narrow(-1, 0, T - 1) - le.narrow(-1, 1, T - 1));
  } else {
    lambda = eta.narrow(-1, 0, T - 1) / eta.narrow(-1, 1, T - 1);
  }
  s.eigen_steps = lambda.numel();
  s.dsf_eigenvalue = summarize(lambda);
  const auto t = NormalizerStats::thresholds();
  double lo = -std::numeric_limits<double>::infinity();
  for (size_t k = 0; k <= t.size(); ++k) {
    const double hi = k < t.size() ? t[k] : std::numeric_limits<double>::infinity();
    s.eigen_bins[k] = ((lambda > lo) & (lambda <= hi)).sum().item<int64_t>();
    lo = hi;
  }
  s.eigen_above_one = (lambda > 1.0).sum().item<int64_t>();
  return s;
}

}  // namespace seqlab::core
