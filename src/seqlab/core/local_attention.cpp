// Fused banded softmax attention on the CPU (see local_attention.h for the formulas).
//
// Layout. Work items are (b, h) rows. An item copies its keys and values transposed, K^T and V^T
// (n, T), so that every inner loop runs over consecutive keys of the band: scores are n axpys
// s += q_c K^T[c, band], outputs n dot products with V^T[c, band]. Reductions (sums, dots) use
// fixed-order SIMD lanes (simd.h), so an item's bits do not depend on the thread that runs it.
#include "seqlab/core/local_attention.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

// As in channel_scan_fused.cpp: let GCC if-convert fast_exp's range selects (FP exceptions are
// never enabled in seqlab; this is not fast-math).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "seqlab/core/fast_exp.h"
#include "seqlab/core/simd.h"

namespace seqlab::core {
namespace {

struct Rows {
  int64_t T, n;
  LocalAttentionBand band;
  int64_t first(int64_t i) const { return band.first(i); }
  int64_t end(int64_t i) const { return band.end(i, T); }
  bool causal() const { return band.causal; }
  int64_t max_span() const {
    if (band.window <= 0) return T;
    return std::min<int64_t>(T, (band.causal ? 2 : 3) * band.window);
  }
};

// sum_j a_j b_j and sum_j a_j in fixed-order SIMD lanes plus a sequential tail.
template <typename scalar_t>
scalar_t dot(const scalar_t* a, const scalar_t* b, int64_t len) {
  constexpr int64_t L = simd::kLanes<scalar_t>;
  simd::vec_t<scalar_t> acc = {};
  int64_t j = 0;
  for (; j + L <= len; j += L) acc += simd::load(a + j) * simd::load(b + j);
  scalar_t s = simd::hsum(acc);
  for (; j < len; ++j) s += a[j] * b[j];
  return s;
}
template <typename scalar_t>
scalar_t sum(const scalar_t* a, int64_t len) {
  constexpr int64_t L = simd::kLanes<scalar_t>;
  simd::vec_t<scalar_t> acc = {};
  int64_t j = 0;
  for (; j + L <= len; j += L) acc += simd::load(a + j);
  scalar_t s = simd::hsum(acc);
  for (; j < len; ++j) s += a[j];
  return s;
}

// (T, n) -> (n, T).
template <typename scalar_t>
void transpose_into(const scalar_t* src, int64_t T, int64_t n, scalar_t* dst) {
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < n; ++c) dst[c * T + t] = src[t * n + c];
}

// s[0..len) = q_i . k_j + bias_ij for the keys j = j0..j0+len-1 of query i.
template <typename scalar_t>
void band_scores(const scalar_t* qi, const scalar_t* kt, const Rows& r, int64_t i, int64_t j0,
                 int64_t len, double slope, scalar_t* s) {
  if (slope != 0.0) {
    // ALiBi (§2.2.3): -m_h (i - j), non-causal -m_h |i - j|.
    for (int64_t j = 0; j < len; ++j) {
      const double d = static_cast<double>(i - (j0 + j));
      s[j] = static_cast<scalar_t>(-slope * (r.causal() ? d : std::abs(d)));
    }
  } else {
    for (int64_t j = 0; j < len; ++j) s[j] = 0;
  }
  for (int64_t c = 0; c < r.n; ++c) {
    const scalar_t qc = qi[c];
    const scalar_t* kc = kt + c * r.T + j0;
    for (int64_t j = 0; j < len; ++j) s[j] += qc * kc[j];
  }
}

template <typename scalar_t>
void forward_row(const scalar_t* q, const scalar_t* k, const scalar_t* v, const Rows& r,
                 double slope, scalar_t* y, scalar_t* lse) {
  std::vector<scalar_t> kt(r.n * r.T), vt(r.n * r.T), s(r.max_span());
  transpose_into(k, r.T, r.n, kt.data());
  transpose_into(v, r.T, r.n, vt.data());
  for (int64_t i = 0; i < r.T; ++i) {
    const int64_t j0 = r.first(i), len = r.end(i) - j0;
    band_scores(q + i * r.n, kt.data(), r, i, j0, len, slope, s.data());
    scalar_t m = s[0];
    for (int64_t j = 1; j < len; ++j) m = s[j] > m ? s[j] : m;
    for (int64_t j = 0; j < len; ++j) s[j] = fast_exp(s[j] - m);
    const scalar_t l = sum(s.data(), len), inv = scalar_t(1) / l;
    for (int64_t c = 0; c < r.n; ++c)
      y[i * r.n + c] = dot(s.data(), vt.data() + c * r.T + j0, len) * inv;
    lse[i] = m + std::log(l);
  }
}

template <typename scalar_t>
void backward_row(const scalar_t* q, const scalar_t* k, const scalar_t* v, const scalar_t* y,
                  const scalar_t* lse, const scalar_t* dy, const Rows& r, double slope,
                  scalar_t* dq, scalar_t* dk, scalar_t* dv) {
  const int64_t T = r.T, n = r.n, span = r.max_span();
  std::vector<scalar_t> kt(n * T), vt(n * T), dkt(n * T, 0), dvt(n * T, 0);
  std::vector<scalar_t> p(span), ds(span);
  transpose_into(k, T, n, kt.data());
  transpose_into(v, T, n, vt.data());
  for (int64_t i = 0; i < T; ++i) {
    const int64_t j0 = r.first(i), len = r.end(i) - j0;
    const scalar_t* qi = q + i * n;
    const scalar_t* dyi = dy + i * n;
    band_scores(qi, kt.data(), r, i, j0, len, slope, p.data());
    for (int64_t j = 0; j < len; ++j) p[j] = fast_exp(p[j] - lse[i]);  // p_ij, recomputed
    scalar_t D = 0;  // dy_i . y_i = sum_j p_ij (dy_i . v_j)
    for (int64_t c = 0; c < n; ++c) D += dyi[c] * y[i * n + c];
    for (int64_t j = 0; j < len; ++j) ds[j] = 0;
    for (int64_t c = 0; c < n; ++c) {  // ds_j <- dy_i . v_j
      const scalar_t g = dyi[c];
      const scalar_t* vc = vt.data() + c * T + j0;
      for (int64_t j = 0; j < len; ++j) ds[j] += g * vc[j];
    }
    for (int64_t j = 0; j < len; ++j) ds[j] = p[j] * (ds[j] - D);
    for (int64_t c = 0; c < n; ++c) {
      dq[i * n + c] = dot(ds.data(), kt.data() + c * T + j0, len);
      const scalar_t qc = qi[c], g = dyi[c];
      scalar_t* dkc = dkt.data() + c * T + j0;
      scalar_t* dvc = dvt.data() + c * T + j0;
      for (int64_t j = 0; j < len; ++j) dkc[j] += qc * ds[j];
      for (int64_t j = 0; j < len; ++j) dvc[j] += g * p[j];
    }
  }
  transpose_into(dkt.data(), n, T, dk);  // (n, T) -> (T, n)
  transpose_into(dvt.data(), n, T, dv);
}

double slope_of(const torch::Tensor& slopes, int64_t h) {
  return slopes.data_ptr<double>()[h];
}

class LocalAttentionFunction : public torch::autograd::Function<LocalAttentionFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& q,
                               const torch::Tensor& k, const torch::Tensor& v, int64_t window,
                               bool causal, const torch::Tensor& slopes) {
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), n = q.size(3);
    auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    auto y = torch::empty_like(qc);
    auto lse = torch::empty({B, H, T}, qc.options());
    const Rows r{T, n, LocalAttentionBand{window, causal}};
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "local_attention_fused", [&] {
      const scalar_t *pq = qc.data_ptr<scalar_t>(), *pk = kc.data_ptr<scalar_t>(),
                     *pv = vc.data_ptr<scalar_t>();
      scalar_t *py = y.data_ptr<scalar_t>(), *pl = lse.data_ptr<scalar_t>();
      at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
          const int64_t off = item * T * n;
          forward_row(pq + off, pk + off, pv + off, r, slope_of(slopes, item % H), py + off,
                      pl + item * T);
        }
      });
    });
    ctx->save_for_backward({qc, kc, vc, y, lse});
    ctx->saved_data["window"] = window;
    ctx->saved_data["causal"] = causal;
    ctx->saved_data["slopes"] = slopes;
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &y = saved[3], &lse = saved[4];
    const auto slopes = ctx->saved_data["slopes"].toTensor();
    const Rows r{
        q.size(2), q.size(3),
        LocalAttentionBand{ctx->saved_data["window"].toInt(), ctx->saved_data["causal"].toBool()}};
    const int64_t H = q.size(1), items = q.size(0) * H, T = r.T, n = r.n;
    auto dy = grads[0].contiguous();
    auto dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v);
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "local_attention_fused_backward", [&] {
      at::parallel_for(0, items, 1, [&](int64_t begin, int64_t end) {
        for (int64_t item = begin; item < end; ++item) {
          const int64_t off = item * T * n;
          backward_row(q.data_ptr<scalar_t>() + off, k.data_ptr<scalar_t>() + off,
                       v.data_ptr<scalar_t>() + off, y.data_ptr<scalar_t>() + off,
                       lse.data_ptr<scalar_t>() + item * T, dy.data_ptr<scalar_t>() + off, r,
                       slope_of(slopes, item % H), dq.data_ptr<scalar_t>() + off,
                       dk.data_ptr<scalar_t>() + off, dv.data_ptr<scalar_t>() + off);
        }
      });
    });
    return {dq, dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor local_attention_fused(const torch::Tensor& q, const torch::Tensor& k,
                                    const torch::Tensor& v, const LocalAttentionBand& band,
                                    const torch::Tensor& alibi_slopes) {
  TORCH_CHECK(q.dim() == 4 && k.sizes() == q.sizes() && v.sizes() == q.sizes(),
              "local_attention_fused: q, k, v must have the same (B, H, T, n) shape, got ",
              q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  TORCH_CHECK(q.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu(),
              "local_attention_fused: CPU tensors only (use the chunked path on other devices)");
  TORCH_CHECK(q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type() &&
                  (q.scalar_type() == torch::kFloat || q.scalar_type() == torch::kDouble),
              "local_attention_fused: q, k, v must all be float32 or all float64");
  TORCH_CHECK(band.window >= 0, "local_attention_fused: window must be >= 0, got ", band.window);
  TORCH_CHECK(q.size(2) >= 1, "local_attention_fused: empty sequence");
  // No bias = slopes 0 (autograd's apply needs every tensor argument defined).
  auto slopes = torch::zeros({q.size(1)}, torch::kFloat64);
  if (alibi_slopes.defined()) {
    TORCH_CHECK(alibi_slopes.dim() == 1 && alibi_slopes.size(0) == q.size(1),
                "local_attention_fused: alibi_slopes must have H = ", q.size(1), " entries");
    slopes = alibi_slopes.to(torch::kFloat64).contiguous();
  }
  return LocalAttentionFunction::apply(q, k, v, band.window, band.causal, slopes);
}

}  // namespace seqlab::core
