// Complex-diagonal selective SSM with B as a zoo mixer (zoo name "complex_diagonal_block"): the
// SD-SSM paper's baseline of spec/mixers.md §2.2.21 on an input of width d_model, read out to
// width d_model, for the zoo backbone (model/zoo_model.h). The top-level model
// "complex_diagonal" is the published model on one-hot tokens (model/complex_diagonal_model.h);
// both use mixers::ComplexDiagonalSSM.
//
//   x_t = s·λ_t ⊙ x_{t−1} + (B_re + i·B_im) e_t,  x_0 = e^{iϕ}    mixers::ComplexDiagonalSSM with
//                                  d_input = E = d_model (embedding Linear(d → d), eigenvalue MLP
//                                  d → 4N → 2N, λ_t = z_t/|z_t|), with B, s = scale_eigv
//   y_t = out_proj([Re x_t, Im x_t])                 out_proj Linear(2N → d, bias)
// The readout is linear with no normalization, as the paper's `linear` readout (§2.2.21).
//
// Options read (ZooOptions): d_model, state_size (N), scale_eigv (s).
// Paths: forward = core::complex_diag_scan (fused kernel, hand-written backward); reference = the
// plain LibTorch complex loop.
// Framework (§2.2.21, §1.2, §1.4): A_t = Diag(s·λ_t), b = 1, k_j = B e_j, value ≡ 1; the systems S
// are the 2N real coordinates [Re x, Im x]:
//   coefficients(u)[b, m, i, j] = (Φ(i, j) k_j)_m (real part for m < N, imaginary part of
//                                 coordinate m − N otherwise), (B, 2N, T, T), exactly 0 for j > i
//   values(u) ≡ 1                 (B, 2N, T, 1)
// The non-zero initial state is the virtual token j = 0 (§1.4), not a column of M: from_core adds
// its term Φ(i, 0) x_0 (computed with the same scan, no input) before out_proj, so
// forward(u) == from_core(u, coefficients(u) @ values(u)).
// Step state: {x (B, N, 2)} as real pairs, starting at x_0.
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>
#include <vector>

#include "seqlab/mixers/complex_diagonal.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

class ComplexDiagonalBlockImpl : public Mixer {
 public:
  // Throws seqlab::UserError naming the option on a bad size.
  explicit ComplexDiagonalBlockImpl(const ZooOptions& options);

  torch::Tensor forward(const torch::Tensor& u) override;
  torch::Tensor reference(const torch::Tensor& u) override;
  torch::Tensor coefficients(const torch::Tensor& u) override;
  torch::Tensor values(const torch::Tensor& u) override;
  torch::Tensor from_core(const torch::Tensor& u, const torch::Tensor& y_core) override;
  // kComplexDiagonal: s·λ_t as real pairs, (B, T, N, 2).
  core::Transition transitions(const torch::Tensor& u) override;
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) override;
  // 2N floats (the complex state), independent of the position.
  int64_t state_size(int64_t position) const override;
  Structure structure() const override { return Structure::kComplexDiagonal; }

  ComplexDiagonalSSM ssm{nullptr};      // "ssm"
  torch::nn::Linear out_proj{nullptr};  // "out_proj": Linear(2N → d)

 private:
  torch::Tensor scaled_transition(const torch::Tensor& u);  // s·λ_t, (B, T, N, 2)
  int64_t N_;
  double scale_;
};
TORCH_MODULE(ComplexDiagonalBlock);

std::shared_ptr<Mixer> make_complex_diagonal_block(const ZooOptions& o);

}  // namespace seqlab::mixers
