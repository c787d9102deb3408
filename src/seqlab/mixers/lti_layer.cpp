// The LTI convolution layer shared by DLR, S4D and DSS (spec/mixers.md §5.5). See lti_layer.h.
#include "seqlab/mixers/lti_layer.h"

#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "seqlab/mixers/mamba1.h"
#include "seqlab/mixers/zoo.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

namespace detail {

torch::Tensor as_pairs(const torch::Tensor& x, bool real_only) {
  if (!real_only) return x;
  return torch::stack({x, torch::zeros_like(x)}, -1);
}

torch::Tensor pair_mul(const torch::Tensor& x, const torch::Tensor& y) {
  auto xr = x.select(-1, 0), xi = x.select(-1, 1), yr = y.select(-1, 0), yi = y.select(-1, 1);
  return torch::stack({xr * yr - xi * yi, xr * yi + xi * yr}, -1);
}

void apply_lti_zoo_options(const ZooOptions& zoo, LTILayerOptions& o) {
  o.d_model = zoo.d_model;
  o.state_size = zoo.state_size;
  o.path = zoo.path;
  o.bidirectional = zoo.bidirectional;
  o.max_kernel_length = zoo.max_kernel_length;
  if (zoo.lti_output == "glu")
    o.glu = true;
  else if (zoo.lti_output == "linear")
    o.glu = false;
  else if (zoo.lti_output != "default")
    throw UserError("lti_output = '" + zoo.lti_output +
                    "' is not valid; valid choices: default, linear, glu");
}

void apply_dt_overrides(const ZooOptions& zoo, double& dt_min, double& dt_max) {
  if (zoo.dt_min > 0) dt_min = zoo.dt_min;
  if (zoo.dt_max > 0) dt_max = zoo.dt_max;
}

void check_lti_layer_options(const char* family, const LTILayerOptions& o) {
  check_at_least(family, "d_model", o.d_model, 1);
  check_at_least(family, "state_size", o.state_size, 1);
  check_at_least(family, "channels", o.channels, 1);
  check_at_least(family, "max_kernel_length", o.max_kernel_length, 0);
  check_channel_scan_path(family, o.path);
}

}  // namespace detail

void LTILayer::init_layer(const char* family, const LTILayerOptions& options) {
  family_ = family;
  layer_ = options;
  const int64_t H = options.d_model, C = options.channels;
  D = register_parameter("D", torch::randn({C, H}));  // D ~ N(0, 1) (§2.2.8)
  output_linear =
      register_module("output_linear", torch::nn::Linear(C * H, options.glu ? 2 * H : H));
}

int64_t LTILayer::kernel_length(int64_t T) const {
  return layer_.max_kernel_length > 0 ? std::min(layer_.max_kernel_length, T) : T;
}

void LTILayer::check_input(const torch::Tensor& u) const {
  TORCH_CHECK(u.defined() && u.dim() == 3 && u.size(2) == layer_.d_model, family_,
              ": input must be (B, T, d_model) with d_model = ", layer_.d_model, ", got ",
              u.defined() ? u.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(u.size(1) >= 1, family_, ": input must have at least one time step");
  TORCH_CHECK(u.scalar_type() == D.scalar_type(), family_, ": input dtype ", u.scalar_type(),
              " differs from the module dtype ", D.scalar_type());
}

torch::Tensor LTILayer::tail(const torch::Tensor& y) {
  // (B, C, H, T) -> (B, T, C·H): channels flattened c-major as in `(c h)` (§2.2.8 step 6).
  auto z = torch::gelu(y.permute({0, 3, 1, 2}).reshape({y.size(0), y.size(3), -1}));
  auto out = output_linear->forward(z);
  if (!layer_.glu) return out;
  auto parts = out.chunk(2, -1);
  return parts[0] * torch::sigmoid(parts[1]);  // GLU: a ⊙ σ(b)
}

torch::Tensor LTILayer::kernel_reference(int64_t length) {
  auto m = modes();
  return core::vandermonde_kernel_reference(m.s, m.q, length);
}

torch::Tensor LTILayer::forward(const torch::Tensor& u) {
  if (layer_.path == core::ScanPath::kReference) return reference(u);
  check_input(u);
  const int64_t C = layer_.channels;
  auto ut = u.transpose(1, 2).contiguous();  // (B, H, T)
  auto K = kernel(kernel_length(u.size(1)));
  auto kf = K.narrow(0, 0, C);
  auto kb = layer_.bidirectional ? K.narrow(0, C, C) : torch::Tensor();
  return tail(core::lti_conv(ut, kf, kb, D));
}

torch::Tensor LTILayer::reference(const torch::Tensor& u) {
  check_input(u);
  const int64_t C = layer_.channels, T = u.size(1), Lk = kernel_length(T);
  auto ut = u.transpose(1, 2);
  torch::Tensor y;
  if (Lk == T) {  // the recurrence x ← λ x + u_t, y = Re(qᵀx) (§3.2.7 step 4)
    auto m = modes();
    y = core::lti_scan_reference(ut, m.s, m.q.narrow(0, 0, C));
    if (layer_.bidirectional) y = y + core::lti_scan_reference(ut, m.s, m.q.narrow(0, C, C), true);
    y = y + D.unsqueeze(0).unsqueeze(-1) * ut.unsqueeze(1);
  } else {  // truncated kernel: the direct sum over its Lk lags
    auto K = kernel_reference(Lk);
    y = core::lti_conv_direct(ut, K.narrow(0, 0, C),
                              layer_.bidirectional ? K.narrow(0, C, C) : torch::Tensor(), D);
  }
  return tail(y);
}

torch::Tensor LTILayer::coefficients(const torch::Tensor& u) {
  check_input(u);
  const int64_t B = u.size(0), T = u.size(1), C = layer_.channels, H = layer_.d_model;
  const int64_t Lk = kernel_length(T);
  auto K = kernel_reference(Lk);  // (C', H, Lk)
  auto kf = K.narrow(0, 0, C).reshape({C * H, Lk});
  auto kb = layer_.bidirectional ? K.narrow(0, C, C).reshape({C * H, Lk}) : torch::Tensor();
  return core::toeplitz_coefficients(kf, T, kb).unsqueeze(0).expand({B, C * H, T, T});
}

torch::Tensor LTILayer::values(const torch::Tensor& u) {
  check_input(u);
  const int64_t B = u.size(0), T = u.size(1), C = layer_.channels, H = layer_.d_model;
  return u.transpose(1, 2).unsqueeze(1).expand({B, C, H, T}).reshape({B, C * H, T, 1});
}

torch::Tensor LTILayer::from_core(const torch::Tensor& u, const torch::Tensor& y_core) {
  check_input(u);
  const int64_t B = u.size(0), T = u.size(1), C = layer_.channels, H = layer_.d_model;
  auto y =
      y_core.reshape({B, C, H, T}) + D.unsqueeze(0).unsqueeze(-1) * u.transpose(1, 2).unsqueeze(1);
  return tail(y);
}

std::vector<torch::Tensor> LTILayer::initial_state(int64_t batch,
                                                   const torch::TensorOptions& options) {
  if (layer_.bidirectional)
    throw std::logic_error(std::string(family_) + ": a bidirectional layer has no step API");
  if (layer_.max_kernel_length > 0)
    throw std::logic_error(std::string(family_) +
                           ": a truncated kernel (max_kernel_length > 0) has no step API");
  return {torch::zeros({batch, layer_.d_model, mode_count(), 2}, options)};
}

torch::Tensor LTILayer::step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) {
  TORCH_CHECK(u_t.dim() == 2 && u_t.size(1) == layer_.d_model, family_,
              ": step input must be (B, d_model), got ", u_t.sizes());
  TORCH_CHECK(state.size() == 1 && state[0].dim() == 4, family_,
              ": state must come from initial_state()");
  auto m = modes();
  auto lam =
      torch::exp(torch::view_as_complex((m.s.dim() == 2 ? m.s.unsqueeze(0) : m.s).contiguous()));
  auto lam_pairs = torch::view_as_real(lam);  // (1 | H, M, 2)
  // x_t = λ ⊙ x_{t−1} + u_t (b = 1), per channel h and mode m.
  auto x = detail::pair_mul(lam_pairs.unsqueeze(0), state[0]);
  x = torch::stack({x.select(-1, 0) + u_t.unsqueeze(-1), x.select(-1, 1)}, -1);
  state[0] = x;
  // y[c, h] = Re Σ_m q[c, h, m] x[h, m] + D[c, h] u_t[h].
  auto q = m.q.unsqueeze(0);  // (1, C, H, M, 2)
  auto xs = x.unsqueeze(1);   // (B, 1, H, M, 2)
  auto y = (q.select(-1, 0) * xs.select(-1, 0) - q.select(-1, 1) * xs.select(-1, 1)).sum(-1);
  y = y + D.unsqueeze(0) * u_t.unsqueeze(1);  // (B, C, H)
  return tail(y.unsqueeze(-1)).squeeze(1);
}

int64_t LTILayer::state_size(int64_t /*position*/) const {
  return 2 * layer_.d_model * mode_count();
}

core::Transition LTILayer::transitions(const torch::Tensor& u) {
  check_input(u);
  torch::NoGradGuard no_grad;
  auto m = modes();
  auto s = m.s.dim() == 2 ? m.s : m.s.reshape({-1, 2});  // (modes, 2), channel-major
  auto lam = torch::view_as_real(torch::exp(torch::view_as_complex(s.contiguous())));
  core::Transition tr;
  tr.kind = core::TransitionKind::kComplexDiagonal;
  tr.lambda = lam.unsqueeze(0).unsqueeze(0).expand({u.size(0), u.size(1), lam.size(0), 2});
  return tr;
}

}  // namespace seqlab::mixers
