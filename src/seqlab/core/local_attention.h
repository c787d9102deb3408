// Banded softmax attention as one fused CPU kernel with a recomputing backward (the memory-saving
// form of local attention; spec/protocols.md §4.2 LocalAttention, spec/mixers.md §2.2.1, §2.2.3).
//
// Per (b, h) and query i, over the keys first(i) <= j < end(i) of its band:
//   s_ij = q_i . k_j + bias_ij,   bias_ij = -m_h (i - j) (ALiBi; -m_h |i - j| non-causal) or 0,
//   y_i = sum_j exp(s_ij - lse_i) v_j,   lse_i = log sum_j exp(s_ij).
// The band of window w (chunk c = floor(i/w)): first(i) = max(0, (c - 1) w); end(i) = i + 1
// (causal) or min(T, (c + 2) w) (non-causal). Window 0 is full attention (first 0, end i + 1
// or T). q arrives already scaled by tau and rotated (RoPE), so the kernel is the A = I core of
// §2.2.1; tau's gradient flows through the caller's q * tau.
//
// Forward keeps y and lse only (O(T n) memory instead of the (T, span) scores of the chunked
// form); backward recomputes p_ij = exp(s_ij - lse_i) and applies
//   D_i = dy_i . y_i,  ds_ij = p_ij (dy_i . v_j - D_i),
//   dq_i = sum_j ds_ij k_j,  dk_j = sum_i ds_ij q_i,  dv_j = sum_i p_ij dy_i.
// Work items are (b, h) rows, each computed by one thread in a fixed order: results are
// bit-identical at any thread count. float32 and float64, CPU only.
#pragma once
#include <torch/types.h>

#include <cstdint>

namespace seqlab::core {

struct LocalAttentionBand {
  int64_t window = 0;  // chunk length w; 0 = every key (full attention)
  bool causal = true;

  // The keys query i may attend to in a sequence of T: first(i) <= j < end(i, T).
  int64_t first(int64_t i) const {
    if (window <= 0) return 0;
    const int64_t start = (i / window - 1) * window;
    return start > 0 ? start : 0;
  }
  int64_t end(int64_t i, int64_t T) const {
    if (causal) return i + 1;
    if (window <= 0) return T;
    const int64_t stop = (i / window + 2) * window;
    return stop < T ? stop : T;
  }
};

// q, k, v: (B, H, T, n) with the same dtype (float or double) on the CPU. alibi_slopes: (H)
// float64 slopes m_h, or an undefined tensor for no bias. Returns y (B, H, T, n); differentiable
// in q, k and v (the slopes are constants).
torch::Tensor local_attention_fused(const torch::Tensor& q, const torch::Tensor& k,
                                    const torch::Tensor& v, const LocalAttentionBand& band,
                                    const torch::Tensor& alibi_slopes = torch::Tensor());

}  // namespace seqlab::core
