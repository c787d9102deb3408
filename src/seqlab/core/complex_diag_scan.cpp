// Fused complex-diagonal scan: kernels (forward and backward side by side) and the autograd shell.
// See complex_diag_scan.h for the recurrence, shapes and gradient formulas.
#include "seqlab/core/complex_diag_scan.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <array>
#include <vector>

namespace seqlab::core {
namespace {

// Complex channels per work item: 16 pairs = 32 contiguous reals per time step.
constexpr int64_t kBlock = 16;

// Work items of at::parallel_for are (batch, channel block) pairs; aim for ~32k scalar updates
// per chunk so small problems stay on one thread.
int64_t grain_items(int64_t length) {
  const int64_t per_item = std::max<int64_t>(1, length * kBlock * 2);
  return std::max<int64_t>(1, (int64_t{1} << 15) / per_item);
}

}  // namespace

// ---- forward -----------------------------------------------------------------------------------
// λ (B,T,N,2), u (B,T,N,2)|null, h0 (N,2)|(B,N,2)|null -> x (B,T,N,2).
template <typename scalar_t>
void complex_diag_scan_forward(const ComplexDiagScanParams<scalar_t>& p) {
  const int64_t B = p.batch, T = p.length, N = p.channels;
  if (B == 0 || T == 0 || N == 0) return;
  const int64_t blocks = (N + kBlock - 1) / kBlock;
  const int64_t step = N * 2;  // reals per time step
  at::parallel_for(0, B * blocks, grain_items(T), [&](int64_t begin, int64_t end) {
    std::array<scalar_t, 2 * kBlock> zeros{};
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / blocks;
      const int64_t n0 = (item % blocks) * kBlock;
      const int64_t len = std::min(kBlock, N - n0);
      const int64_t base = b * T * step + n0 * 2;
      const scalar_t* prev = zeros.data();
      if (p.h0 != nullptr) prev = p.h0 + (p.h0_per_batch ? b * step : 0) + n0 * 2;
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* __restrict__ lam = p.lambda + base + t * step;
        scalar_t* __restrict__ x = p.x + base + t * step;
        if (p.u != nullptr) {
          const scalar_t* __restrict__ u = p.u + base + t * step;
          for (int64_t c = 0; c < len; ++c) {
            const scalar_t lr = lam[2 * c], li = lam[2 * c + 1];
            const scalar_t xr = prev[2 * c], xi = prev[2 * c + 1];
            x[2 * c] = lr * xr - li * xi + u[2 * c];
            x[2 * c + 1] = lr * xi + li * xr + u[2 * c + 1];
          }
        } else {
          for (int64_t c = 0; c < len; ++c) {
            const scalar_t lr = lam[2 * c], li = lam[2 * c + 1];
            const scalar_t xr = prev[2 * c], xi = prev[2 * c + 1];
            x[2 * c] = lr * xr - li * xi;
            x[2 * c + 1] = lr * xi + li * xr;
          }
        }
        prev = x;
      }
    }
  });
}

// ---- backward ----------------------------------------------------------------------------------
namespace {

// One time step of the adjoint on `len` channels of interleaved pairs, with the carry
// c = conj(λ_{t+1}) μ_{t+1} updated in place. kDl / kDu select which gradients are written, so the
// inner loop has no branches.
template <typename scalar_t, bool kDl, bool kDu>
inline void backward_step(int64_t len, const scalar_t* __restrict__ gx,
                          const scalar_t* __restrict__ lam, const scalar_t* __restrict__ xp,
                          scalar_t* __restrict__ carry, scalar_t* __restrict__ dl,
                          scalar_t* __restrict__ du) {
  for (int64_t c = 0; c < len; ++c) {
    const scalar_t mr = gx[2 * c] + carry[2 * c];  // μ_t = g_t + conj(λ_{t+1}) μ_{t+1}
    const scalar_t mi = gx[2 * c + 1] + carry[2 * c + 1];
    if constexpr (kDl) {
      const scalar_t xr = xp[2 * c], xi = xp[2 * c + 1];
      dl[2 * c] += mr * xr + mi * xi;      // Re(μ_t conj(x_{t−1}))
      dl[2 * c + 1] += mi * xr - mr * xi;  // Im(μ_t conj(x_{t−1}))
    }
    if constexpr (kDu) {
      du[2 * c] += mr;
      du[2 * c + 1] += mi;
    }
    const scalar_t lr = lam[2 * c], li = lam[2 * c + 1];
    carry[2 * c] = lr * mr + li * mi;      // Re(conj(λ_t) μ_t)
    carry[2 * c + 1] = lr * mi - li * mr;  // Im(conj(λ_t) μ_t)
  }
}

// The whole reverse time loop for one (batch, channel block); leaves conj(λ_1) μ_1 in `carry`.
template <typename scalar_t, bool kDl, bool kDu>
void backward_item(const ComplexDiagScanParams<scalar_t>& p,
                   const ComplexDiagScanGrads<scalar_t>& g, int64_t base, int64_t len,
                   const scalar_t* h0, scalar_t* carry) {
  const int64_t step = p.channels * 2;
  for (int64_t t = p.length - 1; t >= 0; --t) {
    const int64_t off = base + t * step;
    backward_step<scalar_t, kDl, kDu>(len, g.grad_x + off, p.lambda + off,
                                      t > 0 ? p.x + off - step : h0,  // x_{t−1}
                                      carry, kDl ? g.dlambda + off : nullptr,
                                      kDu ? g.du + off : nullptr);
  }
}

}  // namespace

// Differentiates   x_t = λ_t ⊙ x_{t−1} + u_t   (forward, inner loop) from t = T down to 1, carrying
// c = conj(λ_{t+1}) μ_{t+1}:
//   μ_t = g_t + c;  dλ_t += μ_t ⊙ conj(x_{t−1});  du_t += μ_t;  c ← conj(λ_t) μ_t;  dh0 += c.
template <typename scalar_t>
void complex_diag_scan_backward(const ComplexDiagScanParams<scalar_t>& p,
                                const ComplexDiagScanGrads<scalar_t>& g) {
  const int64_t B = p.batch, T = p.length, N = p.channels;
  if (B == 0 || T == 0 || N == 0) return;
  const int64_t blocks = (N + kBlock - 1) / kBlock;
  const int64_t step = N * 2;
  // A shared h0 gets one gradient per batch element first, summed below in a fixed order.
  std::vector<scalar_t> dh0_batch;
  scalar_t* dh0_rows = g.dh0;
  if (g.dh0 != nullptr && !p.h0_per_batch) {
    dh0_batch.assign(static_cast<size_t>(B * step), scalar_t(0));
    dh0_rows = dh0_batch.data();
  }
  const bool has_dl = g.dlambda != nullptr, has_du = g.du != nullptr;
  at::parallel_for(0, B * blocks, grain_items(T), [&](int64_t begin, int64_t end) {
    std::array<scalar_t, 2 * kBlock> zeros{};
    std::array<scalar_t, 2 * kBlock> carry{};
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / blocks;
      const int64_t n0 = (item % blocks) * kBlock;
      const int64_t len = std::min(kBlock, N - n0);
      const int64_t base = b * T * step + n0 * 2;
      const scalar_t* h0 = zeros.data();
      if (p.h0 != nullptr) h0 = p.h0 + (p.h0_per_batch ? b * step : 0) + n0 * 2;
      std::fill(carry.begin(), carry.end(), scalar_t(0));
      if (has_dl && has_du) {
        backward_item<scalar_t, true, true>(p, g, base, len, h0, carry.data());
      } else if (has_dl) {
        backward_item<scalar_t, true, false>(p, g, base, len, h0, carry.data());
      } else if (has_du) {
        backward_item<scalar_t, false, true>(p, g, base, len, h0, carry.data());
      } else {
        backward_item<scalar_t, false, false>(p, g, base, len, h0, carry.data());
      }
      if (dh0_rows != nullptr) {
        scalar_t* dh = dh0_rows + b * step + n0 * 2;
        for (int64_t c = 0; c < 2 * len; ++c) dh[c] += carry[c];  // dh0 = conj(λ_1) μ_1
      }
    }
  });
  if (g.dh0 != nullptr && !p.h0_per_batch) {
    at::parallel_for(0, step, std::max<int64_t>(1, (int64_t{1} << 15) / B),
                     [&](int64_t begin, int64_t end) {
                       for (int64_t b = 0; b < B; ++b) {
                         const scalar_t* row = dh0_batch.data() + b * step;
                         for (int64_t e = begin; e < end; ++e) g.dh0[e] += row[e];
                       }
                     });
  }
}

template void complex_diag_scan_forward<float>(const ComplexDiagScanParams<float>&);
template void complex_diag_scan_forward<double>(const ComplexDiagScanParams<double>&);
template void complex_diag_scan_backward<float>(const ComplexDiagScanParams<float>&,
                                                const ComplexDiagScanGrads<float>&);
template void complex_diag_scan_backward<double>(const ComplexDiagScanParams<double>&,
                                                 const ComplexDiagScanGrads<double>&);

// ---- autograd shell ----------------------------------------------------------------------------
namespace {

template <typename scalar_t>
ComplexDiagScanParams<scalar_t> make_params(const torch::Tensor& lambda, const torch::Tensor& u,
                                            const torch::Tensor& h0, const torch::Tensor& x) {
  ComplexDiagScanParams<scalar_t> p;
  p.batch = lambda.size(0);
  p.length = lambda.size(1);
  p.channels = lambda.size(2);
  p.lambda = lambda.data_ptr<scalar_t>();
  p.u = u.defined() ? u.data_ptr<scalar_t>() : nullptr;
  p.h0 = h0.defined() ? h0.data_ptr<scalar_t>() : nullptr;
  p.h0_per_batch = h0.defined() && h0.dim() == 3;
  p.x = x.data_ptr<scalar_t>();
  return p;
}

void check_inputs(const torch::Tensor& lambda, const torch::Tensor& u, const torch::Tensor& h0) {
  TORCH_CHECK(lambda.defined(), "complex_diag_scan: lambda is undefined");
  TORCH_CHECK(lambda.dim() == 4 && lambda.size(3) == 2,
              "complex_diag_scan: lambda must be (B, T, N, 2) real pairs, got ", lambda.sizes());
  TORCH_CHECK(lambda.scalar_type() == torch::kFloat32 || lambda.scalar_type() == torch::kFloat64,
              "complex_diag_scan: lambda must be float32 or float64, got ", lambda.scalar_type());
  TORCH_CHECK(lambda.device().is_cpu(), "complex_diag_scan: CPU tensors only, got lambda on ",
              lambda.device());
  const int64_t B = lambda.size(0), N = lambda.size(2);
  if (u.defined()) {
    TORCH_CHECK(u.sizes() == lambda.sizes(), "complex_diag_scan: u must match lambda ",
                lambda.sizes(), ", got ", u.sizes());
    TORCH_CHECK(u.scalar_type() == lambda.scalar_type(), "complex_diag_scan: u dtype ",
                u.scalar_type(), " differs from lambda dtype ", lambda.scalar_type());
    TORCH_CHECK(u.device().is_cpu(), "complex_diag_scan: CPU tensors only, got u on ", u.device());
  }
  if (h0.defined()) {
    const bool shared = h0.dim() == 2 && h0.size(0) == N && h0.size(1) == 2;
    const bool per_batch = h0.dim() == 3 && h0.size(0) == B && h0.size(1) == N && h0.size(2) == 2;
    TORCH_CHECK(shared || per_batch, "complex_diag_scan: h0 must be (N, 2) = (", N,
                ", 2) or (B, N, 2) = (", B, ", ", N, ", 2), got ", h0.sizes());
    TORCH_CHECK(h0.scalar_type() == lambda.scalar_type(), "complex_diag_scan: h0 dtype ",
                h0.scalar_type(), " differs from lambda dtype ", lambda.scalar_type());
    TORCH_CHECK(h0.device().is_cpu(), "complex_diag_scan: CPU tensors only, got h0 on ",
                h0.device());
  }
}

torch::Tensor contiguous_or_undefined(const torch::Tensor& t) {
  return t.defined() ? t.contiguous() : t;
}

// Optional inputs are passed as c10::optional so that LibTorch 1.13's Function::apply skips them
// (it cannot record an undefined tensor); backward then returns an undefined gradient there.
class ComplexDiagScanFunction : public torch::autograd::Function<ComplexDiagScanFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx,
                               const torch::Tensor& lambda_in,
                               const c10::optional<torch::Tensor>& u_in,
                               const c10::optional<torch::Tensor>& h0_in) {
    const auto u_arg = u_in.value_or(torch::Tensor());
    const auto h0_arg = h0_in.value_or(torch::Tensor());
    check_inputs(lambda_in, u_arg, h0_arg);
    const auto lambda = lambda_in.contiguous();
    const auto u = contiguous_or_undefined(u_arg);
    const auto h0 = contiguous_or_undefined(h0_arg);
    auto x = torch::empty_like(lambda);
    AT_DISPATCH_FLOATING_TYPES(lambda.scalar_type(), "complex_diag_scan_forward", [&] {
      complex_diag_scan_forward<scalar_t>(make_params<scalar_t>(lambda, u, h0, x));
    });
    ctx->save_for_backward({lambda, h0, x});
    ctx->saved_data["has_u"] = u.defined();
    return x;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto& lambda = saved[0];
    const auto& h0 = saved[1];
    const auto& x = saved[2];
    const bool has_u = ctx->saved_data["has_u"].toBool();
    // needs_input_grad counts only the tensor inputs that were present: λ, then u, then h0.
    const size_t u_edge = 1, h0_edge = has_u ? 2 : 1;
    const auto grad_x = grad_outputs[0].contiguous();
    torch::Tensor dlambda, du, dh0;
    if (ctx->needs_input_grad(0)) dlambda = torch::zeros_like(lambda);
    if (has_u && ctx->needs_input_grad(u_edge)) du = torch::zeros_like(lambda);
    if (h0.defined() && ctx->needs_input_grad(h0_edge)) dh0 = torch::zeros_like(h0);
    AT_DISPATCH_FLOATING_TYPES(lambda.scalar_type(), "complex_diag_scan_backward", [&] {
      ComplexDiagScanGrads<scalar_t> g;
      g.grad_x = grad_x.data_ptr<scalar_t>();
      g.dlambda = dlambda.defined() ? dlambda.data_ptr<scalar_t>() : nullptr;
      g.du = du.defined() ? du.data_ptr<scalar_t>() : nullptr;
      g.dh0 = dh0.defined() ? dh0.data_ptr<scalar_t>() : nullptr;
      complex_diag_scan_backward<scalar_t>(make_params<scalar_t>(lambda, torch::Tensor(), h0, x),
                                           g);
    });
    return {dlambda, du, dh0};
  }
};

}  // namespace

torch::Tensor complex_diag_scan(const torch::Tensor& lambda, const torch::Tensor& u,
                                const torch::Tensor& h0) {
  using Opt = c10::optional<torch::Tensor>;
  return ComplexDiagScanFunction::apply(lambda, u.defined() ? Opt(u) : Opt(),
                                        h0.defined() ? Opt(h0) : Opt());
}

}  // namespace seqlab::core
