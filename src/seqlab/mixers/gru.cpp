// GRU baseline (spec/mixers.md §2.3): torch::nn::GRU fast path and the explicit gate reference.
#include "seqlab/mixers/gru.h"

#include <torch/torch.h>

namespace seqlab::mixers {

GRUMixerImpl::GRUMixerImpl(int64_t input_size, int64_t hidden_size)
    : TorchRNNMixer("GRU", input_size, hidden_size) {
  // One layer, with biases, batch-first; LibTorch initializes every tensor U(+-1/sqrt(H)) (§0.3).
  wrap(torch::nn::GRU(
      torch::nn::GRUOptions(input_size_, hidden_size_).num_layers(1).bias(true).batch_first(true)));
}

torch::Tensor GRUMixerImpl::cell(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) {
  // §2.3: rows of the stacked (3H, .) weights and biases are the gates in the order r, z, n.
  const auto& h = state[0];
  const auto r = torch::sigmoid(input_part(0, x_t) + hidden_part(0, h));
  const auto z = torch::sigmoid(input_part(1, x_t) + hidden_part(1, h));
  const auto n = torch::tanh(input_part(2, x_t) + r * hidden_part(2, h));
  state[0] = (1 - z) * n + z * h;
  return state[0];
}

}  // namespace seqlab::mixers
