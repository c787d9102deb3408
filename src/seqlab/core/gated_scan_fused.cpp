// Fused CPU kernel of the gated matrix-state recurrence (spec/mixers.md §3.2.1) with its
// hand-written backward (§3.3.1 adjoint, §3.3.3 log-gate identity).
//
// Work is split over (batch × head) systems with at::parallel_for; each system is computed by one
// thread in a fixed order, so results are bit-identical at any thread count. The n × dv state
// lives in a per-system buffer (16 KiB at n = dv = 64 in fp32, inside L1/L2); the inner loops run
// over the contiguous dv axis and vectorize.
//
// Backward, per system, without stored states (memory policy §3.3.8 with the whole sequence as
// one recomputation chunk):
//   1. forward sweep recomputing S_t:      dq_t = S_t dy_t
//   2. reverse sweep of the adjoint:       G_t = q_t dy_tᵀ + Diag(a_{t+1}) G_{t+1}  (G_T += dS_T)
//                                          dk_t = G_t v_t,  dv_t = G_tᵀ k_t,  ds0 = Diag(a_1) G_1
//   3. gates by the log-gate identity:     dg_t = Σ_{s≥t} (q_s ⊙ dq_s − k_s ⊙ dk_s)
//                                          (+ rowsum(dS_T ⊙ S_T) at s = T; summed over the key
//                                          axis for scalar gates)
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "seqlab/core/gated_scan.h"
#include "seqlab/core/gated_scan_check.h"
#include "seqlab/core/simd.h"

namespace seqlab::core {

namespace {

// Sizes and base pointers of one call; every tensor is contiguous. gate_width is 0 (identity),
// 1 (scalar) or n (diagonal).
template <typename scalar_t>
struct GatedScanParams {
  int64_t systems = 0, T = 0, n = 0, dv = 0, gate_width = 0;
  const scalar_t* q = nullptr;   // (systems, T, n)
  const scalar_t* k = nullptr;   // (systems, T, n)
  const scalar_t* v = nullptr;   // (systems, T, dv)
  const scalar_t* g = nullptr;   // (systems, T, gate_width) or nullptr
  const scalar_t* s0 = nullptr;  // (systems, n, dv) or nullptr
};

// Fills a[0..n) with the decay of step t (1 for the identity class).
template <typename scalar_t>
inline void load_decay(const GatedScanParams<scalar_t>& p, const scalar_t* g_sys, int64_t t,
                       scalar_t* a) {
  if (p.gate_width == 0) {
    for (int64_t d = 0; d < p.n; ++d) a[d] = scalar_t(1);
  } else if (p.gate_width == 1) {
    const scalar_t e = std::exp(g_sys[t]);
    for (int64_t d = 0; d < p.n; ++d) a[d] = e;
  } else {
    const scalar_t* gt = g_sys + t * p.n;
    for (int64_t d = 0; d < p.n; ++d) a[d] = std::exp(gt[d]);
  }
}

using simd::hsum;
using simd::kLanes;
using simd::load;
using simd::store;
using simd::vec_t;

// One row of the forward sweep of the backward, in one pass over the dv columns:
// S_d ← a_d S_d + k_d v;  returns S_d · dy (vector lanes in a fixed tree, then the scalar tail).
template <typename scalar_t>
inline scalar_t update_row_dot(scalar_t* __restrict row, scalar_t ad, scalar_t kd,
                               const scalar_t* __restrict vt, const scalar_t* __restrict dyt,
                               int64_t dv) {
  using V = vec_t<scalar_t>;
  constexpr int64_t L = kLanes<scalar_t>;
  V acc{};
  int64_t e = 0;
  for (; e + L <= dv; e += L) {
    const V x = ad * load(row + e) + kd * load(vt + e);
    store(row + e, x);
    acc += x * load(dyt + e);
  }
  scalar_t sum = hsum(acc);
  for (; e < dv; ++e) {
    const scalar_t x = ad * row[e] + kd * vt[e];
    row[e] = x;
    sum += x * dyt[e];
  }
  return sum;
}

// One row of the adjoint sweep, in one pass over the dv columns:
// G_d ← a'_d G_d + q_d dy (a' = a_{t+1}, the carry from step t + 1);  dv_t += k_d G_d (when dvt);
// returns G_d · v_t.
template <typename scalar_t>
inline scalar_t adjoint_row(scalar_t* __restrict row, scalar_t a_next, scalar_t qd, scalar_t kd,
                            const scalar_t* __restrict dyt, const scalar_t* __restrict vt,
                            scalar_t* __restrict dvt, int64_t dv) {
  using V = vec_t<scalar_t>;
  constexpr int64_t L = kLanes<scalar_t>;
  V acc{};
  int64_t e = 0;
  if (dvt) {
    for (; e + L <= dv; e += L) {
      const V x = a_next * load(row + e) + qd * load(dyt + e);
      store(row + e, x);
      acc += x * load(vt + e);
      store(dvt + e, load(dvt + e) + kd * x);
    }
  } else {
    for (; e + L <= dv; e += L) {
      const V x = a_next * load(row + e) + qd * load(dyt + e);
      store(row + e, x);
      acc += x * load(vt + e);
    }
  }
  scalar_t sum = hsum(acc);
  for (; e < dv; ++e) {
    const scalar_t x = a_next * row[e] + qd * dyt[e];
    row[e] = x;
    sum += x * vt[e];
    if (dvt) dvt[e] += kd * x;
  }
  return sum;
}

// Columns [e0, e0 + W·L) of one forward step, with the W value and output vectors held in
// registers across the n rows (register blocking: the state is read and written once, y once):
//   S_d ← a_d S_d + k_d v;   y = Σ_d q_d S_d.
template <int W, typename scalar_t>
inline void forward_block(int64_t n, int64_t dv, int64_t e0, const scalar_t* __restrict a,
                          const scalar_t* __restrict qt, const scalar_t* __restrict kt,
                          const scalar_t* __restrict vt, scalar_t* __restrict S,
                          scalar_t* __restrict yt) {
  using V = vec_t<scalar_t>;
  constexpr int64_t L = kLanes<scalar_t>;
  V vv[W], yy[W];
  for (int w = 0; w < W; ++w) {
    vv[w] = load(vt + e0 + w * L);
    yy[w] = V{};
  }
  for (int64_t d = 0; d < n; ++d) {
    scalar_t* row = S + d * dv + e0;
    const scalar_t ad = a[d], kd = kt[d], qd = qt[d];
    for (int w = 0; w < W; ++w) {
      const V x = ad * load(row + w * L) + kd * vv[w];
      store(row + w * L, x);
      yy[w] += qd * x;
    }
  }
  for (int w = 0; w < W; ++w) store(yt + e0 + w * L, yy[w]);
}

// One forward step over all dv columns: blocks of 4 vectors, then single vectors, then a scalar
// tail. Each output element is the same ordered sum over d whichever block computes it.
template <typename scalar_t>
inline void forward_step(int64_t n, int64_t dv, const scalar_t* a, const scalar_t* qt,
                         const scalar_t* kt, const scalar_t* vt, scalar_t* S, scalar_t* yt) {
  constexpr int64_t L = kLanes<scalar_t>;
  int64_t e = 0;
  for (; e + 4 * L <= dv; e += 4 * L) forward_block<4>(n, dv, e, a, qt, kt, vt, S, yt);
  for (; e + L <= dv; e += L) forward_block<1>(n, dv, e, a, qt, kt, vt, S, yt);
  for (; e < dv; ++e) {
    scalar_t y = 0;
    for (int64_t d = 0; d < n; ++d) {
      scalar_t& s = S[d * dv + e];
      s = a[d] * s + kt[d] * vt[e];
      y += qt[d] * s;
    }
    yt[e] = y;
  }
}

template <typename scalar_t>
void forward_kernel(const GatedScanParams<scalar_t>& p, scalar_t* y, scalar_t* s_final) {
  at::parallel_for(0, p.systems, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> a(p.n);
    for (int64_t s = begin; s < end; ++s) {
      const scalar_t* q = p.q + s * p.T * p.n;
      const scalar_t* k = p.k + s * p.T * p.n;
      const scalar_t* v = p.v + s * p.T * p.dv;
      const scalar_t* g = p.g ? p.g + s * p.T * p.gate_width : nullptr;
      scalar_t* S = s_final + s * p.n * p.dv;  // the final-state buffer doubles as the state
      if (p.s0) {
        std::copy(p.s0 + s * p.n * p.dv, p.s0 + (s + 1) * p.n * p.dv, S);
      } else {
        std::fill(S, S + p.n * p.dv, scalar_t(0));
      }
      scalar_t* ys = y + s * p.T * p.dv;
      for (int64_t t = 0; t < p.T; ++t) {
        load_decay(p, g, t, a.data());
        const scalar_t* qt = q + t * p.n;
        const scalar_t* kt = k + t * p.n;
        const scalar_t* vt = v + t * p.dv;
        forward_step(p.n, p.dv, a.data(), qt, kt, vt, S, ys + t * p.dv);
      }
    }
  });
}

// Gradient buffers (each may be nullptr when not needed; dq and dk are always computed because
// the gate gradient needs them).
template <typename scalar_t>
struct GatedScanGrads {
  const scalar_t* dy = nullptr;        // (systems, T, dv)
  const scalar_t* ds_final = nullptr;  // (systems, n, dv) or nullptr
  scalar_t* dq = nullptr;
  scalar_t* dk = nullptr;
  scalar_t* dv = nullptr;
  scalar_t* dg = nullptr;   // (systems, T, gate_width) or nullptr
  scalar_t* ds0 = nullptr;  // (systems, n, dv) or nullptr
};

template <typename scalar_t>
void backward_kernel(const GatedScanParams<scalar_t>& p, const GatedScanGrads<scalar_t>& gr) {
  at::parallel_for(0, p.systems, 1, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> a(p.n), a_next(p.n), S(p.n * p.dv), G(p.n * p.dv), acc(p.n);
    for (int64_t s = begin; s < end; ++s) {
      const scalar_t* q = p.q + s * p.T * p.n;
      const scalar_t* k = p.k + s * p.T * p.n;
      const scalar_t* v = p.v + s * p.T * p.dv;
      const scalar_t* g = p.g ? p.g + s * p.T * p.gate_width : nullptr;
      const scalar_t* dy = gr.dy + s * p.T * p.dv;
      scalar_t* dq = gr.dq + s * p.T * p.n;
      scalar_t* dk = gr.dk + s * p.T * p.n;

      // 1. Forward sweep: dq_t = S_t dy_t.
      if (p.s0) {
        std::copy(p.s0 + s * p.n * p.dv, p.s0 + (s + 1) * p.n * p.dv, S.begin());
      } else {
        std::fill(S.begin(), S.end(), scalar_t(0));
      }
      for (int64_t t = 0; t < p.T; ++t) {
        load_decay(p, g, t, a.data());
        const scalar_t* kt = k + t * p.n;
        for (int64_t d = 0; d < p.n; ++d)
          dq[t * p.n + d] =
              update_row_dot(S.data() + d * p.dv, a[d], kt[d], v + t * p.dv, dy + t * p.dv, p.dv);
      }

      // 2. Reverse sweep of the adjoint; S now holds S_T.
      const scalar_t* dsf = gr.ds_final ? gr.ds_final + s * p.n * p.dv : nullptr;
      if (dsf) {
        std::copy(dsf, dsf + p.n * p.dv, G.begin());
      } else {
        std::fill(G.begin(), G.end(), scalar_t(0));
      }
      // Final-state term of the log-gate identity: rowsum(dS_T ⊙ S_T) enters dG_T.
      for (int64_t d = 0; d < p.n; ++d) {
        scalar_t sum = 0;
        if (dsf)
          for (int64_t e = 0; e < p.dv; ++e) sum += G[d * p.dv + e] * S[d * p.dv + e];
        acc[d] = sum;
      }
      scalar_t* dgs = gr.dg ? gr.dg + s * p.T * p.gate_width : nullptr;
      scalar_t* dvs = gr.dv ? gr.dv + s * p.T * p.dv : nullptr;
      // a_next holds a_{t+1} (ones at t = T − 1: nothing is carried past the end).
      std::fill(a_next.begin(), a_next.end(), scalar_t(1));
      for (int64_t t = p.T - 1; t >= 0; --t) {
        const scalar_t* qt = q + t * p.n;
        const scalar_t* kt = k + t * p.n;
        scalar_t* dvt = dvs ? dvs + t * p.dv : nullptr;
        if (dvt) std::fill(dvt, dvt + p.dv, scalar_t(0));
        for (int64_t d = 0; d < p.n; ++d) {
          // G_t = q_t dy_tᵀ + Diag(a_{t+1}) G_{t+1};  dk_t = G_t v_t;  dv_t = G_tᵀ k_t.
          const scalar_t sum = adjoint_row(G.data() + d * p.dv, a_next[d], qt[d], kt[d],
                                           dy + t * p.dv, v + t * p.dv, dvt, p.dv);
          dk[t * p.n + d] = sum;
          acc[d] += qt[d] * dq[t * p.n + d] - kt[d] * sum;
        }
        if (dgs) {
          if (p.gate_width == 1) {
            scalar_t total = 0;
            for (int64_t d = 0; d < p.n; ++d) total += acc[d];
            dgs[t] = total;
          } else {
            for (int64_t d = 0; d < p.n; ++d) dgs[t * p.n + d] = acc[d];
          }
        }
        load_decay(p, g, t, a_next.data());
      }
      // ds0 = Diag(a_1) G_1.
      for (int64_t d = 0; d < p.n; ++d)
        for (int64_t e = 0; e < p.dv; ++e) G[d * p.dv + e] *= a_next[d];
      if (gr.ds0) std::copy(G.begin(), G.end(), gr.ds0 + s * p.n * p.dv);
    }
  });
}

template <typename scalar_t>
GatedScanParams<scalar_t> make_params(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& v, const torch::Tensor& g,
                                      const torch::Tensor& s0) {
  GatedScanParams<scalar_t> p;
  p.systems = q.size(0) * q.size(1);
  p.T = q.size(2);
  p.n = q.size(3);
  p.dv = v.size(3);
  p.gate_width = g.numel() > 0 ? g.size(3) : 0;
  p.q = q.data_ptr<scalar_t>();
  p.k = k.data_ptr<scalar_t>();
  p.v = v.data_ptr<scalar_t>();
  p.g = p.gate_width > 0 ? g.data_ptr<scalar_t>() : nullptr;
  p.s0 = s0.numel() > 0 ? s0.data_ptr<scalar_t>() : nullptr;
  return p;
}

// Absent g / s0 travel as empty tensors so that Function::apply sees five defined inputs and
// needs_input_grad keeps fixed indices.
class GatedScanFunction : public torch::autograd::Function<GatedScanFunction> {
 public:
  static torch::autograd::variable_list forward(
      torch::autograd::AutogradContext* ctx, const torch::Tensor& q_in, const torch::Tensor& k_in,
      const torch::Tensor& v_in, const torch::Tensor& g_in, const torch::Tensor& s0_in) {
    const auto q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const auto g = g_in.contiguous(), s0 = s0_in.contiguous();
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), n = q.size(3), dv = v.size(3);
    auto y = torch::empty({B, H, T, dv}, q.options());
    auto s_final = torch::empty({B, H, n, dv}, q.options());
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "gated_scan_fused_forward", [&] {
      forward_kernel<scalar_t>(make_params<scalar_t>(q, k, v, g, s0), y.data_ptr<scalar_t>(),
                               s_final.data_ptr<scalar_t>());
    });
    ctx->save_for_backward({q, k, v, g, s0});
    return {y, s_final};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &g = saved[3], &s0 = saved[4];
    const auto dy = grad_outputs[0].defined() ? grad_outputs[0].contiguous() : torch::zeros_like(v);
    const auto ds_final =
        grad_outputs[1].defined() ? grad_outputs[1].contiguous() : torch::Tensor();
    auto dq = torch::empty_like(q), dk = torch::empty_like(k);
    torch::Tensor dv, dg, ds0;
    if (ctx->needs_input_grad(2)) dv = torch::empty_like(v);
    if (g.numel() > 0 && ctx->needs_input_grad(3)) dg = torch::empty_like(g);
    if (s0.numel() > 0 && ctx->needs_input_grad(4)) ds0 = torch::empty_like(s0);
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "gated_scan_fused_backward", [&] {
      GatedScanGrads<scalar_t> gr;
      gr.dy = dy.data_ptr<scalar_t>();
      gr.ds_final = ds_final.defined() ? ds_final.data_ptr<scalar_t>() : nullptr;
      gr.dq = dq.data_ptr<scalar_t>();
      gr.dk = dk.data_ptr<scalar_t>();
      gr.dv = dv.defined() ? dv.data_ptr<scalar_t>() : nullptr;
      gr.dg = dg.defined() ? dg.data_ptr<scalar_t>() : nullptr;
      gr.ds0 = ds0.defined() ? ds0.data_ptr<scalar_t>() : nullptr;
      backward_kernel<scalar_t>(make_params<scalar_t>(q, k, v, g, s0), gr);
    });
    return {ctx->needs_input_grad(0) ? dq : torch::Tensor(),
            ctx->needs_input_grad(1) ? dk : torch::Tensor(), dv, dg, ds0};
  }
};

}  // namespace

ScanResult gated_scan_fused(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& g, const torch::Tensor& s0) {
  detail::check_gated_scan_inputs(q, k, v, g, s0, "gated_scan_fused");
  TORCH_CHECK(q.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu(),
              "gated_scan_fused: CPU tensors only (use the chunked path on ", q.device(), ")");
  const auto empty = torch::empty({0}, q.options());
  auto out = GatedScanFunction::apply(q, k, v, g.defined() ? g : empty, s0.defined() ? s0 : empty);
  return {out[0], out[1]};
}

}  // namespace seqlab::core
