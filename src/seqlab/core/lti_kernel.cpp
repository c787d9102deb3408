// LTI Vandermonde kernel (spec/mixers.md §3.2.7 step 1, §3.3.5): fused CPU kernels (forward and
// backward side by side), the autograd shell, the complex-op reference and the DLR wrapper. See
// lti.h for the formulas.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "seqlab/core/lti.h"
#include "seqlab/util/error.h"

namespace seqlab::core {

const char* kernel_to_real_name(KernelToReal k) {
  switch (k) {
    case KernelToReal::kReal:
      return "real";
    case KernelToReal::kImag:
      return "imag";
    case KernelToReal::kSum:
      return "sum";
    case KernelToReal::kProd:
      return "prod";
    case KernelToReal::kRealProd:
      return "real-prod";
  }
  return "?";
}

std::vector<std::string> kernel_to_real_names() {
  return {"real", "imag", "sum", "prod", "real-prod"};
}

KernelToReal kernel_to_real_from_name(const std::string& name) {
  for (auto k : {KernelToReal::kReal, KernelToReal::kImag, KernelToReal::kSum, KernelToReal::kProd,
                 KernelToReal::kRealProd})
    if (name == kernel_to_real_name(k)) return k;
  throw UserError("unknown kernel_to_real '" + name +
                  "' (valid: " + join_names(kernel_to_real_names()) + ")");
}

namespace {

constexpr int64_t kTile = 128;  // lags per tile: λ^l = λ^{l0}·P[l − l0], l0 a multiple of it
constexpr int64_t kSub = 16;    // P[16q + r] = λ^{16q}·λ^r
constexpr int64_t kModeBlock = 64;  // modes per block of powers in the forward

// 2π as an unevaluated sum hi + lo (hi = fl(2π)), for a Cody-Waite reduction.
constexpr double kTwoPiHi = 6.283185307179586;
constexpr double kTwoPiLo = 2.4492935982947064e-16;
constexpr double kInvTwoPi = 0.15915494309189535;

// l·b mod 2π in fp64 (§3.2.7 "phases"): the product is split exactly into p + e (fma), p is
// reduced by k·hi (one rounding of a result of size ≤ π) and k·lo, and e is added back. The
// error is a few ulp of π, independent of l.
inline double reduced_phase(double l, double b) {
  const double p = l * b;
  const double e = std::fma(l, b, -p);
  const double k = std::nearbyint(p * kInvTwoPi);
  double r = std::fma(-k, kTwoPiHi, p);
  r = std::fma(-k, kTwoPiLo, r);
  return r + e;
}

// λ^l = exp(l a)·(cos, sin)(l b), evaluated directly.
inline void direct_power(double a, double b, double l, double& re, double& im) {
  const double mag = std::exp(l * a);
  const double th = reduced_phase(l, b);
  re = mag * std::cos(th);
  im = mag * std::sin(th);
}

// P[r] = λ^r for r < kTile as λ^{16q}·λ^{r'}, both factors direct (re and im arrays of kTile).
void power_table(double a, double b, double* re, double* im) {
  double sr[kSub], si[kSub];
  for (int64_t t = 0; t < kSub; ++t) direct_power(a, b, static_cast<double>(t), sr[t], si[t]);
  for (int64_t q = 0; q < kTile / kSub; ++q) {
    double qr, qi;
    direct_power(a, b, static_cast<double>(q * kSub), qr, qi);
    for (int64_t t = 0; t < kSub; ++t) {
      re[q * kSub + t] = qr * sr[t] - qi * si[t];
      im[q * kSub + t] = qr * si[t] + qi * sr[t];
    }
  }
}

// Sizes and pointers of one call; every tensor contiguous. Row ρ = c·H + h of the (C, H, ·)
// tensors reads s row (s_rows == 1 ? 0 : h).
template <typename scalar_t>
struct VandermondeParams {
  int64_t C = 0, H = 0, M = 0, L = 0, s_rows = 1;
  const scalar_t* s = nullptr;  // (s_rows, M, 2)
  const scalar_t* W = nullptr;  // (C, H, M, 2)
};

// ---- forward -----------------------------------------------------------------------------------
// K_c[ρ, l0 + r] += Σ_{m ∈ block} W[ρ, m] λ_m^{l0 + r} for the rows `rows` (all reading s row
// `sr`), one tile, modes [m0, m0 + mb); `table` holds P for every mode of row sr (M × kTile
// re, then M × kTile im); vr/vi are kModeBlock × kTile scratch.
template <typename scalar_t, bool kRe, bool kIm>
void forward_tile(const VandermondeParams<scalar_t>& p, int64_t sr,
                  const std::vector<int64_t>& rows, int64_t tile, const double* table, scalar_t* vr,
                  scalar_t* vi, scalar_t* kre, scalar_t* kim) {
  const int64_t l0 = tile * kTile, len = std::min(kTile, p.L - l0);
  const double* tre = table;
  const double* tim = table + p.M * kTile;
  for (int64_t m0 = 0; m0 < p.M; m0 += kModeBlock) {
    const int64_t mb = std::min(kModeBlock, p.M - m0);
    for (int64_t j = 0; j < mb; ++j) {  // V[j, r] = λ^{l0}·P[r]
      const int64_t m = m0 + j;
      double ar, ai;
      direct_power(p.s[(sr * p.M + m) * 2], p.s[(sr * p.M + m) * 2 + 1], static_cast<double>(l0),
                   ar, ai);
      const double* pr = tre + m * kTile;
      const double* pi = tim + m * kTile;
      for (int64_t r = 0; r < len; ++r) {
        vr[j * kTile + r] = static_cast<scalar_t>(ar * pr[r] - ai * pi[r]);
        vi[j * kTile + r] = static_cast<scalar_t>(ar * pi[r] + ai * pr[r]);
      }
    }
    for (int64_t row : rows) {
      const scalar_t* w = p.W + (row * p.M + m0) * 2;
      scalar_t* __restrict__ ore = kRe ? kre + row * p.L + l0 : nullptr;
      scalar_t* __restrict__ oim = kIm ? kim + row * p.L + l0 : nullptr;
      for (int64_t j = 0; j < mb; ++j) {
        const scalar_t wr = w[2 * j], wi = w[2 * j + 1];
        const scalar_t* __restrict__ a = vr + j * kTile;
        const scalar_t* __restrict__ b = vi + j * kTile;
        if constexpr (kRe)
          for (int64_t r = 0; r < len; ++r) ore[r] += wr * a[r] - wi * b[r];
        if constexpr (kIm)
          for (int64_t r = 0; r < len; ++r) oim[r] += wr * b[r] + wi * a[r];
      }
    }
  }
}

// Shared s: the power table once, then tiles in parallel, each over every row. Per-channel s:
// channels in parallel, each with its own table, over its C rows and every tile.
template <typename scalar_t, bool kRe, bool kIm>
void vandermonde_forward(const VandermondeParams<scalar_t>& p, scalar_t* kre, scalar_t* kim) {
  const int64_t tiles = (p.L + kTile - 1) / kTile;
  if (tiles == 0 || p.M == 0) return;
  auto fill_table = [&](int64_t sr, int64_t m_begin, int64_t m_end, double* table) {
    for (int64_t m = m_begin; m < m_end; ++m)
      power_table(p.s[(sr * p.M + m) * 2], p.s[(sr * p.M + m) * 2 + 1], table + m * kTile,
                  table + (p.M + m) * kTile);
  };
  if (p.s_rows == 1) {
    std::vector<double> table(static_cast<size_t>(2 * p.M * kTile));
    at::parallel_for(0, p.M, 16, [&](int64_t b, int64_t e) { fill_table(0, b, e, table.data()); });
    std::vector<int64_t> rows(static_cast<size_t>(p.C * p.H));
    for (int64_t i = 0; i < p.C * p.H; ++i) rows[i] = i;
    at::parallel_for(0, tiles, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> vr(kModeBlock * kTile), vi(kModeBlock * kTile);
      for (int64_t tile = begin; tile < end; ++tile)
        forward_tile<scalar_t, kRe, kIm>(p, 0, rows, tile, table.data(), vr.data(), vi.data(), kre,
                                         kim);
    });
  } else {
    at::parallel_for(0, p.H, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> table(static_cast<size_t>(2 * p.M * kTile));
      std::vector<scalar_t> vr(kModeBlock * kTile), vi(kModeBlock * kTile);
      std::vector<int64_t> rows(static_cast<size_t>(p.C));
      for (int64_t h = begin; h < end; ++h) {
        fill_table(h, 0, p.M, table.data());
        for (int64_t c = 0; c < p.C; ++c) rows[c] = c * p.H + h;
        for (int64_t tile = 0; tile < tiles; ++tile)
          forward_tile<scalar_t, kRe, kIm>(p, h, rows, tile, table.data(), vr.data(), vi.data(),
                                           kre, kim);
      }
    });
  }
}

// ---- backward ----------------------------------------------------------------------------------
// Differentiates K_c[ρ, l] = Σ_m W[ρ, m] λ_m^l (forward_tile's inner loop). Work item = (s row
// sr, group of kG modes); it owns dW[ρ, group] for its rows and ds[sr, group], so nothing is
// reduced across threads. Per tile, S and T are summed in the input dtype over the tile's lags
// with the local offset r = l − l0 and added to fp64 totals as S += S_tile, T += l0·S_tile +
// T_tile.
template <typename scalar_t, bool kRe, bool kIm>
void vandermonde_backward(const VandermondeParams<scalar_t>& p, const scalar_t* gre,
                          const scalar_t* gim, scalar_t* dW, scalar_t* ds) {
  constexpr int64_t kG = 64 / sizeof(scalar_t);  // modes per item: 16 floats / 8 doubles
  const int64_t groups = (p.M + kG - 1) / kG;
  const int64_t tiles = (p.L + kTile - 1) / kTile;
  const int64_t nrows = p.s_rows == 1 ? p.C * p.H : p.C;
  at::parallel_for(0, p.s_rows * groups, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> tre(kG * kTile), tim(kG * kTile);
    std::vector<scalar_t> vr(kTile * kG), vi(kTile * kG);
    std::vector<double> acc(static_cast<size_t>(nrows * kG * 4));  // S re, S im, T re, T im
    std::vector<int64_t> rows(static_cast<size_t>(nrows));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t sr = item / groups, m0 = (item % groups) * kG;
      const int64_t gn = std::min(kG, p.M - m0);
      for (int64_t i = 0; i < nrows; ++i) rows[i] = p.s_rows == 1 ? i : i * p.H + sr;
      for (int64_t g = 0; g < gn; ++g)
        power_table(p.s[(sr * p.M + m0 + g) * 2], p.s[(sr * p.M + m0 + g) * 2 + 1],
                    tre.data() + g * kTile, tim.data() + g * kTile);
      std::fill(acc.begin(), acc.end(), 0.0);
      std::fill(vr.begin(), vr.end(), scalar_t(0));  // padded modes g ≥ gn stay 0
      std::fill(vi.begin(), vi.end(), scalar_t(0));
      for (int64_t tile = 0; tile < tiles; ++tile) {
        const int64_t l0 = tile * kTile, len = std::min(kTile, p.L - l0);
        for (int64_t g = 0; g < gn; ++g) {  // V[r, g] = λ_g^{l0}·P_g[r], modes innermost
          double ar, ai;
          direct_power(p.s[(sr * p.M + m0 + g) * 2], p.s[(sr * p.M + m0 + g) * 2 + 1],
                       static_cast<double>(l0), ar, ai);
          const double* pr = tre.data() + g * kTile;
          const double* pi = tim.data() + g * kTile;
          for (int64_t r = 0; r < len; ++r) {
            vr[r * kG + g] = static_cast<scalar_t>(ar * pr[r] - ai * pi[r]);
            vi[r * kG + g] = static_cast<scalar_t>(ar * pi[r] + ai * pr[r]);
          }
        }
        for (int64_t i = 0; i < nrows; ++i) {
          const scalar_t* __restrict__ x = kRe ? gre + rows[i] * p.L + l0 : nullptr;
          const scalar_t* __restrict__ y = kIm ? gim + rows[i] * p.L + l0 : nullptr;
          scalar_t s_re[kG] = {}, s_im[kG] = {}, t_re[kG] = {}, t_im[kG] = {};
          for (int64_t r = 0; r < len; ++r) {
            // conj(G_c) λ^l = (x − i y)(v_r + i v_i) = (x v_r + y v_i) + i (x v_i − y v_r)
            const scalar_t xr = kRe ? x[r] : scalar_t(0), yr = kIm ? y[r] : scalar_t(0);
            const scalar_t xo = xr * static_cast<scalar_t>(r), yo = yr * static_cast<scalar_t>(r);
            const scalar_t* __restrict__ a = vr.data() + r * kG;
            const scalar_t* __restrict__ b = vi.data() + r * kG;
            for (int64_t g = 0; g < kG; ++g) {
              if constexpr (kRe) {
                s_re[g] += xr * a[g];
                s_im[g] += xr * b[g];
                t_re[g] += xo * a[g];
                t_im[g] += xo * b[g];
              }
              if constexpr (kIm) {
                s_re[g] += yr * b[g];
                s_im[g] -= yr * a[g];
                t_re[g] += yo * b[g];
                t_im[g] -= yo * a[g];
              }
            }
          }
          double* ac = acc.data() + i * kG * 4;
          const double dl0 = static_cast<double>(l0);
          for (int64_t g = 0; g < kG; ++g) {
            ac[g] += s_re[g];
            ac[kG + g] += s_im[g];
            ac[2 * kG + g] += dl0 * s_re[g] + t_re[g];
            ac[3 * kG + g] += dl0 * s_im[g] + t_im[g];
          }
        }
      }
      // dRe W = Re S, dIm W = −Im S; da += Re(W T), db += −Im(W T), rows in a fixed order.
      for (int64_t g = 0; g < gn; ++g) {
        const int64_t m = m0 + g;
        double da = 0, db = 0;
        for (int64_t i = 0; i < nrows; ++i) {
          const double* ac = acc.data() + i * kG * 4;
          const int64_t wi = (rows[i] * p.M + m) * 2;
          const double w_re = p.W[wi], w_im = p.W[wi + 1];
          const double sre = ac[g], sim = ac[kG + g], tr = ac[2 * kG + g], ti = ac[3 * kG + g];
          dW[wi] += static_cast<scalar_t>(sre);
          dW[wi + 1] += static_cast<scalar_t>(-sim);
          da += w_re * tr - w_im * ti;
          db -= w_re * ti + w_im * tr;
        }
        ds[(sr * p.M + m) * 2] += static_cast<scalar_t>(da);
        ds[(sr * p.M + m) * 2 + 1] += static_cast<scalar_t>(db);
      }
    }
  });
}

// ---- autograd shell ----------------------------------------------------------------------------
void check_kernel_inputs(const char* fn, const torch::Tensor& s, const torch::Tensor& W,
                         int64_t length) {
  TORCH_CHECK(W.defined() && W.dim() == 4 && W.size(3) == 2, fn,
              ": W must be (C, H, M, 2) real pairs, got ",
              W.defined() ? W.sizes() : at::IntArrayRef{});
  const int64_t H = W.size(1), M = W.size(2);
  TORCH_CHECK(s.defined() && ((s.dim() == 2 && s.size(0) == M && s.size(1) == 2) ||
                              (s.dim() == 3 && s.size(0) == H && s.size(1) == M && s.size(2) == 2)),
              fn, ": s must be (M, 2) = (", M, ", 2) or (H, M, 2) = (", H, ", ", M, ", 2), got ",
              s.defined() ? s.sizes() : at::IntArrayRef{});
  TORCH_CHECK(W.scalar_type() == torch::kFloat32 || W.scalar_type() == torch::kFloat64, fn,
              ": W must be float32 or float64, got ", W.scalar_type());
  TORCH_CHECK(s.scalar_type() == W.scalar_type(), fn, ": s dtype ", s.scalar_type(),
              " differs from W dtype ", W.scalar_type());
  TORCH_CHECK(s.device().is_cpu() && W.device().is_cpu(), fn, ": CPU tensors only");
  TORCH_CHECK(length >= 0, fn, ": length must be >= 0, got ", length);
}

template <typename scalar_t>
VandermondeParams<scalar_t> make_params(const torch::Tensor& s, const torch::Tensor& W,
                                        int64_t length) {
  VandermondeParams<scalar_t> p;
  p.C = W.size(0);
  p.H = W.size(1);
  p.M = W.size(2);
  p.L = length;
  p.s_rows = s.dim() == 2 ? 1 : s.size(0);
  p.s = s.data_ptr<scalar_t>();
  p.W = W.data_ptr<scalar_t>();
  return p;
}

// (1, H, 1): true for the channels h ≥ ⌊H/2⌋, which real-prod casts with Re·Im (§2.2.8).
torch::Tensor prod_half(int64_t H) {
  return (torch::arange(H, torch::kInt64) >= H / 2).view({1, H, 1});
}

class VandermondeFunction : public torch::autograd::Function<VandermondeFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& s_in,
                               const torch::Tensor& W_in, int64_t length, int64_t mode_int) {
    check_kernel_inputs("vandermonde_kernel", s_in, W_in, length);
    const auto mode = static_cast<KernelToReal>(mode_int);
    const auto s = s_in.contiguous();
    const auto W = W_in.contiguous();
    const bool need_re = mode != KernelToReal::kImag, need_im = mode != KernelToReal::kReal;
    const auto shape = std::vector<int64_t>{W.size(0), W.size(1), length};
    auto kre = need_re ? torch::zeros(shape, W.options()) : torch::Tensor();
    auto kim = need_im ? torch::zeros(shape, W.options()) : torch::Tensor();
    AT_DISPATCH_FLOATING_TYPES(W.scalar_type(), "vandermonde_forward", [&] {
      const auto p = make_params<scalar_t>(s, W, length);
      scalar_t* re = need_re ? kre.data_ptr<scalar_t>() : nullptr;
      scalar_t* im = need_im ? kim.data_ptr<scalar_t>() : nullptr;
      if (need_re && need_im) {
        vandermonde_forward<scalar_t, true, true>(p, re, im);
      } else if (need_re) {
        vandermonde_forward<scalar_t, true, false>(p, re, im);
      } else {
        vandermonde_forward<scalar_t, false, true>(p, re, im);
      }
    });
    const bool prod = mode == KernelToReal::kProd || mode == KernelToReal::kRealProd;
    ctx->save_for_backward({s, W, prod ? kre : torch::Tensor(), prod ? kim : torch::Tensor()});
    ctx->saved_data["mode"] = mode_int;
    ctx->saved_data["length"] = length;
    switch (mode) {
      case KernelToReal::kReal:
        return kre;
      case KernelToReal::kImag:
        return kim;
      case KernelToReal::kSum:
        return kre + kim;
      case KernelToReal::kProd:
        return kre * kim;
      case KernelToReal::kRealProd:
        return torch::where(prod_half(W.size(1)), kre * kim, kre);
    }
    return kre;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto &s = saved[0], &W = saved[1], &kre = saved[2], &kim = saved[3];
    const auto mode = static_cast<KernelToReal>(ctx->saved_data["mode"].toInt());
    const int64_t length = ctx->saved_data["length"].toInt();
    const auto G = grad_outputs[0].contiguous();
    // Chain through to_real first (§3.3.5 "kernel_to_real ≠ real").
    torch::Tensor gre, gim;
    switch (mode) {
      case KernelToReal::kReal:
        gre = G;
        break;
      case KernelToReal::kImag:
        gim = G;
        break;
      case KernelToReal::kSum:
        gre = G;
        gim = G;
        break;
      case KernelToReal::kProd:
        gre = (G * kim).contiguous();
        gim = (G * kre).contiguous();
        break;
      case KernelToReal::kRealProd: {
        const auto half = prod_half(W.size(1));
        gre = torch::where(half, G * kim, G).contiguous();
        gim = torch::where(half, G * kre, torch::zeros_like(G)).contiguous();
        break;
      }
    }
    auto ds = torch::zeros_like(s);
    auto dW = torch::zeros_like(W);
    AT_DISPATCH_FLOATING_TYPES(W.scalar_type(), "vandermonde_backward", [&] {
      const auto p = make_params<scalar_t>(s, W, length);
      const scalar_t* re = gre.defined() ? gre.data_ptr<scalar_t>() : nullptr;
      const scalar_t* im = gim.defined() ? gim.data_ptr<scalar_t>() : nullptr;
      scalar_t* dw = dW.data_ptr<scalar_t>();
      scalar_t* dsp = ds.data_ptr<scalar_t>();
      if (re && im) {
        vandermonde_backward<scalar_t, true, true>(p, re, im, dw, dsp);
      } else if (re) {
        vandermonde_backward<scalar_t, true, false>(p, re, im, dw, dsp);
      } else {
        vandermonde_backward<scalar_t, false, true>(p, re, im, dw, dsp);
      }
    });
    return {ds, dW, torch::Tensor(), torch::Tensor()};
  }
};

torch::Tensor to_real(const torch::Tensor& kc, KernelToReal mode) {
  switch (mode) {
    case KernelToReal::kReal:
      return torch::real(kc);
    case KernelToReal::kImag:
      return torch::imag(kc);
    case KernelToReal::kSum:
      return torch::real(kc) + torch::imag(kc);
    case KernelToReal::kProd:
      return torch::real(kc) * torch::imag(kc);
    case KernelToReal::kRealProd:
      return torch::where(prod_half(kc.size(1)), torch::real(kc) * torch::imag(kc),
                          torch::real(kc));
  }
  return torch::real(kc);
}

}  // namespace

torch::Tensor vandermonde_kernel(const torch::Tensor& s, const torch::Tensor& W, int64_t length,
                                 KernelToReal to_real_mode) {
  return VandermondeFunction::apply(s, W, length, static_cast<int64_t>(to_real_mode));
}

torch::Tensor vandermonde_kernel_reference(const torch::Tensor& s, const torch::Tensor& W,
                                           int64_t length, KernelToReal to_real_mode) {
  check_kernel_inputs("vandermonde_kernel_reference", s, W, length);
  auto sc = torch::view_as_complex((s.dim() == 2 ? s.unsqueeze(0) : s).contiguous());  // (Hs, M)
  auto l = torch::arange(length, s.options());
  auto V = torch::exp(sc.unsqueeze(-1) * l);                      // (Hs, M, L) = λ^l
  auto Wc = torch::view_as_complex(W.contiguous()).unsqueeze(2);  // (C, H, 1, M)
  auto kc = torch::matmul(Wc, V).squeeze(2);                      // (C, H, L)
  return to_real(kc, to_real_mode);
}

torch::Tensor dlr_kernel(const torch::Tensor& p, const torch::Tensor& b, const torch::Tensor& W,
                         int64_t length, KernelToReal to_real_mode) {
  TORCH_CHECK(p.dim() == 1 && b.sizes() == p.sizes(), "dlr_kernel: p and b must be (N), got ",
              p.sizes(), " and ", b.sizes());
  // Re Λ = −p² (§2.2.8); ∂L/∂p = −2p·∂L/∂a by autograd on this (N) tensor (§3.3.5).
  return vandermonde_kernel(torch::stack({-p * p, b}, -1), W, length, to_real_mode);
}

}  // namespace seqlab::core
