// DLR layer (spec/mixers.md §2.2.8). See dlr.h.
#include "seqlab/mixers/dlr.h"

#include <torch/torch.h>

#include <cmath>

#include "seqlab/util/error.h"

namespace seqlab::mixers {

ProductGrid product_grid(int64_t N) {
  ProductGrid g;
  g.fine = (N / 2) % 2 == 1 ? N / 2 : N / 2 - 1;
  if (g.fine < 1) g.fine = 1;
  g.coarse = N - g.fine;
  g.length = g.fine * g.coarse;
  return g;
}

torch::Tensor product_grid_frequencies(int64_t N) {
  // Fine modes a = −F..F at 2πa/(P·Q) (a real Dirichlet bump of width Q after the product),
  // coarse modes b = 0..Q−1 at 2πb/Q (a comb of period Q); a + bP runs over Z_{PQ} once.
  const auto g = product_grid(N);
  const int64_t F = (g.fine - 1) / 2;
  auto fine = 2 * M_PI * (torch::arange(g.fine, torch::kFloat64) - static_cast<double>(F)) /
              static_cast<double>(g.length);
  auto coarse = 2 * M_PI * torch::arange(g.coarse, torch::kFloat64) / static_cast<double>(g.coarse);
  return torch::cat({fine, coarse});
}

DLRImpl::DLRImpl(const DLROptions& options) : options_(options) {
  const char* name = "dlr";
  detail::check_lti_layer_options(name, options_);
  const auto& v = options_.version;
  if (v != "" && v != "Lambda_imag" && v != "Lambda_imag_W_real" && v != "Lambda_real_W_real")
    throw UserError("dlr: version '" + v +
                    "' is not valid (valid: '', Lambda_imag, Lambda_imag_W_real, "
                    "Lambda_real_W_real)");
  const auto& init = options_.Lambda_init;
  if (init != "omega" && init != "randn" && init != "product_grid")
    throw UserError("dlr: Lambda_init '" + init +
                    "' is not valid (valid: omega, randn, product_grid)");
  if (init == "product_grid" && options_.state_size < 2)
    throw UserError("dlr: Lambda_init product_grid needs state_size >= 2, got " +
                    std::to_string(options_.state_size));
  if (!(options_.dt_min > 0 && options_.dt_max >= options_.dt_min))
    throw UserError(
        "dlr: need 0 < dt_min <= dt_max, got dt_min = " + std::to_string(options_.dt_min) +
        ", dt_max = " + std::to_string(options_.dt_max));
  lambda_imag_ = v.rfind("Lambda_imag", 0) == 0;
  lambda_real_ = v == "Lambda_real_W_real";
  w_real_ = v.find("W_real") != std::string::npos;
  init_layer(name, options_);
  const int64_t N = options_.state_size, H = options_.d_model;
  // dt_m = exp(U[log dt_min, log dt_max]) per state; Λ_m = −0.5 dt_m + i (2πm/N mod 2π).
  const double lo = std::log(options_.dt_min), hi = std::log(options_.dt_max);
  auto dt = torch::exp(lo + torch::rand({N}, torch::kFloat64) * (hi - lo));
  torch::Tensor im;
  if (init == "omega")
    im = 2 * M_PI * torch::arange(N, torch::kFloat64) / static_cast<double>(N);
  else if (init == "randn")
    im = torch::randn({N}, torch::kFloat64);
  else
    im = product_grid_frequencies(N);
  im = torch::remainder(im, 2 * M_PI);
  if (!lambda_imag_)  // p = |Re Λ|^{1/2} = sqrt(0.5 dt)
    Lambda_log_neg_re =
        register_parameter("Lambda_log_neg_re", torch::sqrt(0.5 * dt).to(torch::kFloat32));
  if (!lambda_real_) Lambda_im = register_parameter("Lambda_im", im.to(torch::kFloat32));
  const double scale = options_.W_scale > 0 ? options_.W_scale : 1.0 / static_cast<double>(N);
  std::vector<int64_t> shape = {kernel_channels(), H, N};
  if (!w_real_) shape.push_back(2);
  W = register_parameter("W", torch::randn(shape) * scale);
}

std::shared_ptr<Mixer> make_dlr(const ZooOptions& o) {
  DLROptions d;
  detail::apply_lti_zoo_options(o, d);
  detail::apply_dt_overrides(o, d.dt_min, d.dt_max);
  d.channels = o.lti_channels;
  d.kernel_to_real = core::kernel_to_real_from_name(o.kernel_to_real);
  d.version = o.dlr_version;
  d.Lambda_init = o.lambda_init;
  return std::make_shared<DLRImpl>(d);
}

std::vector<std::string> DLRImpl::dynamics_parameters() const {
  std::vector<std::string> names;
  if (Lambda_log_neg_re.defined()) names.push_back("Lambda_log_neg_re");
  if (Lambda_im.defined()) names.push_back("Lambda_im");
  names.push_back("W");
  return names;
}

torch::Tensor DLRImpl::Lambda() const {
  const auto& ref = W;
  auto re = Lambda_log_neg_re.defined() ? -Lambda_log_neg_re * Lambda_log_neg_re
                                        : torch::zeros({options_.state_size}, ref.options());
  auto im = Lambda_im.defined() ? Lambda_im : torch::zeros({options_.state_size}, ref.options());
  return torch::stack({re, im}, -1);
}

torch::Tensor DLRImpl::W_pairs() const {
  return detail::as_pairs(W, w_real_);
}

torch::Tensor DLRImpl::kernel(int64_t length) {
  // K = to_real(Re… of Σ_m W exp(l Λ_m)): the fused kernel; dp = −2p·da by autograd (§3.3.5).
  return core::vandermonde_kernel(Lambda(), W_pairs(), length, options_.kernel_to_real);
}

int64_t DLRImpl::mode_count() const {
  const int64_t N = options_.state_size;
  switch (options_.kernel_to_real) {
    case core::KernelToReal::kProd:
      return N * N;
    case core::KernelToReal::kRealProd:
      return N + N * N;
    default:
      return N;
  }
}

LTILayer::Modes DLRImpl::modes() {
  auto s = Lambda();
  auto w = W_pairs();
  auto wr = w.select(-1, 0), wi = w.select(-1, 1);
  // Re k · Im k = Im(k²)/2 = Re(−i k²/2), k² = Σ_{m,m'} W_m W_m' (λ_m λ_m')^l: N² modes.
  auto prod_modes = [&] {
    const int64_t N = options_.state_size;
    auto s2 = (s.unsqueeze(1) + s.unsqueeze(0)).reshape({N * N, 2});
    auto ww = detail::pair_mul(w.unsqueeze(-2), w.unsqueeze(-3));  // (C', H, N, N, 2)
    ww = ww.reshape({w.size(0), w.size(1), N * N, 2});
    return Modes{s2, 0.5 * torch::stack({ww.select(-1, 1), -ww.select(-1, 0)}, -1)};
  };
  switch (options_.kernel_to_real) {
    case core::KernelToReal::kReal:
      return {s, w};
    case core::KernelToReal::kImag:  // Im z = Re(−i z)
      return {s, torch::stack({wi, -wr}, -1)};
    case core::KernelToReal::kSum:  // Re z + Im z = Re((1 − i) z)
      return {s, torch::stack({wr + wi, wi - wr}, -1)};
    case core::KernelToReal::kProd:
      return prod_modes();
    case core::KernelToReal::kRealProd: {
      // Channels h < ⌊H/2⌋ read the N plain modes, the others the N² product modes.
      auto p = prod_modes();
      const int64_t H = w.size(1);
      auto second =
          (torch::arange(H, torch::kInt64) >= H / 2).to(w.scalar_type()).view({1, H, 1, 1});
      return {torch::cat({s, p.s}, 0), torch::cat({w * (1 - second), p.q * second}, 2)};
    }
  }
  return {s, w};
}

}  // namespace seqlab::mixers
