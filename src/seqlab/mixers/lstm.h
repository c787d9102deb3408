// LSTM baseline, outside the coefficient-dynamics framework (spec/mixers.md §2.3).
//
// PyTorch nn.LSTM semantics, one layer, batch-first, h_0 = c_0 = 0, gate order (i, f, g, o) in
// the stacked weights:
//   i = sigma(W_ii x + b_ii + W_hi h + b_hi)    f = sigma(W_if x + b_if + W_hf h + b_hf)
//   g = tanh(W_ig x + b_ig + W_hg h + b_hg)     o = sigma(W_io x + b_io + W_ho h + b_ho)
//   c' = f * c + i * g,   h' = o * tanh(c'),   output y_t = h_t.
// Initialization: every weight and bias U(+-1/sqrt(hidden)) (§0.3), LibTorch's own LSTM init.
//
// Paths (§6.1; baselines have F and R only): forward runs torch::nn::LSTM; reference runs the
// gate equations above step by step with the same parameter tensors. coefficients() throws.
//
// Parameters are registered on this module under PyTorch's names (weight_ih_l0 (4H, D_in),
// weight_hh_l0 (4H, H), bias_ih_l0 (4H), bias_hh_l0 (4H)). They are the very tensors of the
// wrapped torch::nn::LSTM, which is deliberately not registered as a child, so that a model
// holding this mixer as "lstm" exposes "lstm.weight_ih_l0" exactly as PyTorch's nn.LSTM would.
#pragma once
#include <torch/nn/modules/rnn.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

#include "seqlab/mixers/mixer.h"

namespace seqlab::mixers {

class LSTMMixerImpl : public Mixer {
 public:
  // Throws seqlab::UserError when input_size or hidden_size < 1.
  LSTMMixerImpl(int64_t input_size, int64_t hidden_size);

  // x: (B, T, input_size) -> (B, T, hidden_size), the hidden states h_1..h_T.
  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor reference(const torch::Tensor& x) override;
  // (h, c) per sequence.
  int64_t state_size(int64_t position) const override {
    (void)position;
    return 2 * hidden_size_;
  }
  Structure structure() const override { return Structure::kNotInFramework; }

  // Keep the wrapped LSTM in step with this module (mode, flattened weights after a move).
  void train(bool on = true) override;
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;

  int64_t input_size() const { return input_size_; }
  int64_t hidden_size() const { return hidden_size_; }

  // Shared with the wrapped torch::nn::LSTM (same TensorImpl).
  torch::Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 private:
  void check_input(const torch::Tensor& x, const char* path) const;

  int64_t input_size_;
  int64_t hidden_size_;
  torch::nn::LSTM lstm_{nullptr};
};
TORCH_MODULE(LSTMMixer);

}  // namespace seqlab::mixers
