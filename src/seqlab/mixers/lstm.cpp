// LSTM baseline (spec/mixers.md §2.3): torch::nn::LSTM fast path and the explicit gate reference.
#include "seqlab/mixers/lstm.h"

#include <torch/torch.h>

namespace seqlab::mixers {

LSTMMixerImpl::LSTMMixerImpl(int64_t input_size, int64_t hidden_size)
    : TorchRNNMixer("LSTM", input_size, hidden_size) {
  // One layer, with biases, batch-first; LibTorch initializes every tensor U(+-1/sqrt(H)) (§0.3).
  wrap(torch::nn::LSTM(torch::nn::LSTMOptions(input_size_, hidden_size_)
                           .num_layers(1)
                           .bias(true)
                           .batch_first(true)));
}

torch::Tensor LSTMMixerImpl::cell(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) {
  // §2.3: rows of the stacked (4H, .) weights and biases are the gates in the order i, f, g, o.
  auto pre = [&](int64_t gate) { return input_part(gate, x_t) + hidden_part(gate, state[0]); };
  const auto i = torch::sigmoid(pre(0));
  const auto f = torch::sigmoid(pre(1));
  const auto g = torch::tanh(pre(2));
  const auto o = torch::sigmoid(pre(3));
  state[1] = f * state[1] + i * g;       // c'
  state[0] = o * torch::tanh(state[1]);  // h'
  return state[0];
}

}  // namespace seqlab::mixers
