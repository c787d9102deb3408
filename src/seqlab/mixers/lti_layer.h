// The LTI convolution layer shared by DLR, S4D and DSS (spec/mixers.md §5.5 "DLR block",
// §2.2.7-§2.2.8; ag1988/dlr `dss.py::DSS`). On u (B, T, H), H = d_model input channels:
//
//   K      = kernel(Lk)                       (C', H, Lk), Lk = min(max_kernel_length, T) or T;
//                                             C' = 2C when bidirectional (first C rows forward,
//                                             last C rows backward), else C
//   y[c]   = K[c] ∗ u (+ K_bwd[c] ⋆ u) + D[c] ⊙ u                 core::lti_conv (FFT, §3.2.7)
//   out    = output_linear(GELU(flatten_{c,h} y))                  Linear(C·H → H)
//            or GLU(output_linear(·)) with glu: Linear(C·H → 2H), a ⊙ σ(b)   (postact = glu)
//
// Each family supplies its kernel (fused Vandermonde kernel, core::vandermonde_kernel) and its
// modes: log-eigenvalues s ((M, 2) shared or (H, M, 2) per channel) and complex readouts q
// (C', H, M, 2) with K[c, h, l] = Re Σ_m q[c, h, m] exp(l s[h, m]) exactly (to_real folded into
// q, §3.2.7 step 4).
//
// Paths (spec §6.1): forward = fused kernel + FFT convolution (ZooOptions path "fused");
// reference = the per-step recurrent scan x ← λ x + u_t, y = Re(qᵀx) over the modes (the
// backward half scanned in reverse), or, when the kernel is truncated (Lk < T), the direct sum
// over lags of the reference kernel; coefficients = the Toeplitz matrix of the reference kernel
// (complex LibTorch ops).
//
// Framework (spec §2.2.7-§2.2.8 "Framework"): one LTI system per (c, h), S = C·H systems, A =
// Diag(λ), b = 1, k = 1, q = the readout, value u_j (channel h), α_ij = K[c, h, i − j] (plus
// K_bwd[c, h, j − i − 1] above the diagonal when bidirectional, which is not causal).
// coefficients() is (B, C·H, T, T), values() u as (B, C·H, T, 1) (repeated over c),
// from_core() adds D ⊙ u and applies GELU and the output projection.
//
// Step API (§6.6): state {x (B, H, M, 2)}: the complex modes per channel as real pairs. Not
// offered (std::logic_error) when bidirectional (not causal) or with a truncated kernel
// (max_kernel_length > 0: a finite state cannot forget beyond Lk).
#pragma once
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "seqlab/core/lti.h"
#include "seqlab/core/scan_types.h"
#include "seqlab/mixers/mixer.h"

namespace seqlab::mixers {

struct ZooOptions;  // mixers/zoo.h

// Options of the layer around the kernel (§5.5); each family adds its own.
struct LTILayerOptions {
  int64_t d_model = 64;                          // H
  int64_t state_size = 16;                       // N (the family documents how N maps to modes)
  int64_t channels = 1;                          // C (DLR `channels`; 1 in every published run)
  bool bidirectional = false;                    // §2.2.8 step 4
  int64_t max_kernel_length = 0;                 // 0 = T (no truncation)
  bool glu = false;                              // postact = glu
  core::ScanPath path = core::ScanPath::kFused;  // fused (FFT) | reference (recurrent)
};

class LTILayer : public Mixer {
 public:
  torch::Tensor forward(const torch::Tensor& u) override;
  torch::Tensor reference(const torch::Tensor& u) override;
  torch::Tensor coefficients(const torch::Tensor& u) override;
  torch::Tensor values(const torch::Tensor& u) override;
  torch::Tensor from_core(const torch::Tensor& u, const torch::Tensor& y_core) override;
  std::vector<torch::Tensor> initial_state(int64_t batch,
                                           const torch::TensorOptions& options) override;
  torch::Tensor step(std::vector<torch::Tensor>& state, const torch::Tensor& u_t) override;
  // 2·H·M floats (the complex modes), independent of the position.
  int64_t state_size(int64_t position) const override;
  // λ = exp(s) of every mode, flattened over (channel, mode) when per channel, broadcast to
  // (B, T, ·, 2) (kComplexDiagonal, spec §4.2).
  core::Transition transitions(const torch::Tensor& u) override;
  Structure structure() const override { return Structure::kLTIDiagonal; }

  // The kernel (C', H, length) through the fused Vandermonde kernel (forward path).
  virtual torch::Tensor kernel(int64_t length) = 0;
  // Modes with K = Re Σ_m q λ^l; see the header comment.
  struct Modes {
    torch::Tensor s, q;
  };
  virtual Modes modes() = 0;
  // M, the number of modes modes() returns.
  virtual int64_t mode_count() const = 0;
  // The same kernel from the modes with complex LibTorch ops (the oracle).
  torch::Tensor kernel_reference(int64_t length);

  // The kernel length used at sequence length T.
  int64_t kernel_length(int64_t T) const;
  const LTILayerOptions& layer_options() const { return layer_; }

  torch::nn::Linear output_linear{nullptr};
  torch::Tensor D;  // (C, H), ~ N(0, 1)

 protected:
  // Registers D and output_linear; call from the family constructor after its checks.
  void init_layer(const char* family, const LTILayerOptions& options);
  // The C' = C or 2C kernel channels.
  int64_t kernel_channels() const {
    return layer_.bidirectional ? 2 * layer_.channels : layer_.channels;
  }
  const char* family_ = "lti";

 private:
  void check_input(const torch::Tensor& u) const;
  // y (B, C, H, T) -> output_linear(GELU(flatten)) (B, T, H).
  torch::Tensor tail(const torch::Tensor& y);
  LTILayerOptions layer_;
};

namespace detail {
// (…, 2) real pairs from a tensor stored as pairs (…, 2) or as a real part only (…, 1 or no
// trailing pair axis when `real_only`): a zero imaginary part is appended.
torch::Tensor as_pairs(const torch::Tensor& x, bool real_only);
// Complex multiply of real pairs (…, 2).
torch::Tensor pair_mul(const torch::Tensor& x, const torch::Tensor& y);
// Throws seqlab::UserError naming the option unless the layer options are valid.
void check_lti_layer_options(const char* family, const LTILayerOptions& o);
// Copies the zoo options a layer shares (d_model, N, path, bidirectional, max_kernel_length,
// lti_output) into `o`; lti_output "default" keeps the family's glu setting.
void apply_lti_zoo_options(const ZooOptions& zoo, LTILayerOptions& o);
// The zoo's dt_min / dt_max overrides: a value > 0 replaces the family's default (each family
// keeps its own: DLR 1e-4, S4D and DSS 1e-3 for dt_min).
void apply_dt_overrides(const ZooOptions& zoo, double& dt_min, double& dt_max);
}  // namespace detail

}  // namespace seqlab::mixers
