// Position-wise MLP baseline (spec/mixers.md §2.3). See mlp.h.
#include "seqlab/mixers/mlp.h"

#include <torch/torch.h>

#include <cmath>
#include <string>

#include "seqlab/util/error.h"

namespace seqlab::mixers {

MLPMixerImpl::MLPMixerImpl(int64_t d_model, int64_t hidden_size)
    : d_model_(d_model), hidden_size_(hidden_size) {
  if (d_model_ < 1) throw UserError("mlp: d_model = " + std::to_string(d_model_) + " must be >= 1");
  if (hidden_size_ < 1)
    throw UserError("mlp: hidden width = " + std::to_string(hidden_size_) +
                    " must be >= 1 (model.expand · model.d_model)");
  fc1 = register_module("fc1", torch::nn::Linear(d_model_, hidden_size_));
  fc2 = register_module("fc2", torch::nn::Linear(hidden_size_, d_model_));
}

void MLPMixerImpl::check_input(const torch::Tensor& x, int64_t dims, const char* path) const {
  TORCH_CHECK(x.dim() == dims && x.size(-1) == d_model_, "MLPMixer::", path, ": expected x of ",
              dims == 3 ? "shape (B, T, " : "shape (B, ", d_model_, "), got ", x.sizes());
}

torch::Tensor MLPMixerImpl::forward(const torch::Tensor& x) {
  check_input(x, 3, "forward");
  return fc2(torch::gelu(fc1(x)));  // exact (erf) GELU, LibTorch's default
}

torch::Tensor MLPMixerImpl::reference(const torch::Tensor& x) {
  check_input(x, 3, "reference");
  const auto h = torch::matmul(x, fc1->weight.t()) + fc1->bias;
  const auto a = 0.5 * h * (1 + torch::erf(h / std::sqrt(2.0)));  // GELU = x·Φ(x) (§0.2)
  return torch::matmul(a, fc2->weight.t()) + fc2->bias;
}

std::vector<torch::Tensor> MLPMixerImpl::initial_state(int64_t batch,
                                                       const torch::TensorOptions& options) {
  (void)batch;
  (void)options;
  return {};
}

torch::Tensor MLPMixerImpl::step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) {
  TORCH_CHECK(state.empty(), "MLPMixer::step: expected the (empty) state from initial_state()");
  check_input(x_t, 2, "step");
  return forward(x_t.unsqueeze(1)).squeeze(1);
}

}  // namespace seqlab::mixers
