// DLR, diagonal linear RNN, exact (spec/mixers.md §2.2.8; arXiv:2212.00768; ag1988/dlr
// `dss.py::DLRKernel`, `::DSS`), as an LTI convolution layer (lti_layer.h, §5.5 DLR block).
//
// Per channel h, no discretization: x_t = λ ⊙ x_{t−1} + u_t, λ_m = exp(Λ_m), Λ shared by every
// channel and both directions; K[c, h, l] = to_real(Σ_m W[c, h, m] exp(l Λ_m)) (the fused
// Vandermonde kernel, core::dlr_kernel).
//
// Parameters (names as in the reference code):
//   Lambda_log_neg_re  p (N)        Re Λ = −p² (not a log). Absent for the Lambda_imag versions
//   Lambda_im          b (N)        Im Λ. Absent for Lambda_real_W_real
//   W                  (C', H, N, 2) complex readout; (C', H, N) real for the *_W_real versions
//   D                  (C, H)        skip
//   output_linear      Linear(C·H → H), or → 2H followed by GLU with glu
// No-weight-decay group (spec §5.6): Lambda_log_neg_re, Lambda_im, W (dynamics_parameters()).
//
// Initialization (Lambda_init = 'omega', the default): dt_m = exp(U[log dt_min, log dt_max]) one
// per state; Λ_m = −0.5·dt_m + i·(2πm/N mod 2π), so λ sits on the N-th roots of unity at radius
// exp(−dt_m/2) and p_m = sqrt(0.5·dt_m); 'randn': Im Λ ~ N(0, 1), reduced mod 2π as the
// reference code does for either init. 'product_grid' (seqlab's, for kernel_to_real = prod):
// P fine modes at 2πa/(PQ), a = −F..F (P = 2F + 1), and Q = N − P coarse modes at 2πb/Q; the
// pairwise sums a + bP cover the DFT grid of length P·Q ≈ N²/4 once, so Re k · Im k can be any
// delta kernel δ_s on l < P·Q: a real Dirichlet bump of width Q at s (fine modes, in Re k) times
// a comb of period Q through s (coarse modes, in Im k). With N < L, 'omega' puts every product
// mode on the N-th roots of unity, where a delta at lag s ≥ N cannot be separated from s mod N;
// this init is how one DLR-prod layer shifts L = 65,536 with N = 514. W = randn·W_scale (W_scale =
// 1/N by default); D ~ N(0, 1); output_linear PyTorch default. Defaults dt_min = 1e-4, dt_max =
// 1e-1 (DLRKernel's).
//
// Versions: '' (default), 'Lambda_imag' (Λ = i b, |λ| = 1), 'Lambda_imag_W_real' (K = Σ W cos(b
// l)), 'Lambda_real_W_real' (real Λ and W). kernel_to_real: real (default), imag, sum, prod,
// real-prod (Re on the first ⌊H/2⌋ channels h, prod on the rest: "channels" read as the H model
// channels, since C = 1 in every published run). For the recurrent path the readout folds
// to_real into q: imag q = −iW, sum q = (1 − i)W, and prod (K = Re k · Im k = Im(k²)/2) is the
// N²-mode system λ_m λ_m' with q = −i W_m W_m'/2 (so its step state has N² modes; real-prod
// N + N², each channel reading its own part).
//
// Bidirectional (§2.2.8 step 4): W rows [0, C) are the forward kernel, rows [C, 2C) the backward
// one, y_t += Σ_{j≥1} k_bwd[j−1] u_{t+j}. (The reference code's later revision orders the halves
// the other way round and places the backward half differently when Lk < L; seqlab follows the
// spec's layout.)
#pragma once
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "seqlab/mixers/lti_layer.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

struct DLROptions : LTILayerOptions {
  double dt_min = 1e-4;
  double dt_max = 1e-1;
  std::string Lambda_init = "omega";  // omega | randn | product_grid
  std::string version;                // "" | Lambda_imag | Lambda_imag_W_real | Lambda_real_W_real
  core::KernelToReal kernel_to_real = core::KernelToReal::kReal;
  double W_scale = 0.0;  // 0 = 1/N
};

// The two grids of Lambda_init = 'product_grid' for N modes: P = fine (odd, about N/2) and
// Q = coarse = N − P; length = P·Q is the longest kernel on which every delta is representable.
struct ProductGrid {
  int64_t fine = 0, coarse = 0, length = 0;
};
ProductGrid product_grid(int64_t N);
// Im Λ (N, fp64): the P fine frequencies, then the Q coarse ones (before the mod 2π).
torch::Tensor product_grid_frequencies(int64_t N);

class DLRImpl : public LTILayer {
 public:
  // Throws seqlab::UserError naming the option on a bad value.
  explicit DLRImpl(const DLROptions& options);

  torch::Tensor kernel(int64_t length) override;
  Modes modes() override;
  int64_t mode_count() const override;
  std::vector<std::string> dynamics_parameters() const override;

  // Λ as real pairs (N, 2): (−p², b), zeros where the version drops a part.
  torch::Tensor Lambda() const;
  // W as real pairs (C', H, N, 2).
  torch::Tensor W_pairs() const;
  const DLROptions& options() const { return options_; }

  torch::Tensor Lambda_log_neg_re, Lambda_im, W;  // undefined when the version drops them

 private:
  DLROptions options_;
  bool lambda_imag_ = false, lambda_real_ = false, w_real_ = false;
};
TORCH_MODULE(DLR);

// DLR layer from zoo options: d_model = H, state_size = N, path (fused = FFT | reference).
std::shared_ptr<Mixer> make_dlr(const ZooOptions& options);

}  // namespace seqlab::mixers
