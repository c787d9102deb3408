// DeltaNet and Gated DeltaNet (spec/mixers.md §2.2.17, §2.2.18). See deltanet.h.
#include "seqlab/mixers/deltanet.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "seqlab/core/delta_scan.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace {

const char* variant_name(bool gated) {
  return gated ? "gated_deltanet" : "deltanet";
}

// Bad sizes are user errors naming the option and what it accepts.
void validate(const ZooOptions& o, bool gated) {
  const std::string who = variant_name(gated);
  auto fail = [&](const std::string& what) { throw UserError(who + ": " + what); };
  if (o.d_model < 1) fail("d_model must be >= 1, got " + std::to_string(o.d_model));
  if (o.heads < 1) fail("heads must be >= 1, got " + std::to_string(o.heads));
  if (o.head_dim < 0) {
    fail("head_dim must be >= 1, or 0 for d_model / heads, got " + std::to_string(o.head_dim));
  }
  if (o.head_dim == 0 && o.d_model % o.heads != 0) {
    fail("heads must divide d_model = " + std::to_string(o.d_model) +
         " when head_dim = 0 (d_model / heads), got heads = " + std::to_string(o.heads) +
         "; set head_dim >= 1 or use a divisor of d_model");
  }
  if (o.conv_size < 0) {
    fail("conv_size must be >= 1, or 0 for no short conv, got " + std::to_string(o.conv_size));
  }
  if (o.chunk_size < 1) fail("chunk_size must be >= 1, got " + std::to_string(o.chunk_size));
}

torch::nn::Linear linear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

// Projection → short conv (if any) → SiLU (§2.2.17 step 2).
torch::Tensor conv_features(torch::nn::Linear proj, ShortConv conv, const torch::Tensor& x) {
  auto h = proj->forward(x);
  if (!conv.is_empty()) h = conv->forward(h);
  return torch::silu(h);
}

// One step of a short conv in step mode (§5.3): window = [buffer, x_t] (B, K, C),
// y = Σ_m w[c, m] window[:, m, c] (+ bias); the buffer keeps the last K − 1 inputs.
torch::Tensor conv_step(ShortConv conv, torch::Tensor& buffer, const torch::Tensor& x_t) {
  auto window = torch::cat({buffer, x_t.unsqueeze(1)}, 1);
  auto y = (window * conv->conv->weight.squeeze(1).t()).sum(1);  // weight (C, 1, K) → (K, C)
  if (conv->conv->bias.defined()) y = y + conv->conv->bias;
  buffer = window.narrow(1, 1, conv->kernel() - 1);
  return y;
}

// Projection → conv step (if any) → SiLU, for one token x_t (B, d); `buffer` is updated.
torch::Tensor conv_features_step(torch::nn::Linear proj, ShortConv conv, torch::Tensor* buffer,
                                 const torch::Tensor& x_t) {
  auto h = proj->forward(x_t);
  if (!conv.is_empty()) h = conv_step(conv, *buffer, h);
  return torch::silu(h);
}

}  // namespace

DeltaNetImpl::DeltaNetImpl(const ZooOptions& options, bool gated)
    : options_(options), gated_(gated) {
  validate(options_, gated_);
  const int64_t d = options_.d_model, H = options_.heads;
  heads_ = H;
  key_dim_ = options_.head_dim > 0 ? options_.head_dim : d / H;
  value_dim_ = key_dim_;  // expand_v = 1
  const int64_t dk = H * key_dim_, dv = H * value_dim_;
  // PyTorch default initialization for every Linear and Conv1d (§0.3).
  q_proj = register_module("q_proj", linear(d, dk));
  k_proj = register_module("k_proj", linear(d, dk));
  v_proj = register_module("v_proj", linear(d, dv));
  b_proj = register_module("b_proj", linear(d, H));
  if (options_.conv_size > 0) {
    q_conv = register_module("q_conv", ShortConv(dk, options_.conv_size, /*bias=*/false));
    k_conv = register_module("k_conv", ShortConv(dk, options_.conv_size, /*bias=*/false));
    v_conv = register_module("v_conv", ShortConv(dv, options_.conv_size, /*bias=*/false));
  }
  o_norm = register_module("o_norm", RMSNorm(value_dim_, 1e-5));
  o_proj = register_module("o_proj", linear(dv, d));
  if (!gated_) return;
  a_proj = register_module("a_proj", linear(d, H));
  g_proj = register_module("g_proj", linear(d, dv));
  // §2.2.18 "Initialization": A ~ U(0, 16), A_log = log A; dt = max(exp(U[log 1e-3, log 1e-1]),
  // 1e-4), dt_bias = softplus⁻¹(dt). Both are mixer-owned (§0.3): no weight decay, no re-init.
  torch::NoGradGuard no_grad;
  A_log = register_parameter("A_log", torch::empty({H}).uniform_(0.0, 16.0).log());
  auto dt = torch::exp(torch::empty({H}).uniform_(std::log(1e-3), std::log(1e-1))).clamp_min(1e-4);
  dt_bias = register_parameter("dt_bias", softplus_inverse(dt));
}

void DeltaNetImpl::check_input(const torch::Tensor& x, int64_t dims) const {
  TORCH_CHECK(x.defined() && x.dim() == dims && x.size(-1) == options_.d_model,
              variant_name(gated_), ": input must be ", dims == 3 ? "(B, T, d)" : "(B, d)",
              " with d = ", options_.d_model, ", got ",
              x.defined() ? x.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(x.scalar_type() == o_proj->weight.scalar_type(), variant_name(gated_),
              ": input dtype ", x.scalar_type(), " differs from the module dtype ",
              o_proj->weight.scalar_type());
}

// β = σ(b_proj u) (§2.2.17 step 4), × 2 with allow_neg_eigval: β ∈ (0, 2).
torch::Tensor DeltaNetImpl::beta_of(const torch::Tensor& x) {
  auto beta = torch::sigmoid(b_proj->forward(x));
  return options_.allow_neg_eigval ? 2.0 * beta : beta;
}

// log a = −exp(A_log) · softplus(a_proj u + dt_bias) (§2.2.18), computed in log form (§3.4).
torch::Tensor DeltaNetImpl::log_gate_of(const torch::Tensor& x) {
  return -torch::exp(A_log) * torch::softplus(a_proj->forward(x) + dt_bias);
}

// q ← n^{−1/2} L2norm(q) per head (§2.2.17 steps 3 and 6).
torch::Tensor DeltaNetImpl::normalize_query(const torch::Tensor& q_heads) const {
  return l2norm(q_heads) * (1.0 / std::sqrt(static_cast<double>(key_dim_)));
}

DeltaNetImpl::CoreInputs DeltaNetImpl::core_inputs(const torch::Tensor& x) {
  check_input(x, 3);
  const int64_t H = heads_;
  CoreInputs c;
  c.q = normalize_query(split_heads(conv_features(q_proj, q_conv, x), H));
  c.k = l2norm(split_heads(conv_features(k_proj, k_conv, x), H));
  c.v = split_heads(conv_features(v_proj, v_conv, x), H);
  c.beta = beta_of(x).transpose(1, 2);  // (B, T, H) → (B, H, T)
  if (gated_) c.log_a = log_gate_of(x).transpose(1, 2);
  return c;
}

torch::Tensor DeltaNetImpl::forward(const torch::Tensor& x) {
  auto c = core_inputs(x);
  auto r = core::delta_scan(options_.path, c.q, c.k, c.v, c.beta, c.log_a, {}, options_.chunk_size);
  return from_core(x, r.y);
}

torch::Tensor DeltaNetImpl::reference(const torch::Tensor& x) {
  auto c = core_inputs(x);
  return from_core(x, core::delta_scan_reference(c.q, c.k, c.v, c.beta, c.log_a).y);
}

torch::Tensor DeltaNetImpl::coefficients(const torch::Tensor& x) {
  auto c = core_inputs(x);
  return core::delta_scan_coefficients(c.q, c.k, c.beta, c.log_a);
}

torch::Tensor DeltaNetImpl::values(const torch::Tensor& x) {
  check_input(x, 3);
  return split_heads(conv_features(v_proj, v_conv, x), heads_);
}

// Per-head RMSNorm, then (Gated DeltaNet) ⊙ swish(g) (§2.2.17 step 7, §5.4), then o_proj.
torch::Tensor DeltaNetImpl::from_core(const torch::Tensor& x, const torch::Tensor& y_core) {
  check_input(x, 3);
  const int64_t B = x.size(0), T = x.size(1), H = heads_, dv = value_dim_;
  TORCH_CHECK(y_core.defined() && y_core.dim() == 4 && y_core.size(0) == B && y_core.size(1) == H &&
                  y_core.size(2) == T && y_core.size(3) == dv,
              variant_name(gated_), ": y_core must be (B, H, T, dv) = (", B, ", ", H, ", ", T, ", ",
              dv, "), got ", y_core.defined() ? y_core.sizes() : torch::IntArrayRef{});
  auto o = o_norm->forward(y_core.permute({0, 2, 1, 3}));  // (B, T, H, dv)
  if (gated_) o = o * torch::silu(g_proj->forward(x).reshape({B, T, H, dv}));
  return o_proj->forward(o.reshape({B, T, H * dv}));
}

std::vector<torch::Tensor> DeltaNetImpl::initial_state(int64_t batch,
                                                       const torch::TensorOptions& options) {
  const int64_t H = heads_, n = key_dim_, dv = value_dim_;
  std::vector<torch::Tensor> state{torch::zeros({batch, H, n, dv}, options)};
  if (options_.conv_size > 0) {
    const int64_t K1 = options_.conv_size - 1;
    state.push_back(torch::zeros({batch, K1, H * n}, options));
    state.push_back(torch::zeros({batch, K1, H * n}, options));
    state.push_back(torch::zeros({batch, K1, H * dv}, options));
  }
  return state;
}

torch::Tensor DeltaNetImpl::step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) {
  check_input(x_t, 2);
  const size_t expected = options_.conv_size > 0 ? 4 : 1;
  TORCH_CHECK(state.size() == expected, variant_name(gated_), ": state must hold ", expected,
              " tensors (from initial_state), got ", state.size());
  const int64_t B = x_t.size(0), H = heads_, n = key_dim_, dv = value_dim_;
  const bool conv = options_.conv_size > 0;
  auto q = conv_features_step(q_proj, q_conv, conv ? &state[1] : nullptr, x_t);
  auto k = conv_features_step(k_proj, k_conv, conv ? &state[2] : nullptr, x_t);
  auto v = conv_features_step(v_proj, v_conv, conv ? &state[3] : nullptr, x_t);
  auto r = core::delta_scan_step(normalize_query(q.reshape({B, H, n})),
                                 l2norm(k.reshape({B, H, n})), v.reshape({B, H, dv}), beta_of(x_t),
                                 gated_ ? log_gate_of(x_t) : torch::Tensor(), state[0]);
  state[0] = r.state;
  return from_core(x_t.unsqueeze(1), r.y.unsqueeze(2)).squeeze(1);
}

int64_t DeltaNetImpl::state_size(int64_t /*position*/) const {
  const int64_t H = heads_, n = key_dim_, dv = value_dim_;
  const int64_t conv = options_.conv_size > 0 ? (options_.conv_size - 1) * (2 * H * n + H * dv) : 0;
  return H * n * dv + conv;
}

std::shared_ptr<Mixer> make_deltanet(const ZooOptions& options) {
  return std::make_shared<DeltaNetImpl>(options);
}

std::shared_ptr<Mixer> make_gated_deltanet(const ZooOptions& options) {
  return std::make_shared<GatedDeltaNetImpl>(options);
}

core::Transition DeltaNetImpl::transitions(const torch::Tensor& x) {
  auto c = core_inputs(x);
  core::Transition tr;
  tr.kind = core::TransitionKind::kDeltaRule;
  tr.beta = c.beta.detach();
  tr.keys = c.k.detach();
  if (c.log_a.defined()) tr.log_alpha = c.log_a.detach();
  return tr;
}

}  // namespace seqlab::mixers
