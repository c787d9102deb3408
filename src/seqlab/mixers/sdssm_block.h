// SD-SSM as a zoo mixer (zoo name "sdssm_block"): the selective dense SSM of spec/mixers.md
// §2.2.20 on an input of width d_model, read out to width d_model, for the zoo backbone
// (embedding → pre-norm residual blocks, model/zoo_model.h). The top-level model "sdssm" is the
// published single-layer model on one-hot tokens (model/sdssm_model.h); both use mixers::SDSSM.
//
//   x_t = A_t x_{t−1} + B u_t,  x_0 = 0     mixers::SDSSM, input_dim = d_model: selector
//                                          Linear(d → K, bias), B Linear(d → N, no bias),
//                                          A_t = colnorm_p(Σ_k s_{t,k} A_k)
//   y_t = out_proj(LayerNorm(x_t))          LayerNorm(N, ε = 1e-5), out_proj Linear(N → d, bias)
//
// Options read (ZooOptions): d_model, state_size (N), dict_size (K), lp (p), renorm_state (at
// inference without gradients, rescale the state by powers of two per 32-step chunk, §3.4).
// Paths: forward = generic path of core::dense_scan (one normalized A_t per (b, t), fused kernel
// with hand-written backward); reference = the plain LibTorch loop.
// Framework (§2.2.20 "Framework", §1.2): n = N, b = 1, k_j = B u_j, q = e_m for every state
// coordinate m, value ≡ 1. The systems S are the N state coordinates:
//   coefficients(u)[b, m, i, j] = (Φ(i, j) B u_j)_m   (B, N, T, T), exactly 0 for j > i
//   values(u) ≡ 1                                      (B, N, T, 1)
// so coefficients @ values is the state x_i, and from_core applies LayerNorm + out_proj:
// forward(u) == from_core(u, coefficients(u) @ values(u)).
// Step state: {x (B, N)}.
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>
#include <vector>

#include "seqlab/mixers/sdssm.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

class SDSSMBlockImpl : public Mixer {
 public:
  // Throws seqlab::UserError naming the option on a bad size.
  explicit SDSSMBlockImpl(const ZooOptions& options);

  torch::Tensor forward(const torch::Tensor& u) override;
  torch::Tensor reference(const torch::Tensor& u) override;
  torch::Tensor coefficients(const torch::Tensor& u) override;
  torch::Tensor values(const torch::Tensor& u) override;
  torch::Tensor from_core(const torch::Tensor& u, const torch::Tensor& y_core) override;
  // kDense: the normalized A_t, (B, T, N, N).
  core::Transition transitions(const torch::Tensor& u) override;
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) override;
  // N floats (the state x), independent of the position.
  int64_t state_size(int64_t position) const override;
  Structure structure() const override { return Structure::kDense; }

  SDSSM ssm{nullptr};                   // "ssm"
  torch::nn::LayerNorm norm{nullptr};   // "norm": LayerNorm(N)
  torch::nn::Linear out_proj{nullptr};  // "out_proj": Linear(N → d)

 private:
  torch::Tensor readout(const torch::Tensor& x);  // out_proj(LayerNorm(x)), x (..., N)
  int64_t N_;
  bool renorm_state_;
};
TORCH_MODULE(SDSSMBlock);

std::shared_ptr<Mixer> make_sdssm_block(const ZooOptions& o);

}  // namespace seqlab::mixers
