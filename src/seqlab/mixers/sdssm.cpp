// SD-SSM mixer: the parametrization of A_t and k_t (spec/mixers.md §2.2.20) on top of the fused
// dense scan. Only the recurrence is hand-differentiated (core::dense_scan); the selector, mixture
// and column normalization are LibTorch ops, whose autograd gradients are the §3.3.6 rows.
#include "seqlab/mixers/sdssm.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "seqlab/core/dense_scan.h"

namespace seqlab::mixers {

torch::Tensor column_lp_normalize(const torch::Tensor& a, double p, double eps) {
  TORCH_CHECK(a.dim() >= 2 && a.size(-1) == a.size(-2),
              "column_lp_normalize: expected (..., N, N), got ", a.sizes());
  // r_c = (Σ_row |a[row, c]|^p + ε)^{1/p}: one norm per column, over the row index.
  auto r = a.abs().pow(p).sum(-2, /*keepdim=*/true);
  if (eps > 0) r = r + eps;
  return a / r.pow(1.0 / p);
}

SDSSMImpl::SDSSMImpl(const SDSSMOptions& options) : options_(options) {
  const int64_t D = options.input_dim(), N = options.state_size(), K = options.dict_size();
  TORCH_CHECK(D >= 1, "SDSSM: input_dim must be >= 1, got ", D);
  TORCH_CHECK(N >= 1, "SDSSM: state_size must be >= 1, got ", N);
  TORCH_CHECK(K >= 1, "SDSSM: dict_size must be >= 1, got ", K);
  TORCH_CHECK(std::isfinite(options.p()) && options.p() >= 1.0, "SDSSM: p must be >= 1, got ",
              options.p());
  TORCH_CHECK(options.colnorm_eps() >= 0.0, "SDSSM: colnorm_eps must be >= 0, got ",
              options.colnorm_eps());
  A_dict = register_parameter("A_dict", torch::empty({K, N, N}));
  selector =
      register_module("selector", torch::nn::Linear(torch::nn::LinearOptions(D, K).bias(true)));
  B = register_module("B", torch::nn::Linear(torch::nn::LinearOptions(D, N).bias(false)));
  // Mixer-owned init (§2.2.20): A_k entries i.i.d. U(±sqrt(3/N)). The Linear layers keep the
  // PyTorch default (§0.3).
  torch::NoGradGuard no_grad;
  const double bound = std::sqrt(3.0 / static_cast<double>(N));
  A_dict.uniform_(-bound, bound);
}

void SDSSMImpl::check_input(const torch::Tensor& u) const {
  TORCH_CHECK(u.dim() == 3 && u.size(2) == options_.input_dim(),
              "SDSSM: input must be (B, T, D) with D = ", options_.input_dim(), ", got ",
              u.sizes());
  TORCH_CHECK(u.scalar_type() == A_dict.scalar_type(), "SDSSM: input dtype ", u.scalar_type(),
              " differs from the parameters' dtype ", A_dict.scalar_type());
}

torch::Tensor SDSSMImpl::build_transitions(const torch::Tensor& u) const {
  const int64_t K = options_.dict_size(), N = options_.state_size();
  const auto logits = torch::linear(u, selector->weight, selector->bias);  // W_s u_t + b_s
  const auto s = torch::softmax(logits, -1);                               // s_t: (..., K)
  const auto mixed = torch::matmul(s, A_dict.reshape({K, N * N}));         // Ā_t: (..., N·N)
  auto sizes = u.sizes().vec();
  sizes.back() = N;
  sizes.push_back(N);
  return column_lp_normalize(mixed.reshape(sizes), options_.p(), options_.colnorm_eps());
}

torch::Tensor SDSSMImpl::symbol_transitions() const {
  return build_transitions(torch::eye(options_.input_dim(), A_dict.options()));
}

SDSSMImpl::ScanArgs SDSSMImpl::scan_args(const torch::Tensor& u) {
  check_input(u);
  const int64_t batch = u.size(0), T = u.size(1), N = options_.state_size();
  return {build_transitions(u).reshape({batch * T, N, N}),
          torch::arange(batch * T, torch::kInt64).reshape({batch, T}), B->forward(u)};
}

SDSSMImpl::ScanArgs SDSSMImpl::token_scan_args(const torch::Tensor& ids) {
  const int64_t D = options_.input_dim(), N = options_.state_size();
  TORCH_CHECK(ids.dim() == 2 && ids.scalar_type() == torch::kInt64,
              "SDSSM: token ids must be (B, T) int64, got ", ids.sizes(), " ", ids.scalar_type());
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < D, "SDSSM: token ids must be in [0, D) = [0, ", D, "), got [", lo,
                ", ", hi, "]");
  }
  // B u_t for one-hot u_t is column ids[t] of B: rows of Bᵀ (made contiguous first, so the gather
  // copies whole rows).
  const auto bu = B->weight.t().contiguous().index_select(0, ids.reshape({-1}));
  return {symbol_transitions(), ids, bu.reshape({ids.size(0), ids.size(1), N})};
}

torch::Tensor SDSSMImpl::forward(const torch::Tensor& u) {
  const auto s = scan_args(u);
  return core::dense_scan(s.a_table, s.idx, s.bu);
}

torch::Tensor SDSSMImpl::forward_tokens(const torch::Tensor& ids) {
  const auto s = token_scan_args(ids);
  return core::dense_scan(s.a_table, s.idx, s.bu);
}

torch::Tensor SDSSMImpl::forward_renormalized(const torch::Tensor& u) {
  torch::NoGradGuard no_grad;
  const auto s = scan_args(u);
  return dense_scan_renormalized(s.a_table, s.idx, s.bu);
}

torch::Tensor SDSSMImpl::forward_tokens_renormalized(const torch::Tensor& ids) {
  torch::NoGradGuard no_grad;
  const auto s = token_scan_args(ids);
  return dense_scan_renormalized(s.a_table, s.idx, s.bu);
}

torch::Tensor SDSSMImpl::reference(const torch::Tensor& u) {
  check_input(u);
  const int64_t batch = u.size(0), T = u.size(1), N = options_.state_size();
  if (T == 0) return torch::zeros({batch, 0, N}, u.options());
  const auto a = build_transitions(u);             // (B, T, N, N)
  const auto bu = B->forward(u);                   // (B, T, N)
  auto x = torch::zeros({batch, N}, u.options());  // x_0 = 0
  std::vector<torch::Tensor> xs;
  for (int64_t t = 0; t < T; ++t) {
    x = torch::matmul(a.select(1, t), x.unsqueeze(-1)).squeeze(-1) + bu.select(1, t);
    xs.push_back(x);
  }
  return torch::stack(xs, 1);
}

torch::Tensor SDSSMImpl::coefficients(const torch::Tensor& u) {
  check_input(u);
  const int64_t batch = u.size(0), T = u.size(1), N = options_.state_size();
  if (T == 0) return torch::zeros({batch, N, 0, 0}, u.options());
  const auto a = build_transitions(u);  // (B, T, N, N)
  const auto bu = B->forward(u);        // (B, T, N): the impulses k_j = B u_j
  const auto zero = torch::zeros({batch, N}, u.options());
  std::vector<torch::Tensor> columns;  // one (B, N, T) per source j, indexed by i
  for (int64_t j = 0; j < T; ++j) {
    std::vector<torch::Tensor> rows(T, zero);  // Φ(i, j) k_j, zero for i < j
    auto v = bu.select(1, j);                  // Φ(j, j) = I
    rows[j] = v;
    for (int64_t i = j + 1; i < T; ++i) {
      v = torch::matmul(a.select(1, i), v.unsqueeze(-1)).squeeze(-1);
      rows[i] = v;
    }
    columns.push_back(torch::stack(rows, -1));
  }
  return torch::stack(columns, -1);
}

int64_t SDSSMImpl::state_size(int64_t position) const {
  (void)position;
  return options_.state_size();
}

torch::Tensor dense_scan_renormalized(const torch::Tensor& a_table, const torch::Tensor& idx,
                                      const torch::Tensor& bu, int64_t chunk) {
  TORCH_CHECK(chunk >= 1, "dense_scan_renormalized: chunk must be >= 1, got ", chunk);
  TORCH_CHECK(idx.dim() == 2 && bu.dim() == 3,
              "dense_scan_renormalized: idx (B, T) and bu (B, T, N)", " expected, got ",
              idx.sizes(), " and ", bu.sizes());
  torch::NoGradGuard no_grad;
  const int64_t batch = idx.size(0), T = idx.size(1);
  std::vector<torch::Tensor> chunks;
  torch::Tensor h;                                        // carried state x̂, (B, N)
  auto scale = torch::ones({batch, 1, 1}, bu.options());  // 2^{-e} per sequence
  for (int64_t t0 = 0; t0 < T; t0 += chunk) {
    const int64_t len = std::min(chunk, T - t0);
    const auto x = core::dense_scan(a_table, idx.narrow(1, t0, len).contiguous(),
                                    (bu.narrow(1, t0, len) * scale).contiguous(), h);
    chunks.push_back(x);
    const auto last = x.select(1, len - 1);
    const auto peak = last.abs().amax(1, /*keepdim=*/true).clamp_min(1e-30);
    const auto factor = torch::exp2(-torch::floor(torch::log2(peak)));  // a power of two
    h = (last * factor).contiguous();
    scale = scale * factor.unsqueeze(-1);
  }
  return chunks.empty() ? torch::zeros({batch, 0, bu.size(2)}, bu.options())
                        : torch::cat(chunks, 1);
}

}  // namespace seqlab::mixers
