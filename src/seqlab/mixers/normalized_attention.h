// Normalized attention (DSF; spec/mixers.md §2.2.5; Sieber et al., arXiv:2405.15731):
//
//   y_i = (Σ_{j≤i} s (q_iᵀ k_j) v_j) / η_i   per head,   then W_o,
//
// where η_i = η(u_i) > 0 depends on the current input only (no state). Framework: A = I, b = s,
// φ = id, η_i = η(u_i) (structure identity). The core Σ_j s (q_iᵀk_j) v_j runs on the gated-scan
// kernel with g ≡ 0 (fused, chunked and reference paths, gated_mixer.h); η is applied in
// from_core, so coefficients() is the un-normalized core matrix s q_iᵀk_j (as for linear
// attention, whose normalizer is also applied in from_core).
//
// Variants:
//   dsf        (dsf-mqar MHNA) q, k = raw projections (Linear d -> 2 d_qk with bias, q first),
//              v = Linear(d, d, bias), log η = W_η u + b_η (Linear d -> H), s = 1.
//   companion  (Task-Level-Insights norm_attention) one fused Linear d -> d + 2 d_qk + H split
//              [v, q, k, n]; optional depthwise causal conv (kernel dim_conv, bias) + SiLU over
//              [v, q, k] (`full`) or [q, k] (`partial`); feature map approx_fn ∈ {none, elu+1}
//              on q, k; s = n^{-1/2} if scale_B else 1; log η = f(n + o_h) with
//              f = norm_fn ∈ {exp, elu, softplus, sigmoid} and a learnable per-head offset o_h
//              (offset_init exp: linspace(4, 9, H); uniform: softplus⁻¹(linspace(0.02, 0.1, H))
//              min–max rescaled to [8, 14], and 3 when H = 1, the reference's quirk).
// The zoo registry ("normalized_attention") builds `dsf`; ZooOptions::variant = "companion"
// (config key model.variant) builds the companion variant with the published iclr2026 settings
// (norm_fn softplus, approx_fn none, scale_B, offset with offset_init exp) and
// dim_conv = ZooOptions::conv_size (full). Other combinations: make_normalized_attention(o, n).
// d_qk = heads · head_dim (head_dim 0: d_model / heads); value head dimension d_model / heads.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "seqlab/mixers/mixer.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {

struct NormalizedAttentionOptions {
  std::string variant = "dsf";  // dsf | companion
  // The fields below are read by the companion variant only.
  std::string approx_fn = "none";    // none | elu+1
  bool scale_B = true;               // s = n^{-1/2}
  std::string norm_fn = "softplus";  // exp | elu | softplus | sigmoid
  bool offset = true;                // learnable per-head offset o_h
  std::string offset_init = "exp";   // exp | uniform
  int64_t dim_conv = 0;              // short causal conv kernel; 0 = none
  std::string conv_type = "full";    // full: conv over [v, q, k]; partial: over [q, k]
};

// Throws seqlab::UserError naming the option and the valid choices on a bad option or size.
std::shared_ptr<Mixer> make_normalized_attention(const ZooOptions& o,
                                                 const NormalizedAttentionOptions& n);
// The zoo factory: ZooOptions::variant "" or "dsf" -> dsf; "companion" -> the defaults above.
std::shared_ptr<Mixer> make_normalized_attention(const ZooOptions& o);

// Offset initialization o_h of the companion variant (§2.2.5) as a float64 (H) tensor.
torch::Tensor normalized_attention_offset_init(const std::string& kind, int64_t heads);

}  // namespace seqlab::mixers
