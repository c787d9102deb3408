// S6 / Mamba-1 layer (spec/mixers.md §2.2.10; state-spaces/mamba `mamba_simple.py`). With
// d_inner = expand·d, R = dt_rank = ⌈d/16⌉, N = state_size:
//
//   (x, z) = in_proj(u)                               Linear(d → 2·d_inner, no bias)
//   x      = SiLU(conv(x))                            depthwise causal, kernel conv_size, bias
//   (δ, B, C) = x_proj(x)                             Linear(d_inner → R + 2N, no bias)
//   Δ      = softplus(dt_proj(δ))                     Linear(R → d_inner) with bias b_Δ
//   A      = −exp(A_log)                              (d_inner, N)
//   y      = S6 scan(x, Δ, A, B, C) + D ⊙ x           core::selective_scan (ZOH A, Euler B)
//   out    = out_proj(y ⊙ SiLU(z))                    Linear(d_inner → d, no bias)
//
// conv_size = 0 drops the convolution (SiLU is still applied).
//
// Framework (§2.2.10 "Framework"): one real-diagonal system per channel c, A_t = Diag(exp(Δ_t
// A_c)), b_j = Δ_j[c], k_j = B_j, q_i = C_i, value x_j[c]. coefficients() is (B, d_inner, T, T),
// values() the conv output x as (B, d_inner, T, 1), from_core() adds D x, gates with SiLU(z) and
// projects.
//
// Initialization (§2.2.10): A_log[c, m] = log(m + 1); D = 1; W_Δ ~ U(±dt_scale/√R) ('random') or
// dt_scale/√R ('constant'); b_Δ = softplus⁻¹(dt), dt = max(exp(U[log dt_min, log dt_max]),
// dt_init_floor); everything else PyTorch defaults. A_log, D and b_Δ are mixer-owned (§0.3);
// seqlab has no no_reinit / no_weight_decay flags yet, so a global initializer must skip
// "A_log", "D" and "dt_proj.bias" by name.
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

// Mamba-1's own initialization constants (§2.2.10 defaults).
struct Mamba1Init {
  double dt_min = 1e-3;
  double dt_max = 1e-1;
  double dt_init_floor = 1e-4;
  double dt_scale = 1.0;
  bool dt_init_random = true;  // false: 'constant'
};

class Mamba1Impl : public Mixer {
 public:
  // Reads d_model, state_size (N), expand, conv_size (0 = none) and path (fused | reference).
  // Throws seqlab::UserError naming the option on a bad value.
  explicit Mamba1Impl(const ZooOptions& options, const Mamba1Init& init = {});

  // u (B, T, d_model) -> (B, T, d_model).
  torch::Tensor forward(const torch::Tensor& u) override;
  torch::Tensor reference(const torch::Tensor& u) override;
  // (B, d_inner, T, T): M[b, c, i, j] = Σ_m C_i[m] exp(Σ_{t=j+1}^{i} Δ_t[c] A[c, m]) Δ_j[c] B_j[m].
  torch::Tensor coefficients(const torch::Tensor& u) override;
  // The conv output x (B, d_inner, T, 1).
  torch::Tensor values(const torch::Tensor& u) override;
  // y_core (B, d_inner, T, 1) -> out_proj((y_core + D x) ⊙ SiLU(z)).
  torch::Tensor from_core(const torch::Tensor& u, const torch::Tensor& y_core) override;

  // State: {h (B, d_inner, N), conv buffer (B, conv_size − 1, d_inner) when conv_size > 0}.
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) override;
  // d_inner·N + (conv_size − 1)·d_inner, independent of the position.
  int64_t state_size(int64_t position) const override;
  // A_t in closed form for the stability diagnostics (spec §4.2).
  core::Transition transitions(const torch::Tensor& x) override;
  Structure structure() const override { return Structure::kDiagonal; }
  // A_log, D and the Δ bias (spec §5.6; mamba `_no_weight_decay`, `_no_reinit`).
  std::vector<std::string> dynamics_parameters() const override {
    return {"A_log", "D", "dt_proj.bias"};
  }

  int64_t d_inner() const { return d_inner_; }
  int64_t dt_rank() const { return dt_rank_; }
  // A = −exp(A_log), (d_inner, N).
  torch::Tensor A() const;

  torch::nn::Linear in_proj{nullptr}, x_proj{nullptr}, dt_proj{nullptr}, out_proj{nullptr};
  ShortConv conv{nullptr};  // null when conv_size = 0
  torch::Tensor A_log;      // (d_inner, N)
  torch::Tensor D;          // (d_inner)

 private:
  // Everything the scan reads, each (B, T, ·): x and z (d_inner), Δ (d_inner), B and C (N).
  struct Core {
    torch::Tensor x, z, delta, Bm, Cm;
  };
  void check_input(const torch::Tensor& u) const;
  Core core_inputs(const torch::Tensor& u);
  // (Δ, B, C) from the conv output x, for a sequence (B, T, ·) or one step (B, ·).
  void selection(const torch::Tensor& x, Core& c);
  // out_proj((y + D x) ⊙ SiLU(z)) for y (B, T, d_inner) or one step (B, d_inner).
  torch::Tensor output(const torch::Tensor& y, const Core& c);
  torch::Tensor run(core::ScanPath path, const torch::Tensor& u);
  void init_dt_proj(const Mamba1Init& init);

  ZooOptions options_;
  int64_t d_inner_, dt_rank_;
};
TORCH_MODULE(Mamba1);

// Mamba-1 layer from zoo options (see Mamba1Impl).
std::shared_ptr<Mixer> make_mamba1(const ZooOptions& options);

namespace detail {
// Throws seqlab::UserError unless path is fused or reference (the channel-wise scans have no
// chunked form).
void check_channel_scan_path(const char* mixer, core::ScanPath path);
// Throws seqlab::UserError naming `option` unless value ≥ min.
void check_at_least(const char* mixer, const char* option, int64_t value, int64_t min);
// One step of a ShortConv (§5.3): window = [buffer, x_t] (B, K, C), y_t = Σ_m w[c, m] window[m]
// (+ bias); the buffer (B, K − 1, C) becomes the last K − 1 inputs. Differentiable. (Shared by the
// channel-wise mixers; it belongs next to ShortConv in layers.h.)
torch::Tensor short_conv_step(ShortConvImpl& conv, torch::Tensor& buffer, const torch::Tensor& x_t);
// A zero conv buffer (B, K − 1, C) for `conv`.
torch::Tensor short_conv_buffer(const ShortConvImpl& conv, int64_t batch,
                                const torch::TensorOptions& options);
}  // namespace detail

}  // namespace seqlab::mixers
