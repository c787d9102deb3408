// Elman RNN baseline (spec/mixers.md §2.3): torch::nn::RNN fast path and the explicit reference.
#include "seqlab/mixers/elman.h"

#include <torch/torch.h>

namespace seqlab::mixers {

ElmanMixerImpl::ElmanMixerImpl(int64_t input_size, int64_t hidden_size, bool relu)
    : TorchRNNMixer(relu ? "Elman(relu)" : "Elman(tanh)", input_size, hidden_size), relu_(relu) {
  // One layer, with biases, batch-first; LibTorch initializes every tensor U(+-1/sqrt(H)) (§0.3).
  auto options =
      torch::nn::RNNOptions(input_size_, hidden_size_).num_layers(1).bias(true).batch_first(true);
  if (relu_)
    options.nonlinearity(torch::kReLU);
  else
    options.nonlinearity(torch::kTanh);
  wrap(torch::nn::RNN(options));
}

torch::Tensor ElmanMixerImpl::cell(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) {
  const auto pre = input_part(0, x_t) + hidden_part(0, state[0]);
  state[0] = relu_ ? torch::relu(pre) : torch::tanh(pre);
  return state[0];
}

}  // namespace seqlab::mixers
