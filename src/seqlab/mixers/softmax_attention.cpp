// Softmax attention, causal or not, NoPE / RoPE / ALiBi (spec/mixers.md §2.2.1-§2.2.3; paths
// §6.1).
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
      window_(options.window()),
      causal_(options.causal()),
      position_(options.position()),
      rope_(false),
      tau_(0.0) {
  if (d_model_ < 1)
    throw UserError("softmax attention: d_model = " + std::to_string(d_model_) + " must be >= 1");
  if (heads_ < 1)
    throw UserError("softmax attention: heads = " + std::to_string(heads_) + " must be >= 1");
  if (d_model_ % heads_ != 0)
    throw UserError("softmax attention: heads = " + std::to_string(heads_) +
                    " must divide d_model = " + std::to_string(d_model_));
  if (window_ < 0)
    throw UserError("softmax attention: window = " + std::to_string(window_) +
                    " must be >= 0 (0 = full attention)");
  if (position_ != "none" && position_ != "rope" && position_ != "alibi")
    throw UserError("softmax attention: position = '" + position_ +
                    "' is not valid; valid choices: none, rope, alibi");
  if (options.rope()) {  // the older boolean spelling of position = "rope"
    if (position_ == "alibi")
      throw UserError("softmax attention: rope(true) conflicts with position = 'alibi'");
    position_ = "rope";
  }
  rope_ = position_ == "rope";
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
  // tau = n^{-1/2} (§2.2.1 default temperature, and the learnable option's initial value).
  tau_ = 1.0 / std::sqrt(static_cast<double>(head_dim_));
  if (position_ == "alibi") slopes_ = torch::tensor(alibi_slopes(heads_), torch::kFloat64);

  // q/k/v/out projections with bias; LibTorch's Linear init is PyTorch's (§0.3).
  q_proj = register_module("q_proj", torch::nn::Linear(d_model_, d_model_));
  k_proj = register_module("k_proj", torch::nn::Linear(d_model_, d_model_));
  v_proj = register_module("v_proj", torch::nn::Linear(d_model_, d_model_));
  out_proj = register_module("out_proj", torch::nn::Linear(d_model_, d_model_));
  if (options_.learnable_tau()) tau_param = register_parameter("tau", torch::full({}, tau_));
}

std::vector<double> SoftmaxAttentionImpl::alibi_slopes(int64_t heads) {
  // §2.2.3: geometric sequence starting at 2^{-8/H} with ratio 2^{-8/H} for H a power of 2.
  const auto power_of_two = [](int64_t h) {
    std::vector<double> s;
    for (int64_t i = 1; i <= h; ++i) s.push_back(std::pow(2.0, -8.0 * i / h));
    return s;
  };
  int64_t p = 1;
  while (2 * p <= heads) p *= 2;
  auto slopes = power_of_two(p);
  // Other H (unverified rule of §2.2.3): every other slope of the 2H' sequence.
  const auto extra = power_of_two(2 * p);
  for (size_t i = 0; i < extra.size() && static_cast<int64_t>(slopes.size()) < heads; i += 2)
    slopes.push_back(extra[i]);
  return slopes;
}

double SoftmaxAttentionImpl::tau() const {
  return tau_param.defined() ? tau_param.item<double>() : tau_;
}

torch::Tensor SoftmaxAttentionImpl::scale(const torch::Tensor& scores) const {
  return tau_param.defined() ? scores * tau_param : scores * tau_;
}

torch::Tensor SoftmaxAttentionImpl::alibi_bias(const torch::Tensor& q_pos,
                                               const torch::Tensor& k_pos,
                                               torch::Dtype dtype) const {
  // -m_h (i - j), not multiplied by tau (§2.2.3), formed in float64; -m_h |i - j| non-causal.
  auto dist = q_pos.to(torch::kFloat64).unsqueeze(1) - k_pos.to(torch::kFloat64).unsqueeze(0);
  if (!causal_) dist = dist.abs();
  return (-slopes_.view({heads_, 1, 1}) * dist.unsqueeze(0)).to(dtype);
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

torch::Tensor SoftmaxAttentionImpl::rotate(const torch::Tensor& t, int64_t offset) const {
  // t: (B, H, T, n). Pair (a, b) at position s becomes rot(s theta_m) (a, b) =
  // (a cos - b sin, a sin + b cos). Angles are formed in float64, then cast.
  const int64_t T = t.size(2);
  const int64_t half = head_dim_ / 2;
  auto angles = torch::outer(torch::arange(offset, offset + T, torch::kFloat64),
                             rope_frequencies());  // (T, n/2)
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

torch::Tensor SoftmaxAttentionImpl::masked_scores(const torch::Tensor& q,
                                                  const torch::Tensor& k) const {
  // alpha~ = tau Q K^T (+ ALiBi bias) with hidden keys masked to -inf (§2.2.1, §2.2.3, §3.2.8).
  // Every row contains its diagonal, so no row is fully masked.
  const int64_t T = q.size(2);
  auto scores = scale(torch::matmul(q, k.transpose(-2, -1)));  // (B, H, T, T)
  if (position_ == "alibi") {
    auto pos = torch::arange(T, torch::kFloat64);
    scores = scores + alibi_bias(pos, pos, scores.scalar_type());
  }
  return scores.masked_fill(hidden_keys(T, q.device()), -std::numeric_limits<double>::infinity());
}

torch::Tensor SoftmaxAttentionImpl::hidden_keys(int64_t T, const torch::Device& device) const {
  auto opts = torch::TensorOptions().dtype(torch::kBool).device(device);
  auto hidden = causal_ ? torch::ones({T, T}, opts).triu(1)  // j > i
                        : torch::zeros({T, T}, opts);
  if (window_ > 0) {
    // Chunks c - 1, c (and c + 1 non-causal) of c = floor(i/w) (protocols §4.2 LocalAttention).
    auto i = torch::arange(T, torch::TensorOptions().dtype(torch::kInt64).device(device));
    auto chunk = torch::div(i, window_, "floor");
    auto first = ((chunk - 1) * window_).clamp_min(0);
    hidden = hidden | (i.unsqueeze(0) < first.unsqueeze(1));
    if (!causal_) hidden = hidden | (i.unsqueeze(0) >= ((chunk + 2) * window_).unsqueeze(1));
  }
  return hidden;
}

torch::Tensor SoftmaxAttentionImpl::local_attend(const torch::Tensor& q, const torch::Tensor& k,
                                                 const torch::Tensor& v) const {
  // Query a of chunk c (i = cw + a) against the keys of chunks c-1, c (and c+1 non-causal):
  // j = (c-1)w + b, b < span = 2w (3w). Visible iff 0 <= j < T (no chunk -1, no padding) and,
  // causal, b <= a + w. Keys are zero-padded by one chunk in front and at the end to a whole
  // number of chunks (plus one more non-causal); padded queries are dropped.
  const int64_t B = q.size(0), T = q.size(2), w = window_;
  const int64_t span = causal_ ? 2 * w : 3 * w;
  const int64_t chunks = (T + w - 1) / w, padded = chunks * w;
  namespace F = torch::nn::functional;
  auto pad_keys = [&](const torch::Tensor& t) {  // (B, H, w + padded + span - 2w, n)
    return F::pad(t, F::PadFuncOptions({0, 0, w, padded - T + span - 2 * w}));
  };
  auto qc =
      F::pad(q, F::PadFuncOptions({0, 0, 0, padded - T})).view({B, heads_, chunks, w, head_dim_});
  auto kw = pad_keys(k).unfold(2, span, w);  // (B, H, chunks, n, span)
  auto vw = pad_keys(v).unfold(2, span, w);
  auto scores = scale(torch::matmul(qc, kw));  // (B, H, chunks, w, span)
  auto opts = torch::TensorOptions().dtype(torch::kInt64).device(q.device());
  auto a = torch::arange(w, opts).view({w, 1}), b = torch::arange(span, opts).view({1, span});
  if (position_ == "alibi") {  // -m_h (i - j) = -m_h (a + w - b), the same in every chunk
    auto dist = (a + w - b).to(torch::kFloat64);
    if (!causal_) dist = dist.abs();
    scores = scores + (-slopes_.view({heads_, 1, 1, 1}) * dist).to(scores.scalar_type());
  }
  auto j = torch::arange(chunks, opts).view({chunks, 1, 1}) * w - w + b.unsqueeze(0);
  auto hidden = (j < 0) | (j >= T);                         // (chunks, 1, span)
  if (causal_) hidden = hidden | (b > a + w).unsqueeze(0);  // (chunks, w, span)
  scores = scores.masked_fill(hidden, -std::numeric_limits<double>::infinity());
  auto y = torch::matmul(torch::softmax(scores, -1), vw.transpose(-2, -1));  // (B,H,chunks,w,n)
  return y.reshape({B, heads_, padded, head_dim_}).narrow(2, 0, T);
}

torch::Tensor SoftmaxAttentionImpl::forward(const torch::Tensor& x) {
  check_input(x, "forward");
  auto q = split_heads(q_proj(x));  // (B, H, T, n)
  auto k = split_heads(k_proj(x));
  auto v = split_heads(v_proj(x));
  if (rope_) {  // §2.2.2 fast path: rotate q by R_i and k by R_j, then A = I attention.
    q = rotate(q);
    k = rotate(k);
  }
  // The band, O(T w) instead of O(T^2), once it is narrower than the sequence: the fused CPU
  // kernel on tau q (tau's gradient flows through the product), or the chunked form.
  if (window_ > 0 && x.size(1) > (causal_ ? 2 : 3) * window_) {
    if (options_.fused() && x.device().is_cpu())
      return out_proj(merge_heads(core::local_attention_fused(scale(q), k, v, band(), slopes_)));
    return out_proj(merge_heads(local_attend(q, k, v)));
  }
  auto p = torch::softmax(masked_scores(q, k), -1);
  return out_proj(merge_heads(torch::matmul(p, v)));
}

torch::Tensor SoftmaxAttentionImpl::reference(const torch::Tensor& x) {
  // KV-cache form (§1.5): each key is rotated once, k^_j = R_j k_j (A = I for NoPE and ALiBi),
  // stored and never evolved; query i is rotated by R_i and attends to the cached keys
  // first_visible_key(i) <= j < end_visible_key(i, T) (j <= i causal; every key non-causal, the
  // cache then filled before the first query). ALiBi adds -m_h (i - j) (-m_h |i - j|
  // non-causal) to each score (never stored as a state, §1.5).
  check_input(x, "reference");
  const int64_t T = x.size(1);
  auto q = split_heads(q_proj(x));  // (B, H, T, n)
  auto k = split_heads(k_proj(x));
  auto v = split_heads(v_proj(x));
  torch::Tensor R;
  if (rope_) R = rotation_matrices(T, x.scalar_type());
  std::vector<torch::Tensor> key_cache, value_cache, outputs;
  for (int64_t j = 0; j < T; ++j) {
    auto kj = k.select(2, j);  // (B, H, n)
    if (rope_) kj = torch::matmul(R[j], kj.unsqueeze(-1)).squeeze(-1);
    key_cache.push_back(kj);
    value_cache.push_back(v.select(2, j));
  }
  for (int64_t i = 0; i < T; ++i) {
    auto qi = q.select(2, i);  // (B, H, n)
    if (rope_) qi = torch::matmul(R[i], qi.unsqueeze(-1)).squeeze(-1);
    const int64_t first = first_visible_key(i), end = end_visible_key(i, T);
    auto K =
        torch::stack(std::vector<torch::Tensor>(key_cache.begin() + first, key_cache.begin() + end),
                     2);  // (B, H, end - first, n)
    auto V = torch::stack(
        std::vector<torch::Tensor>(value_cache.begin() + first, value_cache.begin() + end), 2);
    // alpha~_ij = tau q^_i . k^_j (- m_h (i - j)); alpha_ij = exp(alpha~_ij - max) / sum.
    auto s = scale((K * qi.unsqueeze(2)).sum(-1));  // (B, H, end - first)
    if (position_ == "alibi")
      s = s + alibi_bias(torch::full({1}, double(i)), torch::arange(first, end, torch::kFloat64),
                         s.scalar_type())
                  .squeeze(1);
    auto e = torch::exp(s - std::get<0>(s.max(-1, /*keepdim=*/true)).detach());
    auto alpha = e / e.sum(-1, /*keepdim=*/true);
    outputs.push_back((alpha.unsqueeze(-1) * V).sum(2));  // (B, H, n)
  }
  return out_proj(merge_heads(torch::stack(outputs, 2)));
}

torch::Tensor SoftmaxAttentionImpl::coefficients(const torch::Tensor& x) {
  // Explicit alpha (§1.2, §1.3): alpha_ij = exp(alpha~_ij) / eta_i, eta_i = sum over the visible
  // l (l <= i causal) of exp(alpha~_il), with alpha~_ij = tau (R_i q_i)^T (R_j k_j) (rotation form
  // of §2.2.2; R = I for NoPE and ALiBi) - m_h (i - j) for ALiBi. The row max is subtracted
  // (detached) before exp; it cancels in the ratio. Hidden entries (j > i causal) are -inf before
  // exp, so they are exactly 0 and carry no gradient (§3.4: mask the exponent first).
  check_input(x, "coefficients");
  const int64_t T = x.size(1);
  auto q = split_heads(q_proj(x));  // (B, H, T, n)
  auto k = split_heads(k_proj(x));
  if (rope_) {
    auto R = rotation_matrices(T, x.scalar_type());  // (T, n, n), broadcast over (B, H)
    q = torch::matmul(R, q.unsqueeze(-1)).squeeze(-1);
    k = torch::matmul(R, k.unsqueeze(-1)).squeeze(-1);
  }
  auto raw = masked_scores(q, k);
  auto e = torch::exp(raw - std::get<0>(raw.max(-1, /*keepdim=*/true)).detach());
  return e / e.sum(-1, /*keepdim=*/true);
}

torch::Tensor SoftmaxAttentionImpl::values(const torch::Tensor& x) {
  check_input(x, "values");
  return split_heads(v_proj(x));
}

torch::Tensor SoftmaxAttentionImpl::from_core(const torch::Tensor& x, const torch::Tensor& y_core) {
  (void)x;
  return out_proj(merge_heads(y_core));
}

core::Normalizer SoftmaxAttentionImpl::normalizers(const torch::Tensor& x) {
  // eta_i = sum_{l<=i} exp(alpha~_il) (over the visible l) through its logarithm LSE_i (§3.2.8),
  // so that the DSF eigenvalue exp(LSE_{i-1} - LSE_i) never overflows (§4.2).
  check_input(x, "normalizers");
  auto q = split_heads(q_proj(x));
  auto k = split_heads(k_proj(x));
  if (rope_) {
    q = rotate(q);
    k = rotate(k);
  }
  core::Normalizer n;
  n.log_eta = torch::logsumexp(masked_scores(q, k), -1);  // (B, H, T)
  n.eta = torch::exp(n.log_eta);
  return n;
}

core::LogitScale SoftmaxAttentionImpl::logit_scale(const torch::Tensor& x) {
  check_input(x, "logit_scale");
  const int64_t T = x.size(1);
  auto q = split_heads(q_proj(x));
  auto k = split_heads(k_proj(x));
  if (rope_) {
    q = rotate(q);
    k = rotate(k);
  }
  auto logits =
      scale(torch::matmul(q, k.transpose(-2, -1)))
          .masked_fill(hidden_keys(T, x.device()), -std::numeric_limits<double>::infinity());
  return core::logit_scale(logits, q, k, tau());
}

std::vector<torch::Tensor> SoftmaxAttentionImpl::initial_state(
    int64_t batch, const torch::TensorOptions& options) {
  if (!causal_)
    throw UserError(
        "softmax attention: non-causal (model.bidirectional) attention has no step form; a query "
        "attends to keys that have not arrived yet (use forward on the whole sequence)");
  return {torch::zeros({batch, heads_, 0, head_dim_}, options),
          torch::zeros({batch, heads_, 0, head_dim_}, options),
          torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64))};
}

torch::Tensor SoftmaxAttentionImpl::step(std::vector<torch::Tensor>& state,
                                         const torch::Tensor& x_t) {
  // The KV cache of §1.5, one token: k^_t = R_t k_t is appended once and never evolved.
  if (!causal_)
    throw UserError(
        "softmax attention: non-causal (model.bidirectional) attention has no step form");
  TORCH_CHECK(state.size() == 3, "SoftmaxAttention::step expects the state from initial_state()");
  TORCH_CHECK(x_t.dim() == 2 && x_t.size(1) == d_model_, "SoftmaxAttention::step: expected x_t of ",
              "shape (B, ", d_model_, "), got ", x_t.sizes());
  const int64_t t = state[2].item<int64_t>();
  auto x = x_t.unsqueeze(1);
  auto q = split_heads(q_proj(x));  // (B, H, 1, n)
  auto k = split_heads(k_proj(x));
  if (rope_) {
    q = rotate(q, t);
    k = rotate(k, t);
  }
  state[0] = torch::cat({state[0], k}, 2);
  state[1] = torch::cat({state[1], split_heads(v_proj(x))}, 2);
  // The cache holds keys first..t, exactly those query t can see (trimmed after the previous
  // step).
  const int64_t first = t + 1 - state[0].size(2);
  auto s = scale(torch::matmul(q, state[0].transpose(-2, -1)));  // (B, H, 1, t+1-first)
  if (position_ == "alibi")
    s = s + alibi_bias(torch::full({1}, double(t)), torch::arange(first, t + 1, torch::kFloat64),
                       s.scalar_type());
  state[2] = torch::full({}, t + 1, torch::TensorOptions().dtype(torch::kInt64));
  auto y = torch::matmul(torch::softmax(s, -1), state[1]);  // (B, H, 1, n)
  // With a window, drop the keys the next query can no longer see (later ones see even fewer),
  // so the cache never exceeds 2w keys and matches state_size(t + 1).
  const int64_t next_first = first_visible_key(t + 1);
  if (next_first > first) {
    state[0] = state[0].narrow(2, next_first - first, t + 1 - next_first).contiguous();
    state[1] = state[1].narrow(2, next_first - first, t + 1 - next_first).contiguous();
  }
  return out_proj(merge_heads(y)).squeeze(1);
}

torch::Tensor SoftmaxAttentionImpl::transition_matrices() const {
  const int64_t n = head_dim_;
  if (position_ == "alibi") {
    // A = I_n (+) J, J = [[1, -m_h], [0, 1]] (§2.2.3).
    auto A = torch::zeros({heads_, n + 2, n + 2}, torch::kFloat64);
    A.narrow(1, 0, n).narrow(2, 0, n).copy_(torch::eye(n, torch::kFloat64));
    A.select(1, n).select(1, n).fill_(1.0);
    A.select(1, n).select(1, n + 1).copy_(-slopes_);
    A.select(1, n + 1).select(1, n + 1).fill_(1.0);
    return A;
  }
  if (rope_)  // A = R_1^T (§2.2.2)
    return rotation_matrices(2, torch::kFloat64)[1].t().unsqueeze(0).repeat({heads_, 1, 1});
  return torch::eye(n, torch::kFloat64).unsqueeze(0).repeat({heads_, 1, 1});
}

torch::Tensor SoftmaxAttentionImpl::reverse_transition_matrices() const {
  // The reversed system of non-causal attention (mixers.md §1.2): key j > i reaches query i
  // through A_rev^{j-i}. RoPE: Phi(i, j) = R_{j-i} = R_1^{j-i} = (A^T)^{j-i} with A^T = A^{-1};
  // ALiBi: the Jordan block A counts the distance j - i = |i - j| itself; NoPE: I.
  auto A = transition_matrices();
  return rope_ ? A.transpose(1, 2).contiguous() : A;
}

core::Transition SoftmaxAttentionImpl::transitions(const torch::Tensor& x) {
  check_input(x, "transitions");
  core::Transition tr;
  if (position_ != "alibi" && !rope_) {
    tr.kind = core::TransitionKind::kIdentity;
    return tr;
  }
  tr.kind = core::TransitionKind::kDense;
  tr.dense = transition_matrices().unsqueeze(1);  // (H, 1, n', n'): LTI, one matrix per head
  return tr;
}

torch::Tensor SoftmaxAttentionImpl::coefficients_from_transition(const torch::Tensor& x) {
  // alpha~_ij = b q~_i^T A^{i-j} k~_j (§1.2), b = tau, on the un-rotated q, k; diagonal l = i - j
  // of the (T, T) logits uses the power A^l. Non-causal, the reversed system adds the diagonals
  // above: alpha~_ij = b q~_i^T A_rev^{j-i} k~_j for j > i.
  check_input(x, "coefficients_from_transition");
  const int64_t B = x.size(0), T = x.size(1);
  auto q = split_heads(q_proj(x));  // (B, H, T, n)
  auto k = split_heads(k_proj(x));
  if (position_ == "alibi") {
    // q~ = (q, 1, 0), k~ = (k, 0, 1/tau): b k~ = (tau k, 0, 1) (§2.2.3, 1/tau = sqrt(n)).
    auto ones = torch::ones({B, heads_, T, 1}, q.options());
    auto zeros = torch::zeros({B, heads_, T, 1}, q.options());
    auto inv_tau = tau_param.defined() ? ones / tau_param : ones / tau_;
    q = torch::cat({q, ones, zeros}, -1);
    k = torch::cat({k, zeros, inv_tau}, -1);
  }
  auto A = transition_matrices().to(x.scalar_type());  // (H, n', n')
  auto power = torch::eye(A.size(-1), A.options()).expand_as(A);
  auto raw = torch::zeros({B, heads_, T, T}, q.options());
  for (int64_t l = 0; l < T; ++l) {
    // A^l k~_j for j = 0..T-1-l, read out by q~_{j+l}.
    auto moved = torch::einsum("hab,zhjb->zhja", {power, k.narrow(2, 0, T - l)});
    auto s = (q.narrow(2, l, T - l) * moved).sum(-1);  // (B, H, T - l)
    raw = raw + torch::diag_embed(s, -l, -2, -1);
    power = torch::matmul(A, power);
  }
  if (!causal_) {
    auto A_rev = reverse_transition_matrices().to(x.scalar_type());
    auto power_rev = A_rev;  // A_rev^l, l >= 1
    for (int64_t l = 1; l < T; ++l) {
      // A_rev^l k~_j for j = l..T-1, read out by q~_{j-l}.
      auto moved = torch::einsum("hab,zhjb->zhja", {power_rev, k.narrow(2, l, T - l)});
      auto s = (q.narrow(2, 0, T - l) * moved).sum(-1);  // (B, H, T - l)
      raw = raw + torch::diag_embed(s, l, -2, -1);
      power_rev = torch::matmul(A_rev, power_rev);
    }
  }
  raw = scale(raw);
  raw = raw.masked_fill(hidden_keys(T, x.device()), -std::numeric_limits<double>::infinity());
  auto e = torch::exp(raw - std::get<0>(raw.max(-1, /*keepdim=*/true)).detach());
  return e / e.sum(-1, /*keepdim=*/true);
}

}  // namespace seqlab::mixers
