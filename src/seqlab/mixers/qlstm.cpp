// qLSTM (spec/mixers.md §2.2.15). See qlstm.h.
#include "seqlab/mixers/qlstm.h"

#include <torch/torch.h>

#include <cmath>

#include "seqlab/core/channel_scan.h"
#include "seqlab/mixers/mamba1.h"

namespace seqlab::mixers {

QLSTMImpl::QLSTMImpl(const ZooOptions& options, bool reversed)
    : options_(options), reversed_(reversed), hidden_(0) {
  const char* name = "qlstm";
  detail::check_at_least(name, "d_model", options_.d_model, 1);
  detail::check_at_least(name, "expand", options_.expand, 1);
  detail::check_at_least(name, "conv_size", options_.conv_size, 0);
  detail::check_channel_scan_path(name, options_.path);
  const int64_t d = options_.d_model;
  hidden_ = options_.expand * d;
  in_proj = register_module(
      "in_proj", torch::nn::Linear(torch::nn::LinearOptions(d, 2 * hidden_).bias(false)));
  if (options_.conv_size > 0)
    conv = register_module("conv", ShortConv(hidden_, options_.conv_size, /*bias=*/true));
  gates = register_module("gates", torch::nn::Linear(hidden_, 3 * hidden_));
  out_proj = register_module("out_proj",
                             torch::nn::Linear(torch::nn::LinearOptions(hidden_, d).bias(false)));
  {
    // §2.2.15 "Initialization": N(0, 1/fan_in) for the three weights.
    torch::NoGradGuard no_grad;
    in_proj->weight.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(d)));
    gates->weight.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(hidden_)));
    out_proj->weight.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(hidden_)));
  }
  if (reversed_) alpha = register_parameter("alpha", torch::ones({}));
}

std::shared_ptr<Mixer> make_qlstm(const ZooOptions& options) {
  return std::make_shared<QLSTMImpl>(options);
}

void QLSTMImpl::check_input(const torch::Tensor& u) const {
  TORCH_CHECK(u.defined() && u.dim() == 3 && u.size(2) == options_.d_model,
              "qlstm: input must be (B, T, d_model) with d_model = ", options_.d_model, ", got ",
              u.defined() ? u.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(u.scalar_type() == gates->weight.scalar_type(), "qlstm: input dtype ",
              u.scalar_type(), " differs from the module dtype ", gates->weight.scalar_type());
}

void QLSTMImpl::gate_values(const torch::Tensor& x, Core& c) {
  auto fio = gates(x);  // step 3: (f, i, o)
  auto f = fio.narrow(-1, 0, hidden_);
  c.input = torch::sigmoid(fio.narrow(-1, hidden_, hidden_));
  c.output = torch::sigmoid(fio.narrow(-1, 2 * hidden_, hidden_));
  // Step 4, in log space (§3.4): log σ(f) = −softplus(−f); reversed: −ReLU(α)·softplus(f).
  c.log_forget = reversed_ ? -torch::relu(alpha) * torch::softplus(f) : -torch::softplus(-f);
}

QLSTMImpl::Core QLSTMImpl::core_inputs(const torch::Tensor& u) {
  check_input(u);
  Core c;
  auto gx = in_proj(u);  // step 1: (gate, x)
  c.gelu_gate = torch::gelu(gx.narrow(-1, 0, hidden_));
  c.x = gx.narrow(-1, hidden_, hidden_);
  if (conv) c.x = conv(c.x);  // step 2, no activation
  gate_values(c.x, c);
  return c;
}

torch::Tensor QLSTMImpl::run(core::ScanPath path, const torch::Tensor& u) {
  auto c = core_inputs(u);
  auto h = core::linear_recurrence(path, c.log_forget, c.input * c.x).first;  // step 5
  return out_proj(c.gelu_gate * c.output * h);                                // step 6
}

torch::Tensor QLSTMImpl::forward(const torch::Tensor& u) {
  return run(options_.path, u);
}

torch::Tensor QLSTMImpl::reference(const torch::Tensor& u) {
  return run(core::ScanPath::kReference, u);
}

torch::Tensor QLSTMImpl::coefficients(const torch::Tensor& u) {
  auto c = core_inputs(u);
  // q_i = σ(o_i) on row i, b_j = σ(i_j) on column j, exp(segment sums of log α) between.
  return core::linear_recurrence_coefficients(c.log_forget) *
         c.output.transpose(1, 2).unsqueeze(-1) * c.input.transpose(1, 2).unsqueeze(2);
}

torch::Tensor QLSTMImpl::values(const torch::Tensor& u) {
  return core_inputs(u).x.transpose(1, 2).unsqueeze(-1);
}

torch::Tensor QLSTMImpl::from_core(const torch::Tensor& u, const torch::Tensor& y_core) {
  auto c = core_inputs(u);
  return out_proj(c.gelu_gate * y_core.squeeze(-1).transpose(1, 2));
}

std::vector<torch::Tensor> QLSTMImpl::initial_state(int64_t batch,
                                                    const torch::TensorOptions& options) {
  std::vector<torch::Tensor> state{torch::zeros({batch, hidden_}, options)};
  if (conv) state.push_back(detail::short_conv_buffer(*conv, batch, options));
  return state;
}

torch::Tensor QLSTMImpl::step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) {
  TORCH_CHECK(u_t.dim() == 2 && u_t.size(1) == options_.d_model,
              "qlstm: step input must be (B, d_model), got ", u_t.sizes());
  TORCH_CHECK(state.size() == (conv ? 2u : 1u), "qlstm: state must come from initial_state()");
  Core c;
  auto gx = in_proj(u_t);
  c.gelu_gate = torch::gelu(gx.narrow(-1, 0, hidden_));
  c.x = gx.narrow(-1, hidden_, hidden_);
  if (conv) c.x = detail::short_conv_step(*conv, state[1], c.x);
  gate_values(c.x, c);
  state[0] = torch::exp(c.log_forget) * state[0] + c.input * c.x;  // h_t = α_t h_{t−1} + σ(i_t) x_t
  return out_proj(c.gelu_gate * c.output * state[0]);
}

int64_t QLSTMImpl::state_size(int64_t /*position*/) const {
  return hidden_ + (conv ? (options_.conv_size - 1) * hidden_ : 0);
}

core::Transition QLSTMImpl::transitions(const torch::Tensor& u) {
  auto c = core_inputs(u);
  core::Transition tr;
  tr.kind = core::TransitionKind::kDiagonal;
  tr.log_gate = c.log_forget.permute({0, 2, 1}).unsqueeze(-1).detach();  // one system per channel
  return tr;
}

}  // namespace seqlab::mixers
