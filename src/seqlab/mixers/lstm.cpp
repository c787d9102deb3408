// LSTM baseline (spec/mixers.md §2.3): torch::nn::LSTM fast path and the explicit gate reference.
#include "seqlab/mixers/lstm.h"

#include <torch/torch.h>

#include <string>
#include <vector>

#include "seqlab/util/error.h"

namespace seqlab::mixers {

LSTMMixerImpl::LSTMMixerImpl(int64_t input_size, int64_t hidden_size)
    : input_size_(input_size), hidden_size_(hidden_size) {
  if (input_size_ < 1)
    throw UserError("LSTM: input_size = " + std::to_string(input_size_) + " must be >= 1");
  if (hidden_size_ < 1)
    throw UserError("LSTM: hidden_size = " + std::to_string(hidden_size_) + " must be >= 1");
  // One layer, with biases, batch-first; LibTorch initializes every tensor U(+-1/sqrt(H)) (§0.3).
  lstm_ = torch::nn::LSTM(
      torch::nn::LSTMOptions(input_size_, hidden_size_).num_layers(1).bias(true).batch_first(true));
  // Register the LSTM's own tensors here under PyTorch's names (see lstm.h).
  weight_ih = register_parameter("weight_ih_l0", lstm_->named_parameters()["weight_ih_l0"]);
  weight_hh = register_parameter("weight_hh_l0", lstm_->named_parameters()["weight_hh_l0"]);
  bias_ih = register_parameter("bias_ih_l0", lstm_->named_parameters()["bias_ih_l0"]);
  bias_hh = register_parameter("bias_hh_l0", lstm_->named_parameters()["bias_hh_l0"]);
}

void LSTMMixerImpl::train(bool on) {
  Mixer::train(on);
  lstm_->train(on);
}

// Module::to converts the registered tensors in place (set_data), which the wrapped LSTM shares;
// its own to() then re-flattens its weight list.
void LSTMMixerImpl::to(torch::Device device, torch::Dtype dtype, bool non_blocking) {
  Mixer::to(device, dtype, non_blocking);
  lstm_->to(device, dtype, non_blocking);
}

void LSTMMixerImpl::to(torch::Dtype dtype, bool non_blocking) {
  Mixer::to(dtype, non_blocking);
  lstm_->to(dtype, non_blocking);
}

void LSTMMixerImpl::to(torch::Device device, bool non_blocking) {
  Mixer::to(device, non_blocking);
  lstm_->to(device, non_blocking);
}

void LSTMMixerImpl::check_input(const torch::Tensor& x, const char* path) const {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == input_size_, "LSTMMixer::", path,
              ": expected x of shape (B, T, ", input_size_, "), got ", x.sizes());
  TORCH_CHECK(x.scalar_type() == weight_ih.scalar_type(), "LSTMMixer::", path, ": x is ",
              x.scalar_type(), " but the parameters are ", weight_ih.scalar_type());
}

torch::Tensor LSTMMixerImpl::forward(const torch::Tensor& x) {
  check_input(x, "forward");
  // h_0 = c_0 = 0 (LibTorch's default when no state is passed).
  return std::get<0>(lstm_->forward(x));
}

torch::Tensor LSTMMixerImpl::reference(const torch::Tensor& x) {
  // The §2.3 gate equations, one step at a time. Rows of the stacked (4H, .) weights and biases
  // are the gates in the order i, f, g, o.
  check_input(x, "reference");
  const int64_t B = x.size(0);
  const int64_t T = x.size(1);
  const auto W_i = weight_ih.chunk(4, 0);  // W_ii, W_if, W_ig, W_io: (H, D_in)
  const auto W_h = weight_hh.chunk(4, 0);  // W_hi, W_hf, W_hg, W_ho: (H, H)
  const auto b_i = bias_ih.chunk(4, 0);    // b_ii, b_if, b_ig, b_io: (H)
  const auto b_h = bias_hh.chunk(4, 0);    // b_hi, b_hf, b_hg, b_ho: (H)
  auto pre = [&](int gate, const torch::Tensor& xt, const torch::Tensor& h) {
    return torch::matmul(xt, W_i[gate].t()) + b_i[gate] + torch::matmul(h, W_h[gate].t()) +
           b_h[gate];
  };
  auto h = torch::zeros({B, hidden_size_}, x.options());
  auto c = torch::zeros({B, hidden_size_}, x.options());
  std::vector<torch::Tensor> outputs;
  outputs.reserve(T);
  for (int64_t t = 0; t < T; ++t) {
    const auto xt = x.select(1, t);
    const auto i = torch::sigmoid(pre(0, xt, h));
    const auto f = torch::sigmoid(pre(1, xt, h));
    const auto g = torch::tanh(pre(2, xt, h));
    const auto o = torch::sigmoid(pre(3, xt, h));
    c = f * c + i * g;
    h = o * torch::tanh(c);
    outputs.push_back(h);
  }
  if (T == 0) return torch::zeros({B, 0, hidden_size_}, x.options());
  return torch::stack(outputs, 1);
}

}  // namespace seqlab::mixers
