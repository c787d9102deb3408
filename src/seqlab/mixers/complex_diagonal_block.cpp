// Complex-diagonal zoo mixer (spec/mixers.md §2.2.21). See complex_diagonal_block.h.
#include "seqlab/mixers/complex_diagonal_block.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "seqlab/core/complex_diag_scan.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

ComplexDiagonalBlockImpl::ComplexDiagonalBlockImpl(const ZooOptions& o)
    : N_(o.state_size), scale_(o.scale_eigv) {
  if (o.d_model < 1) throw UserError("complex_diagonal_block: model.d_model must be >= 1");
  if (o.state_size < 1) throw UserError("complex_diagonal_block: model.state_size must be >= 1");
  if (!std::isfinite(o.scale_eigv))
    throw UserError("complex_diagonal_block: model.scale_eigv must be finite");
  ssm = register_module(
      "ssm", ComplexDiagonalSSM(
                 ComplexDiagonalSSMOptions(o.d_model, N_).with_b(true).scale_eigv(o.scale_eigv)));
  out_proj = register_module("out_proj", torch::nn::Linear(2 * N_, o.d_model));
}

torch::Tensor ComplexDiagonalBlockImpl::forward(const torch::Tensor& u) {
  return out_proj(ssm->forward(u));
}

torch::Tensor ComplexDiagonalBlockImpl::reference(const torch::Tensor& u) {
  return out_proj(ssm->reference(u));
}

torch::Tensor ComplexDiagonalBlockImpl::coefficients(const torch::Tensor& u) {
  // The SSM's layout (B, 2N, T, T + 1) has the initial state as column 0 (virtual token j = 0);
  // the T×T matrix M is the rest (§1.4).
  return ssm->coefficients(u).narrow(-1, 1, u.size(1));
}

torch::Tensor ComplexDiagonalBlockImpl::values(const torch::Tensor& u) {
  return torch::ones({u.size(0), 2 * N_, u.size(1), 1}, u.options());  // value ≡ 1
}

torch::Tensor ComplexDiagonalBlockImpl::scaled_transition(const torch::Tensor& u) {
  auto lambda = ssm->transition(u);
  return scale_ != 1.0 ? lambda * scale_ : lambda;
}

torch::Tensor ComplexDiagonalBlockImpl::from_core(const torch::Tensor& u,
                                                  const torch::Tensor& y_core) {
  // Initial-state term Φ(i, 0) x_0: the scan with no input from x_0 (§1.4).
  auto x0_term = core::complex_diag_scan(scaled_transition(u), {}, ssm->initial_state());
  auto states = y_core.squeeze(-1).permute({0, 2, 1}) +
                torch::cat({x0_term.select(-1, 0), x0_term.select(-1, 1)}, -1);  // (B, T, 2N)
  return out_proj(states);
}

core::Transition ComplexDiagonalBlockImpl::transitions(const torch::Tensor& u) {
  core::Transition tr;
  tr.kind = core::TransitionKind::kComplexDiagonal;
  tr.lambda = scaled_transition(u).detach();
  return tr;
}

std::vector<torch::Tensor> ComplexDiagonalBlockImpl::initial_state(
    int64_t batch, const torch::TensorOptions& options) {
  return {ssm->initial_state().to(options).unsqueeze(0).expand({batch, N_, 2}).clone()};
}

torch::Tensor ComplexDiagonalBlockImpl::step(std::vector<torch::Tensor>& state,
                                             const torch::Tensor& u_t) {
  TORCH_CHECK(state.size() == 1,
              "complex_diagonal_block: step expects the state from initial_state()");
  const auto lambda = scaled_transition(u_t.unsqueeze(1)).squeeze(1);  // (B, N, 2)
  const auto e = ssm->embedding->forward(u_t);                         // (B, E)
  const auto kr = torch::matmul(e, ssm->B_re.t()), ki = torch::matmul(e, ssm->B_im.t());
  const auto lr = lambda.select(-1, 0), li = lambda.select(-1, 1);
  const auto xr = state[0].select(-1, 0), xi = state[0].select(-1, 1);
  // x_t = λ_t x_{t−1} + k_t in real pairs.
  const auto nr = lr * xr - li * xi + kr, ni = lr * xi + li * xr + ki;
  state[0] = torch::stack({nr, ni}, -1);
  return out_proj(torch::cat({nr, ni}, -1));
}

int64_t ComplexDiagonalBlockImpl::state_size(int64_t position) const {
  (void)position;
  return 2 * N_;
}

std::shared_ptr<Mixer> make_complex_diagonal_block(const ZooOptions& o) {
  return std::make_shared<ComplexDiagonalBlockImpl>(o);
}

}  // namespace seqlab::mixers
