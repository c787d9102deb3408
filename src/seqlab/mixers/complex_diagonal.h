// Complex-diagonal selective SSM, the baseline of the SD-SSM paper (spec/mixers.md §2.2.21;
// protocols.md §2.4). Structure class "complex diagonal" (§3.1): A_t = Diag(λ_t), |λ_t| = 1.
//
//   e_t = W_emb u_t                                  embedding, Linear(D → E, no bias), E = D
//   z_t = out[:N] + i·out[N:],  out = W_2 ReLU(W_1 e_t + b_1) + b_2    Linear(E → 4N), Linear(4N →
//   2N) λ_t = z_t / |z_t|                                (z_t / max(|z_t|, eps_modulus) if eps > 0)
//   with B:    x_t = s·λ_t ⊙ x_{t−1} + (B_re + i·B_im) e_t,   s = scale_eigv
//   without B: x_t = λ_t ⊙ x_{t−1}                   (scale_eigv is not applied, as in the source)
//   x_0 = exp(iϕ), ϕ ~ U[0, 2π) per coordinate: the buffer `x0_phase`, drawn once, not trained,
//   shared by the batch
//
// Output: the states as real features [Re x_t, Im x_t], (B, T, 2N). Readouts live in the model.
//
// Framework (§2.2.21 "Framework", §1.2): A_t = Diag(s·λ_t), b = 1, k_j = B e_j (complex), value ≡
// 1, readout of every real coordinate, initial state = virtual token j = 0 (§1.4).
#pragma once
#include <torch/arg.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <utility>

#include "seqlab/mixers/mixer.h"

namespace seqlab::mixers {

struct ComplexDiagonalSSMOptions {
  ComplexDiagonalSSMOptions(int64_t d_input, int64_t state_size)
      : d_input_(d_input), state_size_(state_size) {}
  TORCH_ARG(int64_t, d_input);          // D; the embedding width E equals D (§2.2.21)
  TORCH_ARG(int64_t, state_size);       // N complex coordinates
  TORCH_ARG(bool, with_b) = true;       // input matrix B present
  TORCH_ARG(double, scale_eigv) = 1.0;  // s, applied to λ only with B
  // ε in λ = z / max(|z|, ε) (§3.4 "unit-modulus normalization"). 0 = the reference: |z| = 0
  // gives NaN.
  TORCH_ARG(double, eps_modulus) = 0.0;
};

class ComplexDiagonalSSMImpl : public Mixer {
 public:
  explicit ComplexDiagonalSSMImpl(const ComplexDiagonalSSMOptions& options);

  // u (B, T, D) float -> states [Re x_t, Im x_t] (B, T, 2N), via core::complex_diag_scan.
  torch::Tensor forward(const torch::Tensor& u) override;
  // The same with a plain loop over t in LibTorch complex arithmetic (slow; fp64 capable).
  torch::Tensor reference(const torch::Tensor& u) override;
  // Explicit propagated impulses (§1.2 with value ≡ 1, q = every real coordinate), built by
  // propagating every impulse separately: a real tensor C of shape (B, 2N, T, T + 1) with
  //   C[b, m, i, 0]     = Φ(i, 0) x_0        (the initial state as virtual token j = 0)
  //   C[b, m, i, j + 1] = Φ(i, j) k_j        for j ≤ i (0-based), exactly 0 for j > i
  // where Φ(i, j) = Π_{t=j+1..i} A_t, k_j = B e_j (k ≡ 0 without B), and row m < N holds the real
  // part of coordinate m, row N + m its imaginary part. The states are the sum over the last
  // dimension: forward(u)[b, i, m] = Σ_j C[b, m, i, j].
  torch::Tensor coefficients(const torch::Tensor& u) override;
  // 2N floats (the complex state), independent of the position.
  int64_t state_size(int64_t position) const override;
  Structure structure() const override { return Structure::kComplexDiagonal; }

  // λ_t = z_t/|z_t| as real pairs (B, T, N, 2), before the scale s. Exposed for diagnostics (§4).
  torch::Tensor transition(const torch::Tensor& u);
  // x_0 = exp(iϕ) as real pairs (N, 2).
  torch::Tensor initial_state() const;

  const ComplexDiagonalSSMOptions& options() const { return options_; }

  torch::nn::Linear embedding{nullptr};    // "embedding": Linear(D → E, no bias)
  torch::nn::Sequential eig_mlp{nullptr};  // "eig_mlp": Linear(E → 4N), ReLU, Linear(4N → 2N)
  torch::Tensor B_re, B_im;  // "B_re", "B_im": (N, E), U(±√3/√(N + E)); undefined without B
  torch::Tensor x0_phase;    // buffer "x0_phase": (N), ϕ ~ U[0, 2π)

 private:
  void check_input(const torch::Tensor& u) const;
  // Raw eigenvalue-MLP output split as (z_re, z_im), each (B, T, N).
  std::pair<torch::Tensor, torch::Tensor> eig_logits(const torch::Tensor& e);
  // λ_t = z_t / |z_t| as a complex tensor (B, T, N), for the reference and explicit paths.
  torch::Tensor complex_eigenvalues(const torch::Tensor& e);
  // λ_t = z_t / |z_t| as real pairs (B, T, N, 2) from the embedding e (B, T, E).
  torch::Tensor unit_transition(const torch::Tensor& e);

  ComplexDiagonalSSMOptions options_;
};
TORCH_MODULE(ComplexDiagonalSSM);

}  // namespace seqlab::mixers
