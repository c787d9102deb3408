// Shared shell of the recurrent baselines outside the coefficient-dynamics framework
// (spec/mixers.md §2.3): LSTM, GRU and Elman RNN, each wrapping one layer of LibTorch's batch-first
// torch::nn::{LSTM, GRU, RNN} (fused ATen kernels) as the fast path F.
//
// The wrapped module's own tensors are registered on this module under PyTorch's names
// (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0); the wrapped module is deliberately not
// registered as a child, so that a model holding the mixer as "lstm" exposes "lstm.weight_ih_l0"
// exactly as PyTorch's nn.LSTM would. Gate order in the stacked weights, initialization (every
// tensor U(±1/√hidden), §0.3) and the zero initial state are LibTorch's, i.e. PyTorch's.
//
// A subclass provides the gate equations as one step, cell(state, x_t); reference() and step()
// both run it, so R and the step API are the same plain-LibTorch code.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "seqlab/mixers/mixer.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {

template <typename Holder>
class TorchRNNMixer : public Mixer {
 public:
  // (B, T, input_size) -> (B, T, hidden_size): the hidden states h_1..h_T, via the wrapped module.
  torch::Tensor forward(const torch::Tensor& x) override {
    check_input(x, "forward");
    return std::get<0>(rnn_->forward(x));  // zero initial state (LibTorch's default)
  }

  // The gate equations one step at a time (slow, fp64 capable).
  torch::Tensor reference(const torch::Tensor& x) override {
    check_input(x, "reference");
    const int64_t B = x.size(0), T = x.size(1);
    if (T == 0) return torch::zeros({B, 0, hidden_size_}, x.options());
    auto state = initial_state(B, x.options());
    std::vector<torch::Tensor> outputs;
    outputs.reserve(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) outputs.push_back(cell(state, x.select(1, t)));
    return torch::stack(outputs, 1);
  }

  // Step API (spec §6.6): the state is {h} (GRU, Elman) or {h, c} (LSTM), each (B, hidden), zero
  // at the start. Differentiable.
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override {
    std::vector<torch::Tensor> state;
    for (int64_t s = 0; s < state_tensors(); ++s)
      state.push_back(torch::zeros({batch, hidden_size_}, options));
    return state;
  }
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) override {
    TORCH_CHECK(static_cast<int64_t>(state.size()) == state_tensors() && x_t.dim() == 2 &&
                    x_t.size(1) == input_size_,
                family_,
                "Mixer::step: expected the state from initial_state() and x_t of shape "
                "(B, ",
                input_size_, "), got x_t ", x_t.sizes());
    return cell(state, x_t);
  }

  // hidden floats per state tensor, independent of the position.
  int64_t state_size(int64_t position) const override {
    (void)position;
    return state_tensors() * hidden_size_;
  }
  Structure structure() const override { return Structure::kNotInFramework; }

  // Keep the wrapped module in step with this one (mode, flattened weights after a move).
  // Module::to converts the registered tensors in place (set_data), which the wrapped module
  // shares; its own to() then re-flattens its weight list.
  void train(bool on = true) override {
    Mixer::train(on);
    rnn_->train(on);
  }
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override {
    Mixer::to(device, dtype, non_blocking);
    rnn_->to(device, dtype, non_blocking);
  }
  void to(torch::Dtype dtype, bool non_blocking = false) override {
    Mixer::to(dtype, non_blocking);
    rnn_->to(dtype, non_blocking);
  }
  void to(torch::Device device, bool non_blocking = false) override {
    Mixer::to(device, non_blocking);
    rnn_->to(device, non_blocking);
  }

  int64_t input_size() const { return input_size_; }
  int64_t hidden_size() const { return hidden_size_; }

  // Shared with the wrapped module (same TensorImpl); rows stacked in the family's gate order.
  torch::Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  // Throws seqlab::UserError when a size is < 1 (before LibTorch sees it).
  TorchRNNMixer(std::string family, int64_t input_size, int64_t hidden_size)
      : family_(std::move(family)), input_size_(input_size), hidden_size_(hidden_size) {
    if (input_size_ < 1)
      throw UserError(family_ + ": input_size = " + std::to_string(input_size_) + " must be >= 1");
    if (hidden_size_ < 1)
      throw UserError(family_ + ": hidden_size = " + std::to_string(hidden_size_) +
                      " must be >= 1");
  }

  // Takes the built one-layer module and registers its tensors here under PyTorch's names.
  void wrap(Holder rnn) {
    rnn_ = std::move(rnn);
    auto params = rnn_->named_parameters();
    weight_ih = register_parameter("weight_ih_l0", params["weight_ih_l0"]);
    weight_hh = register_parameter("weight_hh_l0", params["weight_hh_l0"]);
    bias_ih = register_parameter("bias_ih_l0", params["bias_ih_l0"]);
    bias_hh = register_parameter("bias_hh_l0", params["bias_hh_l0"]);
  }

  // Number of (B, hidden) tensors in the recurrent state.
  virtual int64_t state_tensors() const = 0;
  // One step of the gate equations: replaces `state` by the next state and returns h_t (B, hidden).
  virtual torch::Tensor cell(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) = 0;

  // W_i· x + b_i· and W_h· h + b_h· for the gate rows [gate·H, (gate+1)·H) of the stacked weights.
  torch::Tensor input_part(int64_t gate, const torch::Tensor& x_t) const {
    return torch::linear(x_t, weight_ih.narrow(0, gate * hidden_size_, hidden_size_),
                         bias_ih.narrow(0, gate * hidden_size_, hidden_size_));
  }
  torch::Tensor hidden_part(int64_t gate, const torch::Tensor& h) const {
    return torch::linear(h, weight_hh.narrow(0, gate * hidden_size_, hidden_size_),
                         bias_hh.narrow(0, gate * hidden_size_, hidden_size_));
  }

  void check_input(const torch::Tensor& x, const char* path) const {
    TORCH_CHECK(x.dim() == 3 && x.size(2) == input_size_, family_, "Mixer::", path,
                ": expected x of shape (B, T, ", input_size_, "), got ", x.sizes());
    TORCH_CHECK(x.scalar_type() == weight_ih.scalar_type(), family_, "Mixer::", path, ": x is ",
                x.scalar_type(), " but the parameters are ", weight_ih.scalar_type());
  }

  std::string family_;
  int64_t input_size_;
  int64_t hidden_size_;
  Holder rnn_{nullptr};
};

}  // namespace seqlab::mixers
