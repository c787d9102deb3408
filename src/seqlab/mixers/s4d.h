// S4D and DSS-EXP, LTI diagonal SSMs with a per-channel step size (spec/mixers.md §2.2.7;
// arXiv:2206.11893, arXiv:2203.14343), as LTI convolution layers (lti_layer.h, §5.5).
//
// Both build the per-channel discrete eigenvalues and readouts on (H, M) tensors with autograd
// (ZOH or bilinear factors, §3.3.5 "S4D and DSS") and hand the O(H·M·L) part to the fused
// Vandermonde kernel with per-channel log-eigenvalues s[h, m] = log Ā[h, m]
// (core::vandermonde_kernel, §3.2.7).
//
// S4D, per channel h (A per channel as in the S4D reference code; B = 1 absorbed into C):
//   A[h, m] = −exp(Lambda_log_neg_re[h, m]) + i Lambda_im[h, m],   Δ_h = exp(log_dt[h])
//   ZOH:      Ā = exp(ΔA),                  B̄ = (exp(ΔA) − 1)/A
//   bilinear: Ā = (1 + ΔA/2)/(1 − ΔA/2),     B̄ = Δ/(1 − ΔA/2)
//   K[c, h, l] = 2·Re Σ_{m<N/2} C[c, h, m] B̄ Ā^l     (lin, inv: N/2 modes, conjugates implicit)
//   K[c, h, l] =   Σ_{m<N}   C[c, h, m] B̄ Ā^l       (real: N real modes, no doubling)
// Inits (init option): lin A = −1/2 + iπm; inv A = −1/2 + i(N/π)(N/(2m+1) − 1); real A = −(m+1)
// (Lambda_im absent). log_dt ~ U[log dt_min, log dt_max] = U[log 1e-3, log 1e-1]. C complex normal
// with unit total variance (re, im ~ N(0, 1/2)); real: C ~ N(0, 1), stored (C', H, N). D ~ N(0,1).
// Layer: GELU, output Linear d → 2d, GLU (glu = true by default, the card's standalone block).
// Standalone initialization marked (unverified) in the spec.
// No-weight-decay group (§2.2.7, §5.6): Lambda_log_neg_re, Lambda_im, log_dt.
//
// DSS-EXP (ag1988/dlr `DSSKernel`, version 'exp'), Λ shared by the channels:
//   Λ_m = −exp(Lambda_log_neg_re[m]) + i Lambda_im[m],   Δ_h = exp(log_dt[h])
//   K[c, h, l] = Re Σ_m W[c, h, m] (e^{Δ_hΛ_m} − 1)·conj(Λ_m)/max(|Λ_m|², 1e-7)·e^{Δ_hΛ_m l}
// Init 'lin': Λ_m = −0.5 + iπm, m = 0..N−1; log_dt ~ U[log dt_min, log dt_max] (class default
// [1e-3, 1e-1]; the README runs use [1e-4, 1e-2]); W re, im ~ N(0, 1). One Δ per channel as in
// the spec (the reference code's default sep_dt_re_im = True, separate Δ for Re and Im, is not
// implemented). Layer: GELU, output Linear (glu = false by default, DSS's postact = None).
// No-weight-decay group (§5.6): Lambda_log_neg_re, Lambda_im, log_dt, W.
//
// DSS ⊆ DLR (§2.2.8 "Relation to DSS", §6.5 item 10): DLR with Λ' = ΔΛ and W' = W(e^{ΔΛ} − 1)/Λ
// equals DSS-EXP (tests/mixers/lti_mixers_test.cpp).
#pragma once
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "seqlab/mixers/lti_layer.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

struct S4DOptions : LTILayerOptions {
  S4DOptions() { glu = true; }
  std::string init = "lin";            // lin | inv | real
  std::string discretization = "zoh";  // zoh | bilinear
  double dt_min = 1e-3;
  double dt_max = 1e-1;
};

class S4DImpl : public LTILayer {
 public:
  // state_size N must be even for lin and inv. Throws seqlab::UserError naming the option.
  explicit S4DImpl(const S4DOptions& options);

  torch::Tensor kernel(int64_t length) override;
  Modes modes() override;
  int64_t mode_count() const override { return modes_; }
  std::vector<std::string> dynamics_parameters() const override;
  const S4DOptions& options() const { return options_; }

  torch::Tensor Lambda_log_neg_re, Lambda_im, log_dt, C;  // Lambda_im undefined for init = real

 private:
  S4DOptions options_;
  int64_t modes_ = 0;
};
TORCH_MODULE(S4D);

struct DSSOptions : LTILayerOptions {
  double dt_min = 1e-3;
  double dt_max = 1e-1;
};

class DSSImpl : public LTILayer {
 public:
  explicit DSSImpl(const DSSOptions& options);

  torch::Tensor kernel(int64_t length) override;
  Modes modes() override;
  int64_t mode_count() const override { return options_.state_size; }
  std::vector<std::string> dynamics_parameters() const override {
    return {"Lambda_log_neg_re", "Lambda_im", "log_dt", "W"};
  }
  const DSSOptions& options() const { return options_; }

  torch::Tensor Lambda_log_neg_re, Lambda_im, log_dt, W;

 private:
  DSSOptions options_;
};
TORCH_MODULE(DSS);

// From zoo options: d_model = H, state_size = N, path (fused = FFT | reference).
std::shared_ptr<Mixer> make_s4d(const ZooOptions& options);
std::shared_ptr<Mixer> make_dss(const ZooOptions& options);

}  // namespace seqlab::mixers
