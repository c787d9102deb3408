// Base class of the mixers whose core is the gated matrix-state scan (identity, scalar and real
// diagonal classes; spec/mixers.md §1.4, §3.1): linear attention, RetNet, Mamba-2, GLA, HGRN2,
// mLSTM. A subclass says how (q, k, v, g) come from the input (core_inputs) and what happens
// after the core (from_core); the base class provides the three paths, the values, and a generic
// step API.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "seqlab/core/gated_scan.h"
#include "seqlab/mixers/mixer.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

// Core inputs of the gated scan: q, k (B, H, T, n), v (B, H, T, dv), g (B, H, T, n | 1) or
// undefined (identity). The impulse gain b is folded into k.
struct GatedCore {
  torch::Tensor q, k, v, g;
};

class GatedMixer : public Mixer {
 public:
  explicit GatedMixer(const ZooOptions& options) : options_(options) {}

  torch::Tensor forward(const torch::Tensor& x) override;
  torch::Tensor reference(const torch::Tensor& x) override;
  // (B, H, T, T) coefficients of the core (spec §1.3).
  torch::Tensor coefficients(const torch::Tensor& x) override;
  torch::Tensor values(const torch::Tensor& x) override { return core_inputs(x).v; }
  // A_t = Diag(exp(g_t)) from the core inputs: identity, scalar or diagonal.
  core::Transition transitions(const torch::Tensor& x) override;

  // Generic step (spec §6.6): the state is {S (B, H, n, dv), the last (receptive_field − 1)
  // inputs, the position t (int64 scalar)}. Every pre-processing is causal with receptive field
  // receptive_field() (short conv) and every post-processing acts per position, so the core inputs
  // and the output of x_t are those of the last position of the window [recent inputs, x_t]. The
  // history costs (receptive_field − 1) · d_model floats instead of the conv width (spec §5.3);
  // state_size() reports the spec's count.
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& x_t) override;

  // `offset` is the absolute position of x's first step (for position-dependent rotations).
  virtual GatedCore core_inputs(const torch::Tensor& x, int64_t offset = 0) = 0;
  // Number of past inputs (including the current one) the core inputs depend on.
  virtual int64_t receptive_field() const { return 1; }
  // Shape (n, dv) of the per-head state, for initial_state().
  virtual int64_t state_rows() const = 0;
  virtual int64_t state_cols() const = 0;
  virtual int64_t state_heads() const = 0;

  const ZooOptions& options() const { return options_; }

 protected:
  ZooOptions options_;
};

}  // namespace seqlab::mixers
