// Mixer interface (design/architecture.md "Interfaces"; spec/mixers.md §6.1).
//
// Every mixer is a parametrization of y_i = sum_{j<=i} alpha_ij v_j. It exposes three paths that
// must agree: forward (fast, fused kernels), reference (plain LibTorch ops) and, where the mixer is
// in the framework, coefficients (the explicit alpha).
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <stdexcept>
#include <string>

namespace seqlab::mixers {

// Structure class of A_t (spec/mixers.md §3.1); decides which kernel computes the mixer.
enum class Structure {
  kIdentity,
  kOrthogonalLTI,
  kScalar,
  kDiagonal,
  kComplexDiagonal,
  kIdentityMinusRank1,
  kDiagonalPlusRank1,
  kDense,
  kLTIDiagonal,
  kNotInFramework,  // LSTM, GRU, Elman RNN, MLP
};

const char* structure_name(Structure s);

class Mixer : public torch::nn::Module {
 public:
  // (B, T, D_in) -> (B, T, D_out). Fast path used for training.
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
  // The same function written plainly with LibTorch ops (slow, obviously correct).
  virtual torch::Tensor reference(const torch::Tensor& x) = 0;
  // Explicit coefficient tensor; the layout is documented per mixer. Baselines outside the
  // framework throw.
  virtual torch::Tensor coefficients(const torch::Tensor& x) {
    (void)x;
    throw std::logic_error(name() + " is not in the coefficient-dynamics framework");
  }
  // Floats carried per sequence at inference after `position` tokens.
  virtual int64_t state_size(int64_t position) const = 0;
  virtual Structure structure() const = 0;
};

}  // namespace seqlab::mixers
