// qLSTM of the DSF paper (spec/mixers.md §2.2.15; dsf-mqar `zoology/mixers/lstm.py::qLSTM`).
// With hidden width h_d = expand·d (the paper's expansion is 2):
//
//   (gate, x) = in_proj(u)                          Linear(d → 2h_d, no bias)
//   x = conv(x)                                     depthwise causal, kernel conv_size, bias, no
//                                                   activation
//   (f, i, o) = gates(x)                            Linear(h_d → 3h_d, bias)
//   α_t = σ(f_t)                                    reversed = false (default)
//   α_t = σ(−f_t)^{ReLU(α)} = exp(−ReLU(α) softplus(f_t))   reversed = true (DSF "S6-style"
//                                                   forget gate), α a learnable scalar, init 1
//   h_t = α_t ⊙ h_{t−1} + σ(i_t) ⊙ x_t              core::linear_recurrence on log α_t
//   out = out_proj(GELU(gate) ⊙ σ(o_t) ⊙ h_t)        Linear(h_d → d, no bias)
//
// The log forget gate is formed directly: log σ(f) = −softplus(−f) (§3.4).
//
// Framework (§2.2.15): per channel, A = α_t, b_j = σ(i_j), k = 1, q_i = σ(o_i), value x_j.
// coefficients() is (B, h_d, T, T) and includes q_i and b_j; values() is x after the conv as
// (B, h_d, T, 1); from_core() applies GELU(gate) and out_proj.
//
// Initialization: in_proj weight N(0, 1/d); gates weight N(0, 1/h_d), bias PyTorch default;
// out_proj weight N(0, 1/h_d); conv PyTorch default; α = 1.
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

class QLSTMImpl : public Mixer {
 public:
  // Reads d_model, expand (h_d = expand·d_model), conv_size (0 = none) and path (fused |
  // reference); `reversed` selects the forget gate. Throws seqlab::UserError naming the option
  // on a bad value.
  explicit QLSTMImpl(const ZooOptions& options, bool reversed = false);

  torch::Tensor forward(const torch::Tensor& u) override;
  torch::Tensor reference(const torch::Tensor& u) override;
  // (B, h_d, T, T): M[b, c, i, j] = σ(o_i) exp(Σ_{t=j+1}^{i} log α_t) σ(i_j) for j ≤ i.
  torch::Tensor coefficients(const torch::Tensor& u) override;
  // x after the conv, (B, h_d, T, 1).
  torch::Tensor values(const torch::Tensor& u) override;
  // y_core (B, h_d, T, 1) = σ(o) ⊙ h -> out_proj(GELU(gate) ⊙ y_core).
  torch::Tensor from_core(const torch::Tensor& u, const torch::Tensor& y_core) override;

  // State: {h (B, h_d), conv buffer (B, conv_size − 1, h_d) when conv_size > 0}.
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) override;
  // h_d + (conv_size − 1)·h_d.
  int64_t state_size(int64_t position) const override;
  // A_t in closed form for the stability diagnostics (spec §4.2).
  core::Transition transitions(const torch::Tensor& x) override;
  Structure structure() const override { return Structure::kDiagonal; }
  // The reversed gate's exponent α sets the decay (§2.2.15).
  std::vector<std::string> dynamics_parameters() const override {
    if (!alpha.defined()) return {};
    return {"alpha"};
  }

  int64_t hidden() const { return hidden_; }
  bool reversed() const { return reversed_; }

  torch::nn::Linear in_proj{nullptr}, gates{nullptr}, out_proj{nullptr};
  ShortConv conv{nullptr};  // null when conv_size = 0
  torch::Tensor alpha;      // scalar; registered only when reversed

 private:
  // Per position, each (B, T, h_d) (or (B, h_d) for one step): GELU(gate), the value x, log α,
  // σ(i) and σ(o).
  struct Core {
    torch::Tensor gelu_gate, x, log_forget, input, output;
  };
  void check_input(const torch::Tensor& u) const;
  Core core_inputs(const torch::Tensor& u);
  // (f, i, o) from the conv output x.
  void gate_values(const torch::Tensor& x, Core& c);
  torch::Tensor run(core::ScanPath path, const torch::Tensor& u);

  ZooOptions options_;
  bool reversed_;
  int64_t hidden_;
};
TORCH_MODULE(QLSTM);

// qLSTM with the σ(f) forget gate (reversed = false) from zoo options (see QLSTMImpl).
std::shared_ptr<Mixer> make_qlstm(const ZooOptions& options);

}  // namespace seqlab::mixers
