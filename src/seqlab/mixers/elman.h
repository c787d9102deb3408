// Elman RNN baseline, outside the coefficient-dynamics framework (spec/mixers.md §2.3).
//
// PyTorch nn.RNN semantics, one layer, batch-first, h_0 = 0:
//   h' = act(W_ih x + b_ih + W_hh h + b_hh),   act = tanh (nn.RNN default) or relu,
//   output y_t = h_t.
// Initialization: every weight and bias U(+-1/sqrt(hidden)) (§0.3), LibTorch's own RNN init.
//
// Paths (§6.1; baselines have F and R only): forward runs torch::nn::RNN (fused ATen kernel);
// reference and step run the equation above on the same parameter tensors (torch_rnn.h).
// coefficients() throws. Parameters: weight_ih_l0 (H, D_in), weight_hh_l0 (H, H), bias_ih_l0 (H),
// bias_hh_l0 (H). Step state: {h} (B, H).
#pragma once
#include <torch/nn/modules/rnn.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "seqlab/mixers/torch_rnn.h"

namespace seqlab::mixers {

class ElmanMixerImpl : public TorchRNNMixer<torch::nn::RNN> {
 public:
  // Throws seqlab::UserError when input_size or hidden_size < 1.
  ElmanMixerImpl(int64_t input_size, int64_t hidden_size, bool relu = false);

  bool relu() const { return relu_; }

 protected:
  int64_t state_tensors() const override { return 1; }
  torch::Tensor cell(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) override;

 private:
  bool relu_;
};
TORCH_MODULE(ElmanMixer);

}  // namespace seqlab::mixers
