// LSTM baseline, outside the coefficient-dynamics framework (spec/mixers.md §2.3).
//
// PyTorch nn.LSTM semantics, one layer, batch-first, h_0 = c_0 = 0, gate order (i, f, g, o) in
// the stacked weights:
//   i = sigma(W_ii x + b_ii + W_hi h + b_hi)    f = sigma(W_if x + b_if + W_hf h + b_hf)
//   g = tanh(W_ig x + b_ig + W_hg h + b_hg)     o = sigma(W_io x + b_io + W_ho h + b_ho)
//   c' = f * c + i * g,   h' = o * tanh(c'),   output y_t = h_t.
// Initialization: every weight and bias U(+-1/sqrt(hidden)) (§0.3), LibTorch's own LSTM init.
//
// Paths (§6.1; baselines have F and R only): forward runs torch::nn::LSTM; reference and step run
// the gate equations above with the same parameter tensors (torch_rnn.h). coefficients() throws.
// Parameters: weight_ih_l0 (4H, D_in), weight_hh_l0 (4H, H), bias_ih_l0 (4H), bias_hh_l0 (4H).
// Step state: {h, c}, each (B, H).
#pragma once
#include <torch/nn/modules/rnn.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "seqlab/mixers/torch_rnn.h"

namespace seqlab::mixers {

class LSTMMixerImpl : public TorchRNNMixer<torch::nn::LSTM> {
 public:
  // Throws seqlab::UserError when input_size or hidden_size < 1.
  LSTMMixerImpl(int64_t input_size, int64_t hidden_size);

 protected:
  int64_t state_tensors() const override { return 2; }
  torch::Tensor cell(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) override;
};
TORCH_MODULE(LSTMMixer);

}  // namespace seqlab::mixers
