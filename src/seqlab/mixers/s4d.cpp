// S4D and DSS-EXP layers (spec/mixers.md §2.2.7). See s4d.h.
#include "seqlab/mixers/s4d.h"

#include <torch/torch.h>

#include <cmath>

#include "seqlab/util/error.h"

namespace seqlab::mixers {

namespace {

void check_dt(const char* name, double dt_min, double dt_max) {
  if (!(dt_min > 0 && dt_max >= dt_min))
    throw UserError(std::string(name) + ": need 0 < dt_min <= dt_max, got dt_min = " +
                    std::to_string(dt_min) + ", dt_max = " + std::to_string(dt_max));
}

// log_dt ~ U[log dt_min, log dt_max], one per channel.
torch::Tensor init_log_dt(int64_t H, double dt_min, double dt_max) {
  const double lo = std::log(dt_min), hi = std::log(dt_max);
  return (lo + torch::rand({H}, torch::kFloat64) * (hi - lo)).to(torch::kFloat32);
}

// Complex tensor from a real-part tensor and an optional imaginary part (zeros if undefined).
torch::Tensor make_complex(const torch::Tensor& re, const torch::Tensor& im) {
  return torch::complex(re, im.defined() ? im : torch::zeros_like(re));
}

}  // namespace

// ---- S4D ---------------------------------------------------------------------------------------
S4DImpl::S4DImpl(const S4DOptions& options) : options_(options) {
  const char* name = "s4d";
  detail::check_lti_layer_options(name, options_);
  const auto& init = options_.init;
  if (init != "lin" && init != "inv" && init != "real")
    throw UserError("s4d: init '" + init + "' is not valid (valid: lin, inv, real)");
  if (options_.discretization != "zoh" && options_.discretization != "bilinear")
    throw UserError("s4d: discretization '" + options_.discretization +
                    "' is not valid (valid: zoh, bilinear)");
  check_dt(name, options_.dt_min, options_.dt_max);
  const int64_t N = options_.state_size, H = options_.d_model;
  const bool real = init == "real";
  if (!real && N % 2 != 0)
    throw UserError("s4d: state_size must be even for init '" + init +
                    "' (N/2 complex modes), got " + std::to_string(N));
  modes_ = real ? N : N / 2;
  init_layer(name, options_);
  auto m = torch::arange(modes_, torch::kFloat64);
  // S4D-Lin / S4D-Inv: Re A = −1/2; S4D-Real: A = −(m + 1).
  auto re = real ? m + 1 : torch::full({modes_}, 0.5, torch::kFloat64);
  Lambda_log_neg_re =
      register_parameter("Lambda_log_neg_re", torch::log(re).repeat({H, 1}).to(torch::kFloat32));
  if (!real) {
    auto im = init == "lin"
                  ? M_PI * m
                  : (static_cast<double>(N) / M_PI) * (static_cast<double>(N) / (2 * m + 1) - 1);
    Lambda_im = register_parameter("Lambda_im", im.repeat({H, 1}).to(torch::kFloat32));
  }
  log_dt = register_parameter("log_dt", init_log_dt(H, options_.dt_min, options_.dt_max));
  // C: complex normal with unit total variance (re, im ~ N(0, 1/2)); real modes: N(0, 1).
  C = register_parameter("C",
                         real ? torch::randn({kernel_channels(), H, modes_})
                              : torch::randn({kernel_channels(), H, modes_, 2}) * std::sqrt(0.5));
}

std::vector<std::string> S4DImpl::dynamics_parameters() const {
  if (Lambda_im.defined()) return {"Lambda_log_neg_re", "Lambda_im", "log_dt"};
  return {"Lambda_log_neg_re", "log_dt"};
}

LTILayer::Modes S4DImpl::modes() {
  // Discretization on (H, M) with autograd (§3.3.5 "S4D and DSS").
  auto A = make_complex(-torch::exp(Lambda_log_neg_re), Lambda_im);  // (H, M)
  auto dt = torch::exp(log_dt).unsqueeze(-1);                        // (H, 1)
  auto dtA = dt * A;
  torch::Tensor s, Bbar;
  if (options_.discretization == "zoh") {
    s = dtA;                             // log Ā = ΔA
    Bbar = (torch::exp(dtA) - 1.0) / A;  // (e^{ΔA} − 1) A^{−1}
  } else {
    auto den = 1.0 - 0.5 * dtA;
    s = torch::log((1.0 + 0.5 * dtA) / den);  // log Ā, Ā = (1 + ΔA/2)/(1 − ΔA/2)
    Bbar = dt / den;                          // ΔB/(1 − ΔA/2)
  }
  const double factor = options_.init == "real" ? 1.0 : 2.0;  // 2·Re: implicit conjugates
  auto Cc = torch::view_as_complex(detail::as_pairs(C, options_.init == "real").contiguous());
  auto q = factor * Cc * Bbar;  // (C', H, M)
  return {torch::view_as_real(s).contiguous(), torch::view_as_real(q).contiguous()};
}

torch::Tensor S4DImpl::kernel(int64_t length) {
  auto m = modes();
  return core::vandermonde_kernel(m.s, m.q, length);
}

std::shared_ptr<Mixer> make_s4d(const ZooOptions& o) {
  S4DOptions d;
  detail::apply_lti_zoo_options(o, d);
  detail::apply_dt_overrides(o, d.dt_min, d.dt_max);
  d.init = o.s4d_init;
  d.discretization = o.discretization;
  return std::make_shared<S4DImpl>(d);
}

// ---- DSS-EXP -----------------------------------------------------------------------------------
DSSImpl::DSSImpl(const DSSOptions& options) : options_(options) {
  const char* name = "dss";
  detail::check_lti_layer_options(name, options_);
  check_dt(name, options_.dt_min, options_.dt_max);
  init_layer(name, options_);
  const int64_t N = options_.state_size, H = options_.d_model;
  // 'lin': Λ_m = −0.5 + iπm, m = 0..N−1.
  Lambda_log_neg_re =
      register_parameter("Lambda_log_neg_re", torch::full({N}, std::log(0.5), torch::kFloat32));
  Lambda_im = register_parameter("Lambda_im",
                                 (M_PI * torch::arange(N, torch::kFloat64)).to(torch::kFloat32));
  log_dt = register_parameter("log_dt", init_log_dt(H, options_.dt_min, options_.dt_max));
  W = register_parameter("W", torch::randn({kernel_channels(), H, N, 2}));
}

LTILayer::Modes DSSImpl::modes() {
  auto re = -torch::exp(Lambda_log_neg_re);
  auto Lambda = torch::complex(re, Lambda_im);           // (N)
  auto dtL = torch::exp(log_dt).unsqueeze(-1) * Lambda;  // (H, N): ΔΛ
  // (e^{ΔΛ} − 1)·conj(Λ)/max(|Λ|², 1e-7): the clamped division by Λ of the reference.
  auto inv = torch::complex(re, -Lambda_im) / (re * re + Lambda_im * Lambda_im).clamp_min(1e-7);
  auto q = torch::view_as_complex(W.contiguous()) * ((torch::exp(dtL) - 1.0) * inv);
  return {torch::view_as_real(dtL).contiguous(), torch::view_as_real(q).contiguous()};
}

torch::Tensor DSSImpl::kernel(int64_t length) {
  auto m = modes();
  return core::vandermonde_kernel(m.s, m.q, length);
}

std::shared_ptr<Mixer> make_dss(const ZooOptions& o) {
  DSSOptions d;
  detail::apply_lti_zoo_options(o, d);
  detail::apply_dt_overrides(o, d.dt_min, d.dt_max);
  return std::make_shared<DSSImpl>(d);
}

}  // namespace seqlab::mixers
