#include "seqlab/mixers/gated_mixer.h"

#include <torch/torch.h>

namespace seqlab::mixers {

torch::Tensor GatedMixer::forward(const torch::Tensor& x) {
  auto c = core_inputs(x);
  auto y = core::gated_scan(options_.path, c.q, c.k, c.v, c.g, {}, options_.chunk_size).y;
  return from_core(x, y);
}

torch::Tensor GatedMixer::reference(const torch::Tensor& x) {
  auto c = core_inputs(x);
  return from_core(x, core::gated_scan_reference(c.q, c.k, c.v, c.g).y);
}

torch::Tensor GatedMixer::coefficients(const torch::Tensor& x) {
  auto c = core_inputs(x);
  return core::gated_scan_coefficients(c.q, c.k, c.g);
}

core::Transition GatedMixer::transitions(const torch::Tensor& x) {
  auto g = core_inputs(x).g;
  core::Transition tr;
  if (!g.defined()) return tr;  // identity
  tr.kind = g.size(-1) == 1 ? core::TransitionKind::kScalar : core::TransitionKind::kDiagonal;
  tr.log_gate = g.detach();
  return tr;
}

std::vector<torch::Tensor> GatedMixer::initial_state(int64_t batch,
                                                     const torch::TensorOptions& options) {
  return {torch::zeros({batch, state_heads(), state_rows(), state_cols()}, options),
          torch::zeros({batch, 0, options_.d_model}, options),
          torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64))};
}

torch::Tensor GatedMixer::step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) {
  TORCH_CHECK(state.size() == 3, name(), ": step expects the state from initial_state()");
  auto window = torch::cat({state[1], x_t.unsqueeze(1)}, 1);
  const int64_t t = state[2].item<int64_t>();
  auto c = core_inputs(window, t - (window.size(1) - 1));
  const int64_t last = window.size(1) - 1;
  auto r = core::gated_scan_step(c.q.select(2, last), c.k.select(2, last), c.v.select(2, last),
                                 c.g.defined() ? c.g.select(2, last) : torch::Tensor(), state[0]);
  state[0] = r.state;
  const int64_t keep = std::min<int64_t>(receptive_field() - 1, window.size(1));
  state[1] = window.narrow(1, window.size(1) - keep, keep);
  state[2] = torch::full({}, t + 1, torch::TensorOptions().dtype(torch::kInt64));
  // Post-processing may read pre-processed inputs (e.g. the skip D·conv(x)), so it runs on the
  // whole window with the core output placed at the last position.
  auto before = torch::zeros({r.y.size(0), r.y.size(1), last, r.y.size(2)}, r.y.options());
  auto y_window = torch::cat({before, r.y.unsqueeze(2)}, 2);
  return from_core(window, y_window).select(1, last);
}

}  // namespace seqlab::mixers
