// Delta rule, fused CPU kernel (spec/mixers.md §3.2.1 forward, §3.3.1 adjoint, §3.3.2 rows
// "I − βkkᵀ" and "α(I − βkkᵀ)", §3.3.8 memory policy): forward and backward side by side, then
// the autograd shell. See delta_scan.h for the recurrence and shapes.
//
// Parallelism and determinism: at::parallel_for over the B·H independent (batch, head) chains;
// each chain runs its whole time loop on one thread, in a fixed order, and writes only its own
// outputs, so every result is bit-identical at any number of threads. Inner loops run over the dv
// contiguous columns of the key-major state, in axpy form (vectorizable without reassociation) or
// as fixed-lane dot products.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "seqlab/core/delta_scan.h"
#include "seqlab/core/simd.h"

namespace seqlab::core {
namespace {

// Sizes and pointers of one call; every tensor is contiguous, chains are (b, h) pairs.
template <typename scalar_t>
struct DeltaScanParams {
  int64_t chains = 0;               // B·H
  int64_t length = 0;               // T
  int64_t key = 0;                  // n
  int64_t value = 0;                // dv
  const scalar_t* q = nullptr;      // (BH, T, n)
  const scalar_t* k = nullptr;      // (BH, T, n)
  const scalar_t* v = nullptr;      // (BH, T, dv)
  const scalar_t* beta = nullptr;   // (BH, T)
  const scalar_t* log_a = nullptr;  // (BH, T) or nullptr: a ≡ 1
  const scalar_t* s0 = nullptr;     // (BH, n, dv) or nullptr: zero initial state
  scalar_t* ckpt = nullptr;         // (BH, NC, n, dv): S before each checkpoint chunk
  int64_t num_ckpt() const { return (length + kDeltaScanCheckpoint - 1) / kDeltaScanCheckpoint; }
};

// Upstream gradients (read) and input gradients (written, one value per element: no chain
// shares an output, so nothing accumulates across threads). Pointers may be null where the
// input is absent or needs no gradient, except dy and dstate (zeros when unused).
template <typename scalar_t>
struct DeltaScanGrads {
  const scalar_t* dy = nullptr;      // (BH, T, dv)
  const scalar_t* dstate = nullptr;  // (BH, n, dv)
  scalar_t* dq = nullptr;            // (BH, T, n)
  scalar_t* dk = nullptr;            // (BH, T, n)
  scalar_t* dv = nullptr;            // (BH, T, dv)
  scalar_t* dbeta = nullptr;         // (BH, T)
  scalar_t* dlog_a = nullptr;        // (BH, T)
  scalar_t* ds0 = nullptr;           // (BH, n, dv)
};

using simd::hsum;
using simd::kLanes;
using simd::load;
using simd::store;
using simd::vec_t;

// Σ_j a[j] b[j] over j < len: vector lanes, their tree sum, then the scalar tail.
template <typename scalar_t>
inline scalar_t dot(const scalar_t* a, const scalar_t* b, int64_t len) {
  constexpr int64_t L = kLanes<scalar_t>;
  vec_t<scalar_t> acc{};
  int64_t j = 0;
  for (; j + L <= len; j += L) acc += load(a + j) * load(b + j);
  scalar_t s = hsum(acc);
  for (; j < len; ++j) s += a[j] * b[j];
  return s;
}

// The four dot products of one adjoint row in pass 1 of reverse_step.
template <typename scalar_t>
struct RowDots {
  scalar_t gv = 0, gp = 0, gs = 0, sdy = 0;  // G_i·v, G_i·p, G_i·S_{t−1,i}, S_{t,i}·dy
};

// Pass 1 for row i of the adjoint, in one sweep over the dv columns:
//   G_i += q_i dy;   x += k_i G_i;   and the dot products of RowDots with the updated G_i.
// Four independent accumulators keep the sweep throughput-bound rather than latency-bound.
template <typename scalar_t>
inline RowDots<scalar_t> adjoint_row(scalar_t* __restrict__ g_row, scalar_t* __restrict__ x,
                                     const scalar_t* __restrict__ dy,
                                     const scalar_t* __restrict__ v,
                                     const scalar_t* __restrict__ proj,
                                     const scalar_t* __restrict__ s_prev_row,
                                     const scalar_t* __restrict__ s_new_row, scalar_t qi,
                                     scalar_t ki, int64_t dv) {
  using V = vec_t<scalar_t>;
  constexpr int64_t L = kLanes<scalar_t>;
  V gv{}, gp{}, gs{}, sdy{};
  int64_t j = 0;
  for (; j + L <= dv; j += L) {
    const V d = load(dy + j);
    const V g = load(g_row + j) + qi * d;
    store(g_row + j, g);
    store(x + j, load(x + j) + ki * g);
    gv += g * load(v + j);
    gp += g * load(proj + j);
    gs += g * load(s_prev_row + j);
    sdy += load(s_new_row + j) * d;
  }
  RowDots<scalar_t> r{hsum(gv), hsum(gp), hsum(gs), hsum(sdy)};
  for (; j < dv; ++j) {
    const scalar_t g = g_row[j] + qi * dy[j];
    g_row[j] = g;
    x[j] += ki * g;
    r.gv += g * v[j];
    r.gp += g * proj[j];
    r.gs += g * s_prev_row[j];
    r.sdy += s_new_row[j] * dy[j];
  }
  return r;
}

// Chains per parallel work item: about 32k multiply-adds each, so small calls stay on one thread.
int64_t grain_for(int64_t work_per_chain) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, work_per_chain));
}

// One step of §2.2.17/§2.2.18 on the key-major state S (n×dv), in place:
//   p = S_{t−1}ᵀ k;   S_t = a S_{t−1} + β k (v − a p)ᵀ   (= a(I − βkkᵀ)S_{t−1} + βkvᵀ);
//   y = S_tᵀ q (skipped when y is null).
// p (dv) is returned for the backward; u (dv) is scratch.
template <typename scalar_t>
inline void delta_step(scalar_t* __restrict__ S, scalar_t* __restrict__ p, scalar_t* __restrict__ u,
                       const scalar_t* __restrict__ q, const scalar_t* __restrict__ k,
                       const scalar_t* __restrict__ v, scalar_t beta, scalar_t a,
                       scalar_t* __restrict__ y, int64_t n, int64_t dv) {
  std::fill(p, p + dv, scalar_t(0));
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t ki = k[i];
    const scalar_t* __restrict__ row = S + i * dv;
    for (int64_t j = 0; j < dv; ++j) p[j] += ki * row[j];
  }
  for (int64_t j = 0; j < dv; ++j) u[j] = beta * (v[j] - a * p[j]);
  if (y != nullptr) std::fill(y, y + dv, scalar_t(0));
  for (int64_t i = 0; i < n; ++i) {
    const scalar_t ki = k[i];
    scalar_t* __restrict__ row = S + i * dv;
    for (int64_t j = 0; j < dv; ++j) row[j] = a * row[j] + ki * u[j];
    if (y != nullptr) {
      const scalar_t qi = q[i];
      for (int64_t j = 0; j < dv; ++j) y[j] += qi * row[j];
    }
  }
}

// Per-step scalars of chain c at time t.
template <typename scalar_t>
inline scalar_t gate_at(const DeltaScanParams<scalar_t>& p, int64_t c, int64_t t) {
  return p.log_a != nullptr ? std::exp(p.log_a[c * p.length + t]) : scalar_t(1);
}

// ---- forward ------------------------------------------------------------------------------------
// Runs every chain from S_0 = s0 (or 0): writes y (BH, T, dv), the final state (BH, n, dv) and the
// checkpoints p.ckpt (S before steps 0, C, 2C, ... with C = kDeltaScanCheckpoint).
template <typename scalar_t>
void delta_scan_forward(const DeltaScanParams<scalar_t>& p, scalar_t* y, scalar_t* state) {
  const int64_t T = p.length, n = p.key, dv = p.value, nd = n * dv, NC = p.num_ckpt();
  at::parallel_for(0, p.chains, grain_for(T * nd), [&](int64_t c0, int64_t c1) {
    std::vector<scalar_t> pbuf(dv), ubuf(dv);
    for (int64_t c = c0; c < c1; ++c) {
      scalar_t* S = state + c * nd;
      if (p.s0 != nullptr) {
        std::copy(p.s0 + c * nd, p.s0 + (c + 1) * nd, S);
      } else {
        std::fill(S, S + nd, scalar_t(0));
      }
      for (int64_t t = 0; t < T; ++t) {
        if (t % kDeltaScanCheckpoint == 0) {
          std::copy(S, S + nd, p.ckpt + (c * NC + t / kDeltaScanCheckpoint) * nd);
        }
        const int64_t e = c * T + t;
        delta_step(S, pbuf.data(), ubuf.data(), p.q + e * n, p.k + e * n, p.v + e * dv, p.beta[e],
                   gate_at(p, c, t), y + e * dv, n, dv);
      }
    }
  });
}

// ---- backward -----------------------------------------------------------------------------------
// Scratch of one thread: the recomputed states of one checkpoint chunk and the adjoint.
template <typename scalar_t>
struct BackwardScratch {
  std::vector<scalar_t> states;  // (C + 1, n, dv): S_{t0}, ..., S_{t0+C}
  std::vector<scalar_t> proj;    // (C, dv): p_t = S_{t−1}ᵀ k_t of every step
  std::vector<scalar_t> g;       // (n, dv): the adjoint G = ∂L/∂S
  std::vector<scalar_t> x, u;    // (dv): Gᵀk; forward scratch
  std::vector<scalar_t> w, gp;   // (n): G v, G p
  BackwardScratch(int64_t n, int64_t dv)
      : states((kDeltaScanCheckpoint + 1) * n * dv),
        proj(kDeltaScanCheckpoint * dv),
        g(n * dv),
        x(dv),
        u(dv),
        w(n),
        gp(n) {}
};

// Recomputes S_{t0+1..t1} of chain c from the checkpoint S_{t0} (§3.3.8), with the same code as
// the forward, so the states are the forward's bit for bit.
template <typename scalar_t>
void recompute_chunk(const DeltaScanParams<scalar_t>& p, int64_t c, int64_t t0, int64_t t1,
                     BackwardScratch<scalar_t>& s) {
  const int64_t T = p.length, n = p.key, dv = p.value, nd = n * dv;
  const scalar_t* ck = p.ckpt + (c * p.num_ckpt() + t0 / kDeltaScanCheckpoint) * nd;
  std::copy(ck, ck + nd, s.states.data());
  for (int64_t t = t0; t < t1; ++t) {
    scalar_t* prev = s.states.data() + (t - t0) * nd;
    scalar_t* next = prev + nd;
    std::copy(prev, prev + nd, next);
    const int64_t e = c * T + t;
    delta_step(next, s.proj.data() + (t - t0) * dv, s.u.data(), p.q + e * n, p.k + e * n,
               p.v + e * dv, p.beta[e], gate_at(p, c, t), static_cast<scalar_t*>(nullptr), n, dv);
  }
}

// One reverse step at time t of chain c (§3.3.1-§3.3.2). On entry G holds A_{t+1}ᵀ G_{t+1} (plus
// the upstream gradient of the final state at t = T); on exit A_tᵀ G_t.
//   G_t = q_t dy_tᵀ + A_{t+1}ᵀ G_{t+1}                  (A symmetric)
//   dq_t = S_t dy_t
//   impulse β k vᵀ:  dk += β G v,  dβ += kᵀ G v,  dv = β Gᵀk
//   A_t = a(I − βkkᵀ), with x = Gᵀk and p = S_{t−1}ᵀk:
//     dα = ⟨G, S_{t−1}⟩ − β x·p,  dβ += −a x·p,  dk += −aβ (G p + S_{t−1} x),  dlog_a = a dα
//   A_tᵀ G = a (G − β k xᵀ)
template <typename scalar_t>
void reverse_step(const DeltaScanParams<scalar_t>& p, const DeltaScanGrads<scalar_t>& gr, int64_t c,
                  int64_t t, const scalar_t* __restrict__ s_prev,
                  const scalar_t* __restrict__ s_new, const scalar_t* __restrict__ proj,
                  BackwardScratch<scalar_t>& s) {
  const int64_t T = p.length, n = p.key, dv = p.value, e = c * T + t;
  const scalar_t* __restrict__ q = p.q + e * n;
  const scalar_t* __restrict__ k = p.k + e * n;
  const scalar_t* __restrict__ v = p.v + e * dv;
  const scalar_t* __restrict__ dy = gr.dy + e * dv;
  const scalar_t beta = p.beta[e], a = gate_at(p, c, t);
  scalar_t* __restrict__ G = s.g.data();
  scalar_t* __restrict__ x = s.x.data();

  // Pass 1, row by row: G_t = G + q dyᵀ; x = G_tᵀ k; G v, G p, ⟨G, S_{t−1}⟩ and dq = S_t dy.
  std::fill(x, x + dv, scalar_t(0));
  scalar_t g_dot_s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const auto r =
        adjoint_row(G + i * dv, x, dy, v, proj, s_prev + i * dv, s_new + i * dv, q[i], k[i], dv);
    s.w[i] = r.gv;
    s.gp[i] = r.gp;
    g_dot_s += r.gs;
    if (gr.dq != nullptr) gr.dq[e * n + i] = r.sdy;
  }
  const scalar_t xp = dot(x, proj, dv);
  if (gr.dv != nullptr) {
    for (int64_t j = 0; j < dv; ++j) gr.dv[e * dv + j] = beta * x[j];
  }
  if (gr.dbeta != nullptr) gr.dbeta[e] = dot(k, s.w.data(), n) - a * xp;
  if (gr.dlog_a != nullptr) gr.dlog_a[e] = a * (g_dot_s - beta * xp);

  // Pass 2, row by row: dk = β G v − aβ (G p + S_{t−1} x), then G ← a (G − β k xᵀ).
  const scalar_t ab = a * beta;
  for (int64_t i = 0; i < n; ++i) {
    if (gr.dk != nullptr) {
      const scalar_t sx = dot(s_prev + i * dv, x, dv);
      gr.dk[e * n + i] = beta * s.w[i] - ab * (s.gp[i] + sx);
    }
    scalar_t* __restrict__ row = G + i * dv;
    const scalar_t bki = beta * k[i];
    for (int64_t j = 0; j < dv; ++j) row[j] = a * (row[j] - bki * x[j]);
  }
}

// Reverse-time adjoint of delta_scan_forward, chunk by chunk in reverse order: each checkpoint
// chunk's states are recomputed, then its steps run from last to first. After t = 1, G holds
// A_1ᵀ G_1 = ∂L/∂s0.
template <typename scalar_t>
void delta_scan_backward(const DeltaScanParams<scalar_t>& p, const DeltaScanGrads<scalar_t>& gr) {
  const int64_t T = p.length, n = p.key, dv = p.value, nd = n * dv, NC = p.num_ckpt();
  at::parallel_for(0, p.chains, grain_for(3 * T * nd), [&](int64_t c0, int64_t c1) {
    BackwardScratch<scalar_t> s(n, dv);
    for (int64_t c = c0; c < c1; ++c) {
      std::copy(gr.dstate + c * nd, gr.dstate + (c + 1) * nd, s.g.begin());
      for (int64_t chunk = NC - 1; chunk >= 0; --chunk) {
        const int64_t t0 = chunk * kDeltaScanCheckpoint;
        const int64_t t1 = std::min(T, t0 + kDeltaScanCheckpoint);
        recompute_chunk(p, c, t0, t1, s);
        for (int64_t t = t1 - 1; t >= t0; --t) {
          const scalar_t* s_prev = s.states.data() + (t - t0) * nd;
          reverse_step(p, gr, c, t, s_prev, s_prev + nd, s.proj.data() + (t - t0) * dv, s);
        }
      }
      if (gr.ds0 != nullptr) std::copy(s.g.begin(), s.g.end(), gr.ds0 + c * nd);
    }
  });
}

// ---- autograd shell -----------------------------------------------------------------------------
torch::Tensor contiguous_or_undefined(const torch::Tensor& t) {
  return t.defined() ? t.contiguous() : t;
}

torch::Tensor from_optional(const c10::optional<torch::Tensor>& t) {
  return t.has_value() ? *t : torch::Tensor();
}

c10::optional<torch::Tensor> to_optional(const torch::Tensor& t) {
  return t.defined() ? c10::optional<torch::Tensor>(t) : c10::nullopt;
}

template <typename scalar_t>
const scalar_t* ptr_or_null(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<scalar_t>() : nullptr;
}

template <typename scalar_t>
scalar_t* mutable_ptr_or_null(torch::Tensor& t) {
  return t.defined() ? t.data_ptr<scalar_t>() : nullptr;
}

template <typename scalar_t>
DeltaScanParams<scalar_t> make_params(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& v, const torch::Tensor& beta,
                                      const torch::Tensor& log_a, const torch::Tensor& s0,
                                      const torch::Tensor& ckpt) {
  DeltaScanParams<scalar_t> p;
  p.chains = q.size(0) * q.size(1);
  p.length = q.size(2);
  p.key = q.size(3);
  p.value = v.size(3);
  p.q = q.data_ptr<scalar_t>();
  p.k = k.data_ptr<scalar_t>();
  p.v = v.data_ptr<scalar_t>();
  p.beta = beta.data_ptr<scalar_t>();
  p.log_a = ptr_or_null<scalar_t>(log_a);
  p.s0 = ptr_or_null<scalar_t>(s0);
  p.ckpt = ckpt.data_ptr<scalar_t>();
  return p;
}

class DeltaScanFunction : public torch::autograd::Function<DeltaScanFunction> {
 public:
  static torch::autograd::variable_list forward(
      torch::autograd::AutogradContext* ctx, const torch::Tensor& q_in, const torch::Tensor& k_in,
      const torch::Tensor& v_in, const torch::Tensor& beta_in,
      const c10::optional<torch::Tensor>& log_a_opt, const c10::optional<torch::Tensor>& s0_opt) {
    const auto q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const auto beta = beta_in.contiguous();
    const auto log_a = contiguous_or_undefined(from_optional(log_a_opt));
    const auto s0 = contiguous_or_undefined(from_optional(s0_opt));
    const int64_t B = q.size(0), H = q.size(1), T = q.size(2), n = q.size(3), dv = v.size(3);
    const int64_t NC = (T + kDeltaScanCheckpoint - 1) / kDeltaScanCheckpoint;
    auto y = torch::empty({B, H, T, dv}, q.options());
    auto state = torch::empty({B, H, n, dv}, q.options());
    auto ckpt = torch::empty({B, H, NC, n, dv}, q.options());
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "delta_scan_forward", [&] {
      delta_scan_forward<scalar_t>(make_params<scalar_t>(q, k, v, beta, log_a, s0, ckpt),
                                   y.data_ptr<scalar_t>(), state.data_ptr<scalar_t>());
    });
    ctx->save_for_backward({q, k, v, beta, log_a, s0, ckpt});
    return {y, state};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &beta = saved[3];
    const auto &log_a = saved[4], &s0 = saved[5], &ckpt = saved[6];
    // Unused outputs arrive undefined: their gradient is zero.
    const auto dy = grad_outputs[0].defined()
                        ? grad_outputs[0].contiguous()
                        : torch::zeros({q.size(0), q.size(1), q.size(2), v.size(3)}, q.options());
    const auto dstate =
        grad_outputs[1].defined()
            ? grad_outputs[1].contiguous()
            : torch::zeros({q.size(0), q.size(1), q.size(3), v.size(3)}, q.options());
    // needs_input_grad counts only the inputs that were passed: an absent log_a shifts s0 to 4.
    torch::Tensor dq, dk, dv, dbeta, dlog_a, ds0;
    if (ctx->needs_input_grad(0)) dq = torch::empty_like(q);
    if (ctx->needs_input_grad(1)) dk = torch::empty_like(k);
    if (ctx->needs_input_grad(2)) dv = torch::empty_like(v);
    if (ctx->needs_input_grad(3)) dbeta = torch::empty_like(beta);
    const size_t s0_edge = log_a.defined() ? 5 : 4;
    if (log_a.defined() && ctx->needs_input_grad(4)) dlog_a = torch::empty_like(log_a);
    if (s0.defined() && ctx->needs_input_grad(s0_edge)) ds0 = torch::empty_like(s0);
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "delta_scan_backward", [&] {
      DeltaScanGrads<scalar_t> g;
      g.dy = dy.data_ptr<scalar_t>();
      g.dstate = dstate.data_ptr<scalar_t>();
      g.dq = mutable_ptr_or_null<scalar_t>(dq);
      g.dk = mutable_ptr_or_null<scalar_t>(dk);
      g.dv = mutable_ptr_or_null<scalar_t>(dv);
      g.dbeta = mutable_ptr_or_null<scalar_t>(dbeta);
      g.dlog_a = mutable_ptr_or_null<scalar_t>(dlog_a);
      g.ds0 = mutable_ptr_or_null<scalar_t>(ds0);
      delta_scan_backward<scalar_t>(make_params<scalar_t>(q, k, v, beta, log_a, s0, ckpt), g);
    });
    return {dq, dk, dv, dbeta, dlog_a, ds0};
  }
};

}  // namespace

ScanResult delta_scan_fused(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const torch::Tensor& beta, const torch::Tensor& log_a,
                            const torch::Tensor& s0) {
  delta_scan_check_inputs("delta_scan_fused", q, k, v, beta, log_a, s0);
  for (const auto* t : {&q, &k, &v, &beta, &log_a, &s0}) {
    TORCH_CHECK(!t->defined() || t->device().is_cpu(),
                "delta_scan_fused: CPU tensors only, got one on ", t->device(),
                " (delta_scan with ScanPath::kFused falls back to the chunked form)");
  }
  // Absent log_a and s0 travel as empty optionals: the autograd shell only takes defined tensors.
  auto out = DeltaScanFunction::apply(q, k, v, beta, to_optional(log_a), to_optional(s0));
  return {out[0], out[1]};
}

}  // namespace seqlab::core
