// Hawk / Griffin RG-LRU recurrent block (spec/mixers.md §2.2.16). See rglru.h.
#include "seqlab/mixers/rglru.h"

#include <torch/torch.h>

#include "seqlab/core/channel_scan.h"
#include "seqlab/mixers/mamba1.h"

namespace seqlab::mixers {

RGLRUImpl::RGLRUImpl(const ZooOptions& options) : options_(options), width_(0) {
  const char* name = "rglru";
  detail::check_at_least(name, "d_model", options_.d_model, 1);
  detail::check_at_least(name, "expand", options_.expand, 1);
  detail::check_at_least(name, "conv_size", options_.conv_size, 0);
  detail::check_channel_scan_path(name, options_.path);
  const int64_t d = options_.d_model;
  width_ = options_.expand * d;
  in_gate = register_module("in_gate", torch::nn::Linear(d, width_));
  in_x = register_module("in_x", torch::nn::Linear(d, width_));
  if (options_.conv_size > 0)
    conv = register_module("conv", ShortConv(width_, options_.conv_size, /*bias=*/true));
  gate_a = register_module("gate_a", torch::nn::Linear(width_, width_));
  gate_x = register_module("gate_x", torch::nn::Linear(width_, width_));
  out_proj = register_module("out_proj", torch::nn::Linear(width_, d));
  // σ(Λ)^c = a₀ ~ U[0.9, 0.999]: log σ(Λ) = log(a₀)/c, and Λ = logit(σ(Λ)) = −softplus⁻¹(−log
  // σ(Λ)).
  auto a0 = 0.9 + 0.099 * torch::rand({width_}, torch::kFloat64);
  Lambda =
      register_parameter("Lambda", (-softplus_inverse(-torch::log(a0) / kC)).to(torch::kFloat32));
}

std::shared_ptr<Mixer> make_rglru(const ZooOptions& options) {
  return std::make_shared<RGLRUImpl>(options);
}

void RGLRUImpl::check_input(const torch::Tensor& u) const {
  TORCH_CHECK(u.defined() && u.dim() == 3 && u.size(2) == options_.d_model,
              "rglru: input must be (B, T, d_model) with d_model = ", options_.d_model, ", got ",
              u.defined() ? u.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(u.scalar_type() == Lambda.scalar_type(), "rglru: input dtype ", u.scalar_type(),
              " differs from the module dtype ", Lambda.scalar_type());
}

void RGLRUImpl::gates(const torch::Tensor& x, Core& c) {
  auto r = torch::sigmoid(gate_a(x));  // recurrence gate
  auto i = torch::sigmoid(gate_x(x));  // input gate
  // log a_t = −c·softplus(−Λ)·r_t, i.e. a_t = σ(Λ)^{c r_t}, formed directly in log space (§3.4).
  c.log_a = -kC * torch::softplus(-Lambda) * r;
  // b_j k_j = sqrt(1 − a_j²) i_j with sqrt(1 − a²) = sqrt(−expm1(2 log a)) (§2.2.16).
  c.impulse = torch::sqrt(-torch::expm1(2.0 * c.log_a)) * i;
}

RGLRUImpl::Core RGLRUImpl::core_inputs(const torch::Tensor& u) {
  check_input(u);
  Core c;
  c.gate = torch::gelu(in_gate(u));  // exact erf form (§0.2)
  c.x = in_x(u);
  if (conv) c.x = conv(c.x);
  gates(c.x, c);
  return c;
}

torch::Tensor RGLRUImpl::run(core::ScanPath path, const torch::Tensor& u) {
  auto c = core_inputs(u);
  auto h = core::linear_recurrence(path, c.log_a, c.impulse * c.x).first;
  return out_proj(c.gate * h);
}

torch::Tensor RGLRUImpl::forward(const torch::Tensor& u) {
  return run(options_.path, u);
}

torch::Tensor RGLRUImpl::reference(const torch::Tensor& u) {
  return run(core::ScanPath::kReference, u);
}

torch::Tensor RGLRUImpl::coefficients(const torch::Tensor& u) {
  auto c = core_inputs(u);
  // exp(segment sums of log a) (B, W, T, T), scaled by b_j k_j on column j.
  return core::linear_recurrence_coefficients(c.log_a) * c.impulse.transpose(1, 2).unsqueeze(2);
}

torch::Tensor RGLRUImpl::values(const torch::Tensor& u) {
  return core_inputs(u).x.transpose(1, 2).unsqueeze(-1);
}

torch::Tensor RGLRUImpl::from_core(const torch::Tensor& u, const torch::Tensor& y_core) {
  auto c = core_inputs(u);
  return out_proj(c.gate * y_core.squeeze(-1).transpose(1, 2));
}

std::vector<torch::Tensor> RGLRUImpl::initial_state(int64_t batch,
                                                    const torch::TensorOptions& options) {
  std::vector<torch::Tensor> state{torch::zeros({batch, width_}, options)};
  if (conv) state.push_back(detail::short_conv_buffer(*conv, batch, options));
  return state;
}

torch::Tensor RGLRUImpl::step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) {
  TORCH_CHECK(u_t.dim() == 2 && u_t.size(1) == options_.d_model,
              "rglru: step input must be (B, d_model), got ", u_t.sizes());
  TORCH_CHECK(state.size() == (conv ? 2u : 1u), "rglru: state must come from initial_state()");
  Core c;
  c.gate = torch::gelu(in_gate(u_t));
  c.x = in_x(u_t);
  if (conv) c.x = detail::short_conv_step(*conv, state[1], c.x);
  gates(c.x, c);
  state[0] = torch::exp(c.log_a) * state[0] + c.impulse * c.x;  // h_t = a_t h_{t−1} + b_t i_t x_t
  return out_proj(c.gate * state[0]);
}

int64_t RGLRUImpl::state_size(int64_t /*position*/) const {
  return width_ + (conv ? (options_.conv_size - 1) * width_ : 0);
}

core::Transition RGLRUImpl::transitions(const torch::Tensor& u) {
  auto c = core_inputs(u);
  core::Transition tr;
  tr.kind = core::TransitionKind::kDiagonal;
  tr.log_gate = c.log_a.permute({0, 2, 1}).unsqueeze(-1).detach();  // one system per channel
  return tr;
}

}  // namespace seqlab::mixers
