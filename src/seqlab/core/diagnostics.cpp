#include "seqlab/core/diagnostics.h"

#include <torch/torch.h>

#include <cmath>

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
void fill(Diagnostics& d, const torch::Tensor& rho, const torch::Tensor& norm2,
          const torch::Tensor& moduli) {
  d.steps = rho.numel();
  d.spectral_radius = summarize(rho);
  d.norm2 = summarize(norm2);
  auto m = moduli.detach().to(torch::kFloat64).reshape({-1});
  auto finite = m < 1.0 - 1e-12;  // |λ| = 1 up to rounding: infinite horizon
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
      fill(d, one, one, one);
      d.steps = 0;  // no per-step data; ρ = ‖A‖ = 1 everywhere
      break;
    }
    case TransitionKind::kScalar:
    case TransitionKind::kDiagonal: {
      // Normal: eigenvalues a_{t,d} = exp(g_{t,d}) and ‖A_t‖₂ = ρ_t = max_d a_{t,d} (§4.1).
      auto a = torch::exp(tr.log_gate.detach().to(torch::kFloat64));
      auto rho = std::get<0>(a.abs().max(-1));
      fill(d, rho, rho, a.abs());
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
      fill(d, rho, rho, torch::stack({alpha, special}, -1));
      break;
    }
    case TransitionKind::kDense: {
      auto A = tr.dense.detach().to(torch::kFloat64);
      auto moduli = torch::linalg_eigvals(A).abs();
      auto rho = std::get<0>(moduli.max(-1));
      auto norm2 = std::get<0>(torch::linalg_svdvals(A).max(-1));
      fill(d, rho, norm2, moduli);
      break;
    }
    case TransitionKind::kComplexDiagonal: {
      auto lam = tr.lambda.detach().to(torch::kFloat64);
      auto moduli = (lam.select(-1, 0).pow(2) + lam.select(-1, 1).pow(2)).sqrt();
      auto rho = std::get<0>(moduli.max(-1));
      fill(d, rho, rho, moduli);
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

}  // namespace seqlab::core
