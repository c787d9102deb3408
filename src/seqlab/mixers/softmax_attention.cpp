// Causal softmax attention, NoPE / RoPE (spec/mixers.md §2.2.1, §2.2.2; paths §6.1).
#include "seqlab/mixers/softmax_attention.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "seqlab/util/error.h"

namespace seqlab::mixers {

SoftmaxAttentionImpl::SoftmaxAttentionImpl(const SoftmaxAttentionOptions& options)
    : options_(options),
      d_model_(options.d_model()),
      heads_(options.heads()),
      head_dim_(0),
      rope_(options.rope()),
      tau_(0.0) {
  if (d_model_ < 1)
    throw UserError("softmax attention: d_model = " + std::to_string(d_model_) + " must be >= 1");
  if (heads_ < 1)
    throw UserError("softmax attention: heads = " + std::to_string(heads_) + " must be >= 1");
  if (d_model_ % heads_ != 0)
    throw UserError("softmax attention: heads = " + std::to_string(heads_) +
                    " must divide d_model = " + std::to_string(d_model_));
  head_dim_ = d_model_ / heads_;
  if (rope_) {
    if (head_dim_ % 2 != 0)
      throw UserError("softmax attention: RoPE needs an even head dimension d_model / heads, got " +
                      std::to_string(d_model_) + " / " + std::to_string(heads_) + " = " +
                      std::to_string(head_dim_));
    if (options_.rope_layout() != "half" && options_.rope_layout() != "interleaved")
      throw UserError("softmax attention: rope_layout = '" + options_.rope_layout() +
                      "' is not valid; valid choices: half, interleaved");
    if (!(options_.rope_base() > 0.0))
      throw UserError("softmax attention: rope_base = " + std::to_string(options_.rope_base()) +
                      " must be > 0");
  }
  // tau = n^{-1/2}, constant (§2.2.1 default temperature).
  tau_ = 1.0 / std::sqrt(static_cast<double>(head_dim_));

  // q/k/v/out projections with bias; LibTorch's Linear init is PyTorch's (§0.3).
  q_proj = register_module("q_proj", torch::nn::Linear(d_model_, d_model_));
  k_proj = register_module("k_proj", torch::nn::Linear(d_model_, d_model_));
  v_proj = register_module("v_proj", torch::nn::Linear(d_model_, d_model_));
  out_proj = register_module("out_proj", torch::nn::Linear(d_model_, d_model_));
}

void SoftmaxAttentionImpl::check_input(const torch::Tensor& x, const char* path) const {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == d_model_, "SoftmaxAttention::", path,
              ": expected x of shape (B, T, ", d_model_, "), got ", x.sizes());
  TORCH_CHECK(x.is_floating_point(), "SoftmaxAttention::", path,
              ": expected a floating-point x, got ", x.scalar_type());
}

torch::Tensor SoftmaxAttentionImpl::split_heads(const torch::Tensor& t) const {
  return t.view({t.size(0), t.size(1), heads_, head_dim_}).transpose(1, 2);
}

torch::Tensor SoftmaxAttentionImpl::merge_heads(const torch::Tensor& t) const {
  return t.transpose(1, 2).reshape({t.size(0), t.size(2), d_model_});
}

torch::Tensor SoftmaxAttentionImpl::rope_frequencies() const {
  // theta_m = base^{-2m/n}, m = 0..n/2-1 (§2.2.2), computed in float64.
  const int64_t half = head_dim_ / 2;
  auto m = torch::arange(half, torch::kFloat64);
  return torch::pow(options_.rope_base(), -2.0 * m / static_cast<double>(head_dim_));
}

std::pair<int64_t, int64_t> SoftmaxAttentionImpl::rope_pair(int64_t m) const {
  // §2.2.2 pair layout: half = (m, m + n/2); interleaved = (2m, 2m + 1).
  if (options_.rope_layout() == "interleaved") return {2 * m, 2 * m + 1};
  return {m, m + head_dim_ / 2};
}

torch::Tensor SoftmaxAttentionImpl::rotate(const torch::Tensor& t) const {
  // t: (B, H, T, n). Pair (a, b) at position s becomes rot(s theta_m) (a, b) =
  // (a cos - b sin, a sin + b cos). Angles are formed in float64, then cast.
  const int64_t T = t.size(2);
  const int64_t half = head_dim_ / 2;
  auto angles = torch::outer(torch::arange(T, torch::kFloat64), rope_frequencies());  // (T, n/2)
  auto cos = angles.cos().to(t.scalar_type());
  auto sin = angles.sin().to(t.scalar_type());
  if (options_.rope_layout() == "interleaved") {
    auto pairs = t.unflatten(-1, {half, 2});
    auto a = pairs.select(-1, 0);
    auto b = pairs.select(-1, 1);
    return torch::stack({a * cos - b * sin, a * sin + b * cos}, -1).flatten(-2);
  }
  auto a = t.narrow(-1, 0, half);
  auto b = t.narrow(-1, half, half);
  return torch::cat({a * cos - b * sin, a * sin + b * cos}, -1);
}

torch::Tensor SoftmaxAttentionImpl::rotation_matrices(int64_t T, torch::Dtype dtype) const {
  // R_t = blockdiag(rot(t theta_m)) with rot(phi) = [[cos, -sin], [sin, cos]] placed on the
  // coordinates of pair m (§2.2.2), for t = 0..T-1.
  auto theta = rope_frequencies();
  auto pos = torch::arange(T, torch::kFloat64);
  auto R = torch::zeros({T, head_dim_, head_dim_}, torch::kFloat64);
  for (int64_t m = 0; m < head_dim_ / 2; ++m) {
    const auto [p0, p1] = rope_pair(m);
    auto phi = pos * theta[m];
    R.select(1, p0).select(1, p0).copy_(phi.cos());
    R.select(1, p0).select(1, p1).copy_(-phi.sin());
    R.select(1, p1).select(1, p0).copy_(phi.sin());
    R.select(1, p1).select(1, p1).copy_(phi.cos());
  }
  return R.to(dtype);
}

torch::Tensor SoftmaxAttentionImpl::forward(const torch::Tensor& x) {
  check_input(x, "forward");
  const int64_t T = x.size(1);
  auto q = split_heads(q_proj(x));  // (B, H, T, n)
  auto k = split_heads(k_proj(x));
  auto v = split_heads(v_proj(x));
  if (rope_) {  // §2.2.2 fast path: rotate q by R_i and k by R_j, then A = I attention.
    q = rotate(q);
    k = rotate(k);
  }
  // scores = tau Q K^T with j > i masked to -inf; softmax over j (§2.2.1). Causal rows always
  // contain the diagonal, so no row is fully masked (§3.2.8).
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * tau_;  // (B, H, T, T)
  auto future =
      torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
  scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
  auto p = torch::softmax(scores, -1);
  return out_proj(merge_heads(torch::matmul(p, v)));
}

torch::Tensor SoftmaxAttentionImpl::reference(const torch::Tensor& x) {
  // KV-cache form (§1.5): each key is rotated once, k^_j = R_j k_j (A = I for NoPE), stored and
  // never evolved; query i is rotated by R_i and attends to the cache j <= i.
  check_input(x, "reference");
  const int64_t T = x.size(1);
  auto q = split_heads(q_proj(x));  // (B, H, T, n)
  auto k = split_heads(k_proj(x));
  auto v = split_heads(v_proj(x));
  torch::Tensor R;
  if (rope_) R = rotation_matrices(T, x.scalar_type());
  std::vector<torch::Tensor> key_cache, value_cache, outputs;
  for (int64_t i = 0; i < T; ++i) {
    auto qi = q.select(2, i);  // (B, H, n)
    auto ki = k.select(2, i);
    if (rope_) {
      qi = torch::matmul(R[i], qi.unsqueeze(-1)).squeeze(-1);
      ki = torch::matmul(R[i], ki.unsqueeze(-1)).squeeze(-1);
    }
    key_cache.push_back(ki);
    value_cache.push_back(v.select(2, i));
    auto K = torch::stack(key_cache, 2);    // (B, H, i+1, n)
    auto V = torch::stack(value_cache, 2);  // (B, H, i+1, n)
    // alpha~_ij = tau q^_i . k^_j; alpha_ij = exp(alpha~_ij - max) / sum_l exp(alpha~_il - max).
    auto s = (K * qi.unsqueeze(2)).sum(-1) * tau_;  // (B, H, i+1)
    auto e = torch::exp(s - std::get<0>(s.max(-1, /*keepdim=*/true)).detach());
    auto alpha = e / e.sum(-1, /*keepdim=*/true);
    outputs.push_back((alpha.unsqueeze(-1) * V).sum(2));  // (B, H, n)
  }
  return out_proj(merge_heads(torch::stack(outputs, 2)));
}

torch::Tensor SoftmaxAttentionImpl::coefficients(const torch::Tensor& x) {
  // Explicit alpha (§1.2, §1.3): alpha_ij = exp(alpha~_ij) / eta_i, eta_i = sum_{l<=i}
  // exp(alpha~_il), with alpha~_ij = tau (R_i q_i)^T (R_j k_j) (rotation form of §2.2.2; R = I
  // for NoPE). The row max is subtracted (detached) before exp; it cancels in the ratio.
  check_input(x, "coefficients");
  const int64_t T = x.size(1);
  auto q = split_heads(q_proj(x));  // (B, H, T, n)
  auto k = split_heads(k_proj(x));
  if (rope_) {
    auto R = rotation_matrices(T, x.scalar_type());  // (T, n, n), broadcast over (B, H)
    q = torch::matmul(R, q.unsqueeze(-1)).squeeze(-1);
    k = torch::matmul(R, k.unsqueeze(-1)).squeeze(-1);
  }
  auto raw = torch::einsum("bhin,bhjn->bhij", {q, k}) * tau_;  // (B, H, T, T)
  // Entries j > i are set to -inf before exp, so they are exactly 0 and carry no gradient
  // (§3.4: mask the exponent first).
  auto future =
      torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
  raw = raw.masked_fill(future, -std::numeric_limits<double>::infinity());
  auto e = torch::exp(raw - std::get<0>(raw.max(-1, /*keepdim=*/true)).detach());
  return e / e.sum(-1, /*keepdim=*/true);
}

}  // namespace seqlab::mixers
