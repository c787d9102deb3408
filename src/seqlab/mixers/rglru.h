// Hawk / Griffin recurrent block with the RG-LRU (spec/mixers.md §2.2.16). With width
// W = expand·d and c = 8:
//
//   gate = GELU(in_gate(u))                            Linear(d → W), exact erf GELU
//   x    = conv(in_x(u))                               Linear(d → W); depthwise causal conv,
//                                                      kernel conv_size, bias, no activation
//   r_t  = σ(gate_a(x_t)),  i_t = σ(gate_x(x_t))       Linear(W → W) each, with bias
//   log a_t = −c·softplus(−Λ)·r_t                      a_t = σ(Λ)^{c r_t}
//   h_t  = a_t ⊙ h_{t−1} + sqrt(1 − a_t²) ⊙ (i_t ⊙ x_t)    core::linear_recurrence
//   out  = out_proj(gate ⊙ h)                           Linear(W → d)
//
// sqrt(1 − a²) is computed as sqrt(−expm1(2 log a)) (§2.2.16). The gates are full W × W Linear
// layers: the spec's block-diagonal-per-head gates are unverified and not implemented. The block
// layout itself (GELU branch, conv k4, output Linear) is marked unverified in the spec.
//
// Framework (§2.2.16): per channel, A = a_t, b_j = sqrt(1 − a_j²), k_j = i_j, q = 1, value x_j.
// coefficients() is (B, W, T, T), values() x as (B, W, T, 1), from_core() gates and projects.
//
// Initialization: Λ such that σ(Λ)^c ~ U[0.9, 0.999] (unverified), i.e.
// Λ = −softplus⁻¹(−log(a₀)/c) with a₀ ~ U[0.9, 0.999]; Linear and conv layers PyTorch defaults.
// Λ is mixer-owned (§0.3): a global initializer must skip "Lambda".
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "seqlab/mixers/layers.h"
#include "seqlab/mixers/mixer.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

class RGLRUImpl : public Mixer {
 public:
  // Reads d_model, expand (W = expand·d_model), conv_size (0 = none) and path (fused |
  // reference). Throws seqlab::UserError naming the option on a bad value.
  explicit RGLRUImpl(const ZooOptions& options);

  torch::Tensor forward(const torch::Tensor& u) override;
  torch::Tensor reference(const torch::Tensor& u) override;
  // (B, W, T, T): M[b, c, i, j] = exp(Σ_{t=j+1}^{i} log a_t[c]) sqrt(1 − a_j[c]²) i_j[c].
  torch::Tensor coefficients(const torch::Tensor& u) override;
  // x after the conv, (B, W, T, 1).
  torch::Tensor values(const torch::Tensor& u) override;
  // y_core (B, W, T, 1) = h -> out_proj(gate ⊙ h).
  torch::Tensor from_core(const torch::Tensor& u, const torch::Tensor& y_core) override;

  // State: {h (B, W), conv buffer (B, conv_size − 1, W) when conv_size > 0}.
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) override;
  // W + (conv_size − 1)·W.
  int64_t state_size(int64_t position) const override;
  // A_t in closed form for the stability diagnostics (spec §4.2).
  core::Transition transitions(const torch::Tensor& x) override;
  Structure structure() const override { return Structure::kDiagonal; }
  std::vector<std::string> dynamics_parameters() const override { return {"Lambda"}; }

  int64_t width() const { return width_; }
  static constexpr double kC = 8.0;  // c in a_t = σ(Λ)^{c r_t}

  torch::nn::Linear in_gate{nullptr}, in_x{nullptr}, gate_a{nullptr}, gate_x{nullptr},
      out_proj{nullptr};
  ShortConv conv{nullptr};  // null when conv_size = 0
  torch::Tensor Lambda;     // (W)

 private:
  // Per position, each (B, T, W) (or (B, W) for one step): the GELU gate, the value x, the
  // log-gate log a and the impulse sqrt(1 − a²) ⊙ i.
  struct Core {
    torch::Tensor gate, x, log_a, impulse;
  };
  void check_input(const torch::Tensor& u) const;
  Core core_inputs(const torch::Tensor& u);
  // log a and the impulse gain from the conv output x.
  void gates(const torch::Tensor& x, Core& c);
  torch::Tensor run(core::ScanPath path, const torch::Tensor& u);

  ZooOptions options_;
  int64_t width_;
};
TORCH_MODULE(RGLRU);

// RG-LRU recurrent block from zoo options (see RGLRUImpl).
std::shared_ptr<Mixer> make_rglru(const ZooOptions& options);

}  // namespace seqlab::mixers
