#include "seqlab/mixers/layers.h"

#include <torch/torch.h>

namespace seqlab::mixers {

ShortConvImpl::ShortConvImpl(int64_t channels, int64_t kernel, bool bias)
    : channels_(channels), kernel_(kernel) {
  TORCH_CHECK(channels >= 1 && kernel >= 1, "ShortConv: channels and kernel must be >= 1");
  conv =
      register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, kernel)
                                                    .groups(channels)
                                                    .padding(kernel - 1)
                                                    .bias(bias)));
}

torch::Tensor ShortConvImpl::forward(const torch::Tensor& x) {
  // K shifted multiply-adds over the left-padded sequence: the same function as the Conv1d
  // module, but LibTorch 1.13's grouped conv1d on CPU is 5-10x slower than this at K = 4.
  const int64_t T = x.size(1);
  auto padded = torch::constant_pad_nd(x, {0, 0, kernel_ - 1, 0}, 0.0);  // (B, T + K − 1, C)
  auto w = conv->weight.squeeze(1);                                      // (C, K)
  auto y = padded.narrow(1, 0, T) * w.select(1, 0);
  for (int64_t m = 1; m < kernel_; ++m) y = y + padded.narrow(1, m, T) * w.select(1, m);
  if (conv->bias.defined()) y = y + conv->bias;
  return y;
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, int64_t groups)
    : dim_(dim), groups_(groups), eps_(eps) {
  TORCH_CHECK(dim >= 1 && groups >= 1 && dim % groups == 0,
              "RMSNorm: groups must divide dim, got dim ", dim, " groups ", groups);
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto shape = x.sizes().vec();
  auto g = x.reshape({-1, groups_, dim_ / groups_});
  auto y = g * torch::rsqrt(g.pow(2).mean(-1, true) + eps_);
  return y.reshape(shape) * weight;
}

TransposedLNImpl::TransposedLNImpl() {
  shift = register_parameter("shift", torch::zeros({}));
  scale = register_parameter("scale", torch::ones({}));
}

torch::Tensor TransposedLNImpl::forward(const torch::Tensor& x) {
  // §5.1: statistics over the channels (last dim), biased std, no ε.
  auto mean = x.mean(-1, /*keepdim=*/true);
  auto std = (x - mean).pow(2).mean(-1, /*keepdim=*/true).sqrt();
  return (scale / std) * (x - mean + shift);
}

torch::Tensor l2norm(const torch::Tensor& x, double eps) {
  return x * torch::rsqrt(x.pow(2).sum(-1, true) + eps);
}

torch::Tensor softplus_inverse(const torch::Tensor& y) {
  return y + torch::log(-torch::expm1(-y));
}

torch::Tensor split_heads(const torch::Tensor& x, int64_t heads) {
  const int64_t B = x.size(0), T = x.size(1), D = x.size(2);
  return x.reshape({B, T, heads, D / heads}).permute({0, 2, 1, 3});
}

torch::Tensor merge_heads(const torch::Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), T = x.size(2), d = x.size(3);
  return x.permute({0, 2, 1, 3}).reshape({B, T, H * d});
}

}  // namespace seqlab::mixers
