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

// One forward step on the state S (n × dv): S ← Diag(a) S + k vᵀ. If q is given, y = Sᵀ q.
template <typename scalar_t>
inline void step_state(int64_t n, int64_t dv, const scalar_t* a, const scalar_t* __restrict kt,
                       const scalar_t* __restrict vt, scalar_t* __restrict S) {
  for (int64_t d = 0; d < n; ++d) {
    scalar_t* __restrict row = S + d * dv;
    const scalar_t ad = a[d], kd = kt[d];
    for (int64_t e = 0; e < dv; ++e) row[e] = ad * row[e] + kd * vt[e];
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
        scalar_t* __restrict yt = ys + t * p.dv;
        for (int64_t e = 0; e < p.dv; ++e) yt[e] = 0;
        for (int64_t d = 0; d < p.n; ++d) {
          scalar_t* __restrict row = S + d * p.dv;
          const scalar_t ad = a[d], kd = kt[d], qd = qt[d];
          for (int64_t e = 0; e < p.dv; ++e) {
            const scalar_t x = ad * row[e] + kd * vt[e];
            row[e] = x;
            yt[e] += qd * x;
          }
        }
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
    std::vector<scalar_t> a(p.n), S(p.n * p.dv), G(p.n * p.dv), acc(p.n);
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
        step_state(p.n, p.dv, a.data(), k + t * p.n, v + t * p.dv, S.data());
        const scalar_t* __restrict dyt = dy + t * p.dv;
        for (int64_t d = 0; d < p.n; ++d) {
          const scalar_t* __restrict row = S.data() + d * p.dv;
          scalar_t sum = 0;
          for (int64_t e = 0; e < p.dv; ++e) sum += row[e] * dyt[e];
          dq[t * p.n + d] = sum;
        }
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
      for (int64_t t = p.T - 1; t >= 0; --t) {
        const scalar_t* __restrict qt = q + t * p.n;
        const scalar_t* __restrict kt = k + t * p.n;
        const scalar_t* __restrict vt = v + t * p.dv;
        const scalar_t* __restrict dyt = dy + t * p.dv;
        scalar_t* __restrict dvt = dvs ? dvs + t * p.dv : nullptr;
        if (dvt)
          for (int64_t e = 0; e < p.dv; ++e) dvt[e] = 0;
        for (int64_t d = 0; d < p.n; ++d) {
          scalar_t* __restrict row = G.data() + d * p.dv;
          const scalar_t qd = qt[d], kd = kt[d];
          scalar_t sum = 0;
          for (int64_t e = 0; e < p.dv; ++e) {
            const scalar_t x = row[e] + qd * dyt[e];  // G_t = q_t dy_tᵀ + Diag(a_{t+1}) G_{t+1}
            row[e] = x;
            sum += x * vt[e];
          }
          dk[t * p.n + d] = sum;
          if (dvt)
            for (int64_t e = 0; e < p.dv; ++e) dvt[e] += kd * row[e];
          acc[d] += qd * dq[t * p.n + d] - kd * sum;
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
        load_decay(p, g, t, a.data());
        for (int64_t d = 0; d < p.n; ++d) {
          scalar_t* __restrict row = G.data() + d * p.dv;
          const scalar_t ad = a[d];
          for (int64_t e = 0; e < p.dv; ++e) row[e] *= ad;  // carry Diag(a_t) G_t to t − 1
        }
      }
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
