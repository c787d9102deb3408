// Small building blocks shared by the zoo mixers (spec/mixers.md §0.2, §5.3, §5.4).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>

namespace seqlab::mixers {

// Depthwise causal Conv1d over time (§5.3): y_t = Σ_{m<K} w[c, m] x_{t−K+1+m} (+ b_c), x_{<1} = 0.
// PyTorch Conv1d initialization U(±1/√K) (§0.3). (B, T, C) -> (B, T, C).
class ShortConvImpl : public torch::nn::Module {
 public:
  ShortConvImpl(int64_t channels, int64_t kernel, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  int64_t kernel() const { return kernel_; }
  int64_t channels() const { return channels_; }
  torch::nn::Conv1d conv{nullptr};

 private:
  int64_t channels_, kernel_;
};
TORCH_MODULE(ShortConv);

// RMSNorm over groups of the last dimension (§0.2): each group of dim/groups channels is divided
// by sqrt(mean(x²) + eps), then multiplied by a per-channel weight (initialized to 1).
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps = 1e-5, int64_t groups = 1);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  int64_t dim_, groups_;
  double eps_;
};
TORCH_MODULE(RMSNorm);

// DLR's TransposedLN(scalar = True) (spec/mixers.md §5.1): y = (s / std(x)) (x − mean(x) + m)
// over the last dimension, biased std and no ε; m ("shift", init 0) and s ("scale", init 1) are
// learnable scalars, with no per-channel affine. A constant row divides by zero, as in DLR.
class TransposedLNImpl : public torch::nn::Module {
 public:
  TransposedLNImpl();
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor shift, scale;
};
TORCH_MODULE(TransposedLN);

// x / sqrt(Σx² + eps) over the last dimension (FLA placement of eps, §0.2).
torch::Tensor l2norm(const torch::Tensor& x, double eps = 1e-6);
// softplus⁻¹(y) = y + log(−expm1(−y)) for y > 0 (§0.2).
torch::Tensor softplus_inverse(const torch::Tensor& y);
// (B, T, H·d) -> (B, H, T, d) and back.
torch::Tensor split_heads(const torch::Tensor& x, int64_t heads);
torch::Tensor merge_heads(const torch::Tensor& x);

}  // namespace seqlab::mixers
