// LRU layer (spec/mixers.md §2.2.9). See lru.h.
#include "seqlab/mixers/lru.h"

#include <torch/torch.h>

#include <cmath>

#include "seqlab/core/complex_diag_scan.h"
#include "seqlab/core/lti.h"
#include "seqlab/mixers/mamba1.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

LRUImpl::LRUImpl(const LRUOptions& options) : options_(options) {
  const char* name = "lru";
  detail::check_at_least(name, "d_model", options_.d_model, 1);
  detail::check_at_least(name, "state_size", options_.state_size, 1);
  detail::check_channel_scan_path(name, options_.path);
  if (!(options_.r_min >= 0 && options_.r_min <= options_.r_max && options_.r_max <= 1))
    throw UserError("lru: need 0 <= r_min <= r_max <= 1, got r_min = " +
                    std::to_string(options_.r_min) + ", r_max = " + std::to_string(options_.r_max));
  if (!(options_.max_phase > 0))
    throw UserError("lru: max_phase must be > 0, got " + std::to_string(options_.max_phase));
  const int64_t N = options_.state_size, d = options_.d_model;
  const double r2min = options_.r_min * options_.r_min, r2max = options_.r_max * options_.r_max;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  // |λ|² = exp(−2 e^ν) ~ U[r_min², r_max²]; θ = log(max_phase·U); γ = sqrt(1 − |λ|²).
  auto nu = torch::log(-0.5 * torch::log(torch::rand({N}, f64) * (r2max - r2min) + r2min));
  auto theta = torch::log(options_.max_phase * torch::rand({N}, f64));
  auto gamma_log = 0.5 * torch::log(-torch::expm1(-2.0 * torch::exp(nu)));
  nu_log = register_parameter("nu_log", nu.to(torch::kFloat32));
  theta_log = register_parameter("theta_log", theta.to(torch::kFloat32));
  this->gamma_log = register_parameter("gamma_log", gamma_log.to(torch::kFloat32));
  const double b_std = 1.0 / std::sqrt(2.0 * static_cast<double>(d));
  const double c_std = 1.0 / std::sqrt(static_cast<double>(N));
  B_re = register_parameter("B_re", torch::randn({N, d}) * b_std);
  B_im = register_parameter("B_im", torch::randn({N, d}) * b_std);
  C_re = register_parameter("C_re", torch::randn({d, N}) * c_std);
  C_im = register_parameter("C_im", torch::randn({d, N}) * c_std);
  D = register_parameter("D", torch::randn({d}));
  output_linear = register_module("output_linear", torch::nn::Linear(d, options_.glu ? 2 * d : d));
}

std::shared_ptr<Mixer> make_lru(const ZooOptions& o) {
  LRUOptions l;
  l.d_model = o.d_model;
  l.state_size = o.state_size;
  l.path = o.path;
  l.r_min = o.r_min;
  l.r_max = o.r_max;
  l.max_phase = o.max_phase;
  if (o.lti_output != "default") l.glu = o.lti_output == "glu";
  if (o.bidirectional || o.max_kernel_length != 0)
    throw UserError(
        "lru: model.bidirectional and model.max_kernel_length apply to dlr, s4d and "
        "dss only (the LRU runs as a causal scan)");
  return std::make_shared<LRUImpl>(l);
}

void LRUImpl::check_input(const torch::Tensor& u) const {
  TORCH_CHECK(u.defined() && u.dim() == 3 && u.size(2) == options_.d_model,
              "lru: input must be (B, T, d_model) with d_model = ", options_.d_model, ", got ",
              u.defined() ? u.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(u.scalar_type() == D.scalar_type(), "lru: input dtype ", u.scalar_type(),
              " differs from the module dtype ", D.scalar_type());
}

torch::Tensor LRUImpl::lambda() const {
  // λ = exp(−e^ν + i e^θ) = e^{−e^ν} (cos e^θ, sin e^θ).
  auto mag = torch::exp(-torch::exp(nu_log));
  auto ph = torch::exp(theta_log);
  return torch::stack({mag * torch::cos(ph), mag * torch::sin(ph)}, -1);
}

torch::Tensor LRUImpl::output(const torch::Tensor& h_re, const torch::Tensor& h_im,
                              const torch::Tensor& u) {
  // y = Re(C h) + D ⊙ u = C_re h_re − C_im h_im + D ⊙ u.
  auto y = torch::matmul(h_re, C_re.t()) - torch::matmul(h_im, C_im.t()) + D * u;
  auto out = output_linear->forward(torch::gelu(y));
  if (!options_.glu) return out;
  auto parts = out.chunk(2, -1);
  return parts[0] * torch::sigmoid(parts[1]);
}

torch::Tensor LRUImpl::forward(const torch::Tensor& u) {
  if (options_.path == core::ScanPath::kReference) return reference(u);
  check_input(u);
  const int64_t B = u.size(0), T = u.size(1), N = options_.state_size;
  auto gamma = torch::exp(gamma_log);
  auto v = torch::stack({torch::matmul(u, B_re.t()) * gamma, torch::matmul(u, B_im.t()) * gamma},
                        -1);  // γ ⊙ (B u_t) as pairs (B, T, N, 2)
  auto h = core::complex_diag_scan(lambda().expand({B, T, N, 2}), v, torch::Tensor());
  return output(h.select(-1, 0), h.select(-1, 1), u);
}

torch::Tensor LRUImpl::reference(const torch::Tensor& u) {
  check_input(u);
  const int64_t B = u.size(0), T = u.size(1), N = options_.state_size;
  auto lam = torch::view_as_complex(lambda().contiguous());  // (N)
  auto gamma = torch::exp(gamma_log);
  auto v = torch::complex(torch::matmul(u, B_re.t()), torch::matmul(u, B_im.t())) * gamma;
  auto h = torch::zeros({B, N}, v.options());
  std::vector<torch::Tensor> hs;
  for (int64_t t = 0; t < T; ++t) {
    h = lam * h + v.select(1, t);  // h_t = λ ⊙ h_{t−1} + γ ⊙ (B u_t)
    hs.push_back(h);
  }
  auto H = torch::stack(hs, 1);
  return output(torch::real(H), torch::imag(H), u);
}

torch::Tensor LRUImpl::coefficients(const torch::Tensor& u) {
  check_input(u);
  const int64_t B = u.size(0), T = u.size(1), N = options_.state_size;
  // α_m(l) = γ_m λ_m^l = γ_m exp(l (−e^ν + i e^θ)), with complex ops.
  auto s = torch::complex(-torch::exp(nu_log), torch::exp(theta_log));
  auto l = torch::arange(T, u.options());
  auto k = torch::exp(gamma_log).unsqueeze(-1) * torch::exp(s.unsqueeze(-1) * l);  // (N, T)
  auto M = core::toeplitz_coefficients(torch::cat({torch::real(k), torch::imag(k)}, 0), T);
  return M.unsqueeze(0).expand({B, 2 * N, T, T});
}

torch::Tensor LRUImpl::values(const torch::Tensor& u) {
  check_input(u);
  auto v = torch::stack({torch::matmul(u, B_re.t()), torch::matmul(u, B_im.t())}, -1)
               .permute({0, 2, 1, 3});  // (B, N, T, 2): (Re, Im) of (B u_j)_m
  return torch::cat({v, v}, 1);
}

torch::Tensor LRUImpl::from_core(const torch::Tensor& u, const torch::Tensor& y_core) {
  check_input(u);
  const int64_t N = options_.state_size;
  auto P = y_core.narrow(1, 0, N), Q = y_core.narrow(1, N, N);  // Re α ⋅ v, Im α ⋅ v
  auto h_re = (P.select(-1, 0) - Q.select(-1, 1)).transpose(1, 2);
  auto h_im = (Q.select(-1, 0) + P.select(-1, 1)).transpose(1, 2);
  return output(h_re, h_im, u);
}

std::vector<torch::Tensor> LRUImpl::initial_state(int64_t batch,
                                                  const torch::TensorOptions& options) {
  return {torch::zeros({batch, options_.state_size, 2}, options)};
}

torch::Tensor LRUImpl::step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) {
  TORCH_CHECK(u_t.dim() == 2 && u_t.size(1) == options_.d_model,
              "lru: step input must be (B, d_model), got ", u_t.sizes());
  TORCH_CHECK(state.size() == 1 && state[0].dim() == 3,
              "lru: state must come from initial_state()");
  auto lam = lambda();
  auto gamma = torch::exp(gamma_log);
  auto vr = torch::matmul(u_t, B_re.t()) * gamma, vi = torch::matmul(u_t, B_im.t()) * gamma;
  auto h = state[0];
  auto lr = lam.select(-1, 0), li = lam.select(-1, 1);
  auto hr = h.select(-1, 0), hi = h.select(-1, 1);
  // h_t = λ ⊙ h_{t−1} + γ ⊙ (B u_t)
  state[0] = torch::stack({lr * hr - li * hi + vr, lr * hi + li * hr + vi}, -1);
  return output(state[0].select(-1, 0), state[0].select(-1, 1), u_t);
}

core::Transition LRUImpl::transitions(const torch::Tensor& u) {
  check_input(u);
  torch::NoGradGuard no_grad;
  core::Transition tr;
  tr.kind = core::TransitionKind::kComplexDiagonal;
  tr.lambda =
      lambda().unsqueeze(0).unsqueeze(0).expand({u.size(0), u.size(1), options_.state_size, 2});
  return tr;
}

}  // namespace seqlab::mixers
