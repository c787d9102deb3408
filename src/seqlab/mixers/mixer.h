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
#include <vector>

#include "seqlab/core/diagnostics.h"

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
  // Framework decomposition (spec/mixers.md §1.2, §6.1): for zoo mixers in the framework,
  //   forward(x) == from_core(x, coefficients(x) @ values(x))
  // with coefficients (B, S, T, T), values (B, S, T, dv) and S the number of systems (heads, or
  // channels with dv = 1 for channel-wise SSMs). values() is everything before the core (v_j),
  // from_core() everything after it (normalizer η, skip D, gates, norms, output projection).
  virtual torch::Tensor values(const torch::Tensor& x) {
    (void)x;
    throw std::logic_error(name() + " does not expose its values");
  }
  virtual torch::Tensor from_core(const torch::Tensor& x, const torch::Tensor& y_core) {
    (void)x;
    (void)y_core;
    throw std::logic_error(name() + " does not expose its post-processing");
  }

  // The evolution matrices A_t on input x in their structure's closed form, for the stability
  // diagnostics of spec §4.2 (core/diagnostics.h).
  virtual core::Transition transitions(const torch::Tensor& x) {
    (void)x;
    throw std::logic_error(name() + " does not expose its transitions");
  }

  // The normalizer η_i of every output row (spec §1.4, §4.2), for the normalizer-minima and
  // DSF-eigenvalue diagnostics: fields (B, S, T) as documented in core::Normalizer. Mixers
  // without a normalizer (η ≡ 1) throw.
  virtual core::Normalizer normalizers(const torch::Tensor& x) {
    (void)x;
    throw std::logic_error(name() + " has no normalizer");
  }

  // Step API (spec §6.6): the recurrent state (including short-conv buffers and normalizer
  // states) as a list of tensors; step() consumes x_t (B, D), replaces the state tensors with the
  // next ones (differentiably) and returns y_t (B, D). Running step() over a sequence reproduces
  // forward().
  virtual std::vector<torch::Tensor> initial_state(int64_t batch,
                                                   const torch::TensorOptions& options) {
    (void)batch;
    (void)options;
    throw std::logic_error(name() + " has no step API");
  }
  virtual torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) {
    (void)state;
    (void)x_t;
    throw std::logic_error(name() + " has no step API");
  }

  // Names (relative to this module, e.g. "A_log", "dt_proj.bias") of the parameters that set the
  // dynamics: A_t's parametrization (A_log, Δ bias, Λ, ν, θ), LTI readouts W and the skip D (spec
  // §5.6 "Parameter groups"). The trainer puts them in the no-weight-decay group with their own
  // learning rate (train.dynamics_lr), and a global initializer (model.init) never overwrites
  // them (spec §2.2.10 "no global initializer overwrites"; mamba's _no_reinit / _no_weight_decay).
  virtual std::vector<std::string> dynamics_parameters() const { return {}; }

  // Floats carried per sequence at inference after `position` tokens.
  virtual int64_t state_size(int64_t position) const = 0;
  virtual Structure structure() const = 0;
};

}  // namespace seqlab::mixers
