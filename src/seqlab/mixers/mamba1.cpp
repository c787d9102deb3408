// S6 / Mamba-1 layer (spec/mixers.md §2.2.10). See mamba1.h.
#include "seqlab/mixers/mamba1.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "seqlab/core/channel_scan.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

// ---- shared helpers of the channel-wise mixers -------------------------------------------------
namespace detail {

void check_channel_scan_path(const char* mixer, core::ScanPath path) {
  if (path == core::ScanPath::kFused || path == core::ScanPath::kReference) return;
  throw UserError(std::string(mixer) + ": path '" + core::scan_path_name(path) +
                  "' is not offered (valid: fused, reference)");
}

void check_at_least(const char* mixer, const char* option, int64_t value, int64_t min) {
  if (value >= min) return;
  throw UserError(std::string(mixer) + ": " + option + " must be >= " + std::to_string(min) +
                  ", got " + std::to_string(value));
}

torch::Tensor short_conv_step(ShortConvImpl& conv, torch::Tensor& buffer,
                              const torch::Tensor& x_t) {
  const int64_t K = conv.kernel();
  auto window = torch::cat({buffer, x_t.unsqueeze(1)}, 1);  // (B, K, C): x_{t−K+1} .. x_t
  auto w = conv.conv->weight.squeeze(1).t();                // (C, 1, K) -> (K, C)
  auto y = (window * w).sum(1);                             // y_t = Σ_m w[m] x_{t−K+1+m} (§5.3)
  if (conv.conv->bias.defined()) y = y + conv.conv->bias;
  buffer = window.narrow(1, 1, K - 1);
  return y;
}

torch::Tensor short_conv_buffer(const ShortConvImpl& conv, int64_t batch,
                                const torch::TensorOptions& options) {
  return torch::zeros({batch, conv.kernel() - 1, conv.channels()}, options);
}

}  // namespace detail

// ---- construction and initialization (§2.2.10 "Initialization") --------------------------------
Mamba1Impl::Mamba1Impl(const ZooOptions& options, const Mamba1Init& init)
    : options_(options), d_inner_(0), dt_rank_(0) {
  const char* name = "mamba1";
  detail::check_at_least(name, "d_model", options_.d_model, 1);
  detail::check_at_least(name, "state_size", options_.state_size, 1);
  detail::check_at_least(name, "expand", options_.expand, 1);
  detail::check_at_least(name, "conv_size", options_.conv_size, 0);
  detail::check_channel_scan_path(name, options_.path);
  const int64_t d = options_.d_model, N = options_.state_size;
  d_inner_ = options_.expand * d;
  dt_rank_ = (d + 15) / 16;  // ⌈d/16⌉
  in_proj = register_module(
      "in_proj", torch::nn::Linear(torch::nn::LinearOptions(d, 2 * d_inner_).bias(false)));
  if (options_.conv_size > 0)
    conv = register_module("conv", ShortConv(d_inner_, options_.conv_size, /*bias=*/true));
  x_proj = register_module(
      "x_proj",
      torch::nn::Linear(torch::nn::LinearOptions(d_inner_, dt_rank_ + 2 * N).bias(false)));
  dt_proj = register_module("dt_proj", torch::nn::Linear(dt_rank_, d_inner_));
  out_proj = register_module("out_proj",
                             torch::nn::Linear(torch::nn::LinearOptions(d_inner_, d).bias(false)));
  // A_log[c, m] = log(m), m = 1..N (S4D-Real) for every channel; D = 1.
  A_log = register_parameter(
      "A_log", torch::log(torch::arange(1, N + 1, torch::kFloat32)).repeat({d_inner_, 1}));
  D = register_parameter("D", torch::ones({d_inner_}));
  init_dt_proj(init);
}

void Mamba1Impl::init_dt_proj(const Mamba1Init& init) {
  torch::NoGradGuard no_grad;
  // W_Δ ~ U(±dt_scale/√R) ('random') or dt_scale/√R everywhere ('constant').
  const double bound = init.dt_scale / std::sqrt(static_cast<double>(dt_rank_));
  if (init.dt_init_random) {
    dt_proj->weight.uniform_(-bound, bound);
  } else {
    dt_proj->weight.fill_(bound);
  }
  // b_Δ = softplus⁻¹(dt), dt = max(exp(U[log dt_min, log dt_max]), dt_init_floor), so that
  // softplus(b_Δ) = dt at initialization.
  const double lo = std::log(init.dt_min), hi = std::log(init.dt_max);
  auto dt = torch::exp(torch::rand({d_inner_}, torch::kFloat64) * (hi - lo) + lo)
                .clamp_min(init.dt_init_floor);
  dt_proj->bias.copy_(softplus_inverse(dt));
}

std::shared_ptr<Mixer> make_mamba1(const ZooOptions& options) {
  return std::make_shared<Mamba1Impl>(options);
}

// ---- paths -------------------------------------------------------------------------------------
void Mamba1Impl::check_input(const torch::Tensor& u) const {
  TORCH_CHECK(u.defined() && u.dim() == 3 && u.size(2) == options_.d_model,
              "mamba1: input must be (B, T, d_model) with d_model = ", options_.d_model, ", got ",
              u.defined() ? u.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(u.scalar_type() == A_log.scalar_type(), "mamba1: input dtype ", u.scalar_type(),
              " differs from the module dtype ", A_log.scalar_type());
}

torch::Tensor Mamba1Impl::A() const {
  return -torch::exp(A_log);  // §2.2.10 step 5
}

void Mamba1Impl::selection(const torch::Tensor& x, Core& c) {
  const int64_t R = dt_rank_, N = options_.state_size;
  auto dbc = x_proj(x);  // step 3: (δ, B, C)
  c.Bm = dbc.narrow(-1, R, N);
  c.Cm = dbc.narrow(-1, R + N, N);
  c.delta = torch::softplus(dt_proj(dbc.narrow(-1, 0, R)));  // step 4
}

Mamba1Impl::Core Mamba1Impl::core_inputs(const torch::Tensor& u) {
  check_input(u);
  Core c;
  auto xz = in_proj(u);  // step 1
  auto x = xz.narrow(-1, 0, d_inner_);
  c.z = xz.narrow(-1, d_inner_, d_inner_);
  if (conv) x = conv(x);
  c.x = torch::silu(x);  // step 2
  selection(c.x, c);
  return c;
}

torch::Tensor Mamba1Impl::output(const torch::Tensor& y, const Core& c) {
  return out_proj((y + D * c.x) * torch::silu(c.z));  // step 6 skip, step 7 gate and projection
}

torch::Tensor Mamba1Impl::run(core::ScanPath path, const torch::Tensor& u) {
  auto c = core_inputs(u);
  auto y = core::selective_scan(path, c.x, c.delta, A(), c.Bm, c.Cm).first;  // step 6
  return output(y, c);
}

torch::Tensor Mamba1Impl::forward(const torch::Tensor& u) {
  return run(options_.path, u);
}

torch::Tensor Mamba1Impl::reference(const torch::Tensor& u) {
  return run(core::ScanPath::kReference, u);
}

torch::Tensor Mamba1Impl::coefficients(const torch::Tensor& u) {
  auto c = core_inputs(u);
  return core::selective_scan_coefficients(c.delta, A(), c.Bm, c.Cm);
}

torch::Tensor Mamba1Impl::values(const torch::Tensor& u) {
  return core_inputs(u).x.transpose(1, 2).unsqueeze(-1);
}

torch::Tensor Mamba1Impl::from_core(const torch::Tensor& u, const torch::Tensor& y_core) {
  auto c = core_inputs(u);
  return output(y_core.squeeze(-1).transpose(1, 2), c);
}

// ---- step API (§6.6) ---------------------------------------------------------------------------
std::vector<torch::Tensor> Mamba1Impl::initial_state(int64_t batch,
                                                     const torch::TensorOptions& options) {
  std::vector<torch::Tensor> state{torch::zeros({batch, d_inner_, options_.state_size}, options)};
  if (conv) state.push_back(detail::short_conv_buffer(*conv, batch, options));
  return state;
}

torch::Tensor Mamba1Impl::step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) {
  TORCH_CHECK(u_t.dim() == 2 && u_t.size(1) == options_.d_model,
              "mamba1: step input must be (B, d_model), got ", u_t.sizes());
  TORCH_CHECK(state.size() == (conv ? 2u : 1u), "mamba1: state must come from initial_state()");
  Core c;
  auto xz = in_proj(u_t);
  auto x = xz.narrow(-1, 0, d_inner_);
  c.z = xz.narrow(-1, d_inner_, d_inner_);
  if (conv) x = detail::short_conv_step(*conv, state[1], x);
  c.x = torch::silu(x);
  selection(c.x, c);
  // h_t = exp(Δ_t A) ⊙ h_{t−1} + Δ_t x_t B_t;  y_t = Σ_m C_t[m] h_t[·, m]  (§2.2.10 step 6).
  auto h = torch::exp(c.delta.unsqueeze(-1) * A()) * state[0] +
           (c.delta * c.x).unsqueeze(-1) * c.Bm.unsqueeze(1);
  state[0] = h;
  return output((h * c.Cm.unsqueeze(1)).sum(-1), c);
}

int64_t Mamba1Impl::state_size(int64_t /*position*/) const {
  const int64_t conv_floats = conv ? (options_.conv_size - 1) * d_inner_ : 0;
  return d_inner_ * options_.state_size + conv_floats;
}

core::Transition Mamba1Impl::transitions(const torch::Tensor& u) {
  auto c = core_inputs(u);
  core::Transition tr;
  tr.kind = core::TransitionKind::kDiagonal;
  // log a[b, channel, t, m] = Δ_t[channel] A[channel, m] (§2.2.10).
  tr.log_gate = (c.delta.permute({0, 2, 1}).unsqueeze(-1) * A().unsqueeze(1)).detach();
  return tr;
}

}  // namespace seqlab::mixers
