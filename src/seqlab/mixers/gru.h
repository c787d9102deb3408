// GRU baseline, outside the coefficient-dynamics framework (spec/mixers.md §2.3).
//
// PyTorch nn.GRU semantics, one layer, batch-first, h_0 = 0, gate order (r, z, n) in the stacked
// weights:
//   r = sigma(W_ir x + b_ir + W_hr h + b_hr)
//   z = sigma(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      (b_hn inside the reset product)
//   h' = (1 - z) * n + z * h,   output y_t = h_t.
// Initialization: every weight and bias U(+-1/sqrt(hidden)) (§0.3), LibTorch's own GRU init.
//
// Paths (§6.1; baselines have F and R only): forward runs torch::nn::GRU (fused ATen kernel);
// reference and step run the gate equations above on the same parameter tensors (torch_rnn.h).
// coefficients() throws. Parameters: weight_ih_l0 (3H, D_in), weight_hh_l0 (3H, H), bias_ih_l0
// (3H), bias_hh_l0 (3H). Step state: {h} (B, H).
#pragma once
#include <torch/nn/modules/rnn.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "seqlab/mixers/torch_rnn.h"

namespace seqlab::mixers {

class GRUMixerImpl : public TorchRNNMixer<torch::nn::GRU> {
 public:
  // Throws seqlab::UserError when input_size or hidden_size < 1.
  GRUMixerImpl(int64_t input_size, int64_t hidden_size);

 protected:
  int64_t state_tensors() const override { return 1; }
  torch::Tensor cell(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) override;
};
TORCH_MODULE(GRUMixer);

}  // namespace seqlab::mixers
