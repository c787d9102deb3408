// LRU, linear recurrent unit (spec/mixers.md §2.2.9; arXiv:2303.06349; port: Task-Level-
// Insights-from-Eigenvalues-across-Sequence-Models `models/lru.py`). On u (B, T, d):
//
//   λ = exp(−exp(ν) + i exp(θ)),  γ = exp(γlog)                       (N) modes
//   h_t = λ ⊙ h_{t−1} + γ ⊙ (B u_t)                                    h ∈ C^N, B ∈ C^{N×d}
//   y_t = Re(C h_t) + D ⊙ u_t                                          C ∈ C^{d×N}
//   out = output_linear(GELU(y))  → GLU (a ⊙ σ(b)) with glu             Linear(d → 2d | d)
//
// The block after the LRU (GELU, then a GLU output layer) is the LRU paper's (Fig. 1) and
// minimal-LRU's sequence layer; the spec's card stops at y_t, so this tail is seqlab's choice
// (unverified), the same shape as the DLR layer's with postact = glu (glu = false gives the plain
// output Linear).
//
// Parameters (names as in the port): nu_log, theta_log, gamma_log (N); B_re, B_im (N, d); C_re,
// C_im (d, N); D (d); output_linear. No-weight-decay group (§5.6, unverified): nu_log,
// theta_log, gamma_log.
// Initialization (r_min = 0, r_max = 1, max_phase = 6.28): ν = log(−½ log(U (r_max² − r_min²) +
// r_min²)) so |λ|² ~ U[r_min², r_max²]; θ = log(max_phase·U); γlog = log sqrt(1 − |λ|²);
// B_re, B_im ~ N(0, 1/(2d)); C_re, C_im ~ N(0, 1/N); D ~ N(0, 1).
//
// Fast path (§3.2.7 "MIMO LRU"): the fused complex-diagonal scan (core::complex_diag_scan) with
// the constant λ broadcast over (B, T), followed by the C projection: O(B·T·N) with a
// hand-written backward, against O(B·N·T log T) for an FFT convolution per mode (whose complex
// inputs also need four real convolutions per mode); the scan is the faster of the two at
// T = 1024 (and at every T the benches cover), so it is the forward path.
//
// Framework (§2.2.9 "Framework"): mode m is an n = 1 system with A = λ_m, b = γ_m, value
// (B u_j)_m, readout C[:, m] (real part taken). α and the values are complex; coefficients() is
// the real decomposition with S = 2N systems and dv = 2:
//   coefficients (B, 2N, T, T):  [s = m]      Re(γ_m λ_m^{i−j}),  [s = N + m]  Im(γ_m λ_m^{i−j})
//   values       (B, 2N, T, 2):  [s = m] and [s = N + m] both (Re (B u_j)_m, Im (B u_j)_m)
//   from_core: with P = y_core[:, :N], Q = y_core[:, N:], Re h = P_re − Q_im and
//   Im h = Q_re + P_im (the complex product α·v), then y = Re(C h) + D ⊙ u and the tail.
//
// Step API: state {h (B, N, 2)}.
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "seqlab/core/scan_types.h"
#include "seqlab/mixers/mixer.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

struct LRUOptions {
  int64_t d_model = 64;     // d
  int64_t state_size = 16;  // N complex modes
  double r_min = 0.0;
  double r_max = 1.0;
  double max_phase = 6.28;
  bool glu = true;
  core::ScanPath path = core::ScanPath::kFused;  // fused (complex diagonal scan) | reference
};

class LRUImpl : public Mixer {
 public:
  // Throws seqlab::UserError naming the option on a bad value.
  explicit LRUImpl(const LRUOptions& options);

  torch::Tensor forward(const torch::Tensor& u) override;
  torch::Tensor reference(const torch::Tensor& u) override;
  torch::Tensor coefficients(const torch::Tensor& u) override;
  torch::Tensor values(const torch::Tensor& u) override;
  torch::Tensor from_core(const torch::Tensor& u, const torch::Tensor& y_core) override;
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) override;
  // 2N floats, independent of the position.
  int64_t state_size(int64_t /*position*/) const override { return 2 * options_.state_size; }
  core::Transition transitions(const torch::Tensor& u) override;
  Structure structure() const override { return Structure::kLTIDiagonal; }
  std::vector<std::string> dynamics_parameters() const override {
    return {"nu_log", "theta_log", "gamma_log"};
  }

  // λ as real pairs (N, 2).
  torch::Tensor lambda() const;
  const LRUOptions& options() const { return options_; }

  torch::Tensor nu_log, theta_log, gamma_log, B_re, B_im, C_re, C_im, D;
  torch::nn::Linear output_linear{nullptr};

 private:
  void check_input(const torch::Tensor& u) const;
  // Re(C h) + D ⊙ u, then GELU and the output layer; h_re, h_im (…, N), u (…, d).
  torch::Tensor output(const torch::Tensor& h_re, const torch::Tensor& h_im,
                       const torch::Tensor& u);
  LRUOptions options_;
};
TORCH_MODULE(LRU);

// LRU layer from zoo options: d_model = d, state_size = N, path (fused | reference).
std::shared_ptr<Mixer> make_lru(const ZooOptions& options);

}  // namespace seqlab::mixers
