// SD-SSM zoo mixer (spec/mixers.md §2.2.20). See sdssm_block.h.
#include "seqlab/mixers/sdssm_block.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "seqlab/util/error.h"

namespace seqlab::mixers {

SDSSMBlockImpl::SDSSMBlockImpl(const ZooOptions& o)
    : N_(o.state_size), renorm_state_(o.renorm_state) {
  if (o.d_model < 1) throw UserError("sdssm_block: model.d_model must be >= 1");
  if (o.state_size < 1) throw UserError("sdssm_block: model.state_size must be >= 1");
  if (o.dict_size < 1) throw UserError("sdssm_block: model.dict_size must be >= 1");
  if (!std::isfinite(o.lp) || o.lp < 1.0)
    throw UserError("sdssm_block: model.lp = " + std::to_string(o.lp) +
                    " must be >= 1 (column Lp norm)");
  ssm = register_module("ssm", SDSSM(SDSSMOptions(o.d_model, o.state_size, o.dict_size).p(o.lp)));
  norm = register_module(
      "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.state_size}).eps(1e-5)));
  out_proj = register_module("out_proj", torch::nn::Linear(o.state_size, o.d_model));
}

torch::Tensor SDSSMBlockImpl::readout(const torch::Tensor& x) {
  return out_proj(norm(x));
}

// With renorm_state, inference past one chunk scans with the power-of-two rescaling of §3.4
// (dense_scan_renormalized): LayerNorm is scale-invariant, so the output is the raw-state block's
// up to LayerNorm's ε, and stays finite where the raw float32 state overflows.
torch::Tensor SDSSMBlockImpl::forward(const torch::Tensor& u) {
  if (!renorm_state_ || torch::GradMode::is_enabled() || u.dim() != 3 || u.size(1) <= kRenormChunk)
    return readout(ssm->forward(u));
  return readout(ssm->forward_renormalized(u));
}

torch::Tensor SDSSMBlockImpl::reference(const torch::Tensor& u) {
  return readout(ssm->reference(u));
}

torch::Tensor SDSSMBlockImpl::coefficients(const torch::Tensor& u) {
  return ssm->coefficients(u);  // (B, N, T, T)
}

torch::Tensor SDSSMBlockImpl::values(const torch::Tensor& u) {
  return torch::ones({u.size(0), N_, u.size(1), 1}, u.options());  // value ≡ 1
}

torch::Tensor SDSSMBlockImpl::from_core(const torch::Tensor& u, const torch::Tensor& y_core) {
  (void)u;
  return readout(y_core.squeeze(-1).permute({0, 2, 1}));  // (B, N, T, 1) -> states (B, T, N)
}

core::Transition SDSSMBlockImpl::transitions(const torch::Tensor& u) {
  core::Transition tr;
  tr.kind = core::TransitionKind::kDense;
  tr.dense = ssm->build_transitions(u).detach();
  return tr;
}

std::vector<torch::Tensor> SDSSMBlockImpl::initial_state(int64_t batch,
                                                         const torch::TensorOptions& options) {
  return {torch::zeros({batch, N_}, options)};  // x_0 = 0
}

torch::Tensor SDSSMBlockImpl::step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) {
  TORCH_CHECK(state.size() == 1, "sdssm_block: step expects the state from initial_state()");
  const auto a = ssm->build_transitions(u_t);  // (B, N, N)
  state[0] = torch::matmul(a, state[0].unsqueeze(-1)).squeeze(-1) + ssm->B->forward(u_t);
  return readout(state[0]);
}

int64_t SDSSMBlockImpl::state_size(int64_t position) const {
  (void)position;
  return N_;
}

std::shared_ptr<Mixer> make_sdssm_block(const ZooOptions& o) {
  return std::make_shared<SDSSMBlockImpl>(o);
}

}  // namespace seqlab::mixers
