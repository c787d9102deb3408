// LTI long convolution (spec/mixers.md §3.2.7 steps 2-4, §3.3.5 "Convolution", §2.2.8 step 4
// bidirectional layout): the FFT path as an autograd Function with the cross-correlation
// backward, and the plain references (direct sum over lags, recurrent scan, explicit Toeplitz
// coefficients). See lti.h.
#include <ATen/Parallel.h>
#include <torch/fft.h>
#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "seqlab/core/lti.h"

namespace seqlab::core {

namespace {

bool is_5_smooth(int64_t n) {
  for (int64_t p : {2, 3, 5})
    while (n % p == 0) n /= p;
  return n == 1;
}

void check_conv_inputs(const char* fn, const torch::Tensor& u, const torch::Tensor& k,
                       const torch::Tensor& k_bwd, const torch::Tensor& D) {
  TORCH_CHECK(u.defined() && u.dim() == 3, fn, ": u must be (B, H, T), got ",
              u.defined() ? u.sizes() : at::IntArrayRef{});
  const int64_t H = u.size(1), T = u.size(2);
  TORCH_CHECK(k.defined() && k.dim() == 3 && k.size(1) == H, fn,
              ": k must be (C, H, Lk) with H = ", H, ", got ",
              k.defined() ? k.sizes() : at::IntArrayRef{});
  const int64_t Lk = k.size(2);
  TORCH_CHECK(Lk >= 1 && Lk <= std::max<int64_t>(T, 1), fn,
              ": kernel length must be in [1, T] = [1, ", T, "], got ", Lk);
  TORCH_CHECK(u.scalar_type() == torch::kFloat32 || u.scalar_type() == torch::kFloat64, fn,
              ": u must be float32 or float64, got ", u.scalar_type());
  TORCH_CHECK(k.scalar_type() == u.scalar_type(), fn, ": k dtype ", k.scalar_type(),
              " differs from u dtype ", u.scalar_type());
  if (k_bwd.defined())
    TORCH_CHECK(k_bwd.sizes() == k.sizes() && k_bwd.scalar_type() == k.scalar_type(), fn,
                ": k_bwd must match k ", k.sizes(), ", got ", k_bwd.sizes());
  if (D.defined())
    TORCH_CHECK(D.dim() == 2 && D.size(0) == k.size(0) && D.size(1) == H &&
                    D.scalar_type() == u.scalar_type(),
                fn, ": D must be (C, H) = (", k.size(0), ", ", H, "), got ", D.sizes());
}

// + D[c, h]·u[b, h, t] on y (B, C, H, T).
torch::Tensor add_skip(const torch::Tensor& y, const torch::Tensor& u, const torch::Tensor& D) {
  if (!D.defined()) return y;
  return y + D.unsqueeze(0).unsqueeze(-1) * u.unsqueeze(1);
}

// Channels per work item of the FFT convolution. Items are blocks of this many channels h with
// every batch element and output channel inside, so each FFT call sees the same rows whatever
// the thread count (pocketfft runs a call on one thread; LibTorch does not split it), and the
// reductions over the batch (dk, dD) run inside one item in a fixed order: bit-identical results
// at any thread count.
constexpr int64_t kChannelBlock = 8;

template <typename F>
void for_channel_blocks(int64_t H, const F& body) {
  const int64_t blocks = (H + kChannelBlock - 1) / kChannelBlock;
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t h0 = i * kChannelBlock;
      body(h0, std::min(kChannelBlock, H - h0));
    }
  });
}

// Optional tensors are c10::optional so that Function::apply skips them when absent (LibTorch
// 1.13 cannot record an undefined tensor input); backward returns undefined gradients there.
class LTIConvFunction : public torch::autograd::Function<LTIConvFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& u,
                               const torch::Tensor& k, const c10::optional<torch::Tensor>& k_bwd_in,
                               const c10::optional<torch::Tensor>& D_in) {
    const auto k_bwd = k_bwd_in.value_or(torch::Tensor());
    const auto D = D_in.value_or(torch::Tensor());
    check_conv_inputs("lti_conv", u, k, k_bwd, D);
    const int64_t B = u.size(0), C = k.size(0), H = u.size(1), T = u.size(2), Lk = k.size(2);
    const int64_t n = lti_fft_size(T, Lk, k_bwd.defined()), nf = n / 2 + 1;
    const auto copt = u.options().dtype(c10::toComplexType(u.scalar_type()));
    auto Uf = torch::empty({B, H, nf}, copt);
    auto Ff = torch::empty({C, H, nf}, copt);
    auto y = torch::empty({B, C, H, T}, u.options());
    for_channel_blocks(H, [&](int64_t h0, int64_t hb) {
      // Filter f = [k, 0…0, flip(k_bwd)] of length n: lags 0..Lk−1 and −Lk..−1 (§2.2.8 step 4).
      auto f = torch::zeros({C, hb, n}, k.options());
      f.narrow(2, 0, Lk).copy_(k.narrow(1, h0, hb));
      if (k_bwd.defined()) f.narrow(2, n - Lk, Lk).copy_(k_bwd.narrow(1, h0, hb).flip(-1));
      auto ub = u.narrow(1, h0, hb);
      auto Fb = torch::fft::rfft(f, n, -1);   // (C, hb, nf)
      auto Ub = torch::fft::rfft(ub, n, -1);  // (B, hb, nf)
      auto yb = torch::fft::irfft(Ub.unsqueeze(1) * Fb.unsqueeze(0), n, -1).narrow(-1, 0, T);
      y.narrow(2, h0, hb).copy_(add_skip(yb, ub, D.defined() ? D.narrow(1, h0, hb) : D));
      Uf.narrow(1, h0, hb).copy_(Ub);
      Ff.narrow(1, h0, hb).copy_(Fb);
    });
    ctx->save_for_backward({u, Uf, Ff, D});
    ctx->saved_data["n"] = n;
    ctx->saved_data["Lk"] = Lk;
    ctx->saved_data["has_bwd"] = k_bwd.defined();
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const auto &u = saved[0], &Uf = saved[1], &Ff = saved[2], &D = saved[3];
    const int64_t n = ctx->saved_data["n"].toInt(), Lk = ctx->saved_data["Lk"].toInt();
    const bool has_bwd = ctx->saved_data["has_bwd"].toBool();
    const int64_t H = u.size(1), T = u.size(2), C = Ff.size(0);
    const auto& g = grad_outputs[0];  // (B, C, H, T)
    auto du = torch::empty_like(u);
    auto dk = torch::empty({C, H, Lk}, u.options());
    auto dk_bwd = has_bwd ? torch::empty({C, H, Lk}, u.options()) : torch::Tensor();
    auto dD = D.defined() ? torch::empty_like(D) : torch::Tensor();
    for_channel_blocks(H, [&](int64_t h0, int64_t hb) {
      auto gb = g.narrow(2, h0, hb);
      auto Gb = torch::fft::rfft(gb, n, -1);  // (B, C, hb, nf)
      auto Fb = Ff.narrow(1, h0, hb), Ub = Uf.narrow(1, h0, hb);
      // du_t = Σ_c Σ_p f_p g_{t+p}: the cross-correlation irfft(Σ_c conj(F_c)·G_c) (§3.3.5).
      auto dub =
          torch::fft::irfft((Gb * torch::conj(Fb).unsqueeze(0)).sum(1), n, -1).narrow(-1, 0, T);
      if (D.defined()) dub = dub + (gb * D.narrow(1, h0, hb).unsqueeze(0).unsqueeze(-1)).sum(1);
      du.narrow(1, h0, hb).copy_(dub);
      // dk_p = Σ_b Σ_t g_t u_{t−p}: irfft(Σ_b conj(U_b)·G_b), lags p = 0..Lk−1 at the front and
      // p = −1..−Lk at the back (§3.3.5).
      auto full = torch::fft::irfft((Gb * torch::conj(Ub).unsqueeze(1)).sum(0), n, -1);
      dk.narrow(1, h0, hb).copy_(full.narrow(-1, 0, Lk));
      if (has_bwd) dk_bwd.narrow(1, h0, hb).copy_(full.narrow(-1, n - Lk, Lk).flip(-1));
      if (D.defined())
        dD.narrow(1, h0, hb).copy_(
            (gb * u.narrow(1, h0, hb).unsqueeze(1)).sum(at::IntArrayRef{0, 3}));
    });
    return {du, dk, dk_bwd, dD};
  }
};

}  // namespace

int64_t lti_fft_size(int64_t T, int64_t kernel_length, bool bidirectional) {
  int64_t n = std::max<int64_t>(1, T + kernel_length - 1 + (bidirectional ? 1 : 0));
  while (!is_5_smooth(n)) ++n;
  return n;
}

torch::Tensor lti_conv(const torch::Tensor& u, const torch::Tensor& k, const torch::Tensor& k_bwd,
                       const torch::Tensor& D) {
  using Opt = c10::optional<torch::Tensor>;
  return LTIConvFunction::apply(u, k, k_bwd.defined() ? Opt(k_bwd) : Opt(),
                                D.defined() ? Opt(D) : Opt());
}

torch::Tensor lti_conv_direct(const torch::Tensor& u, const torch::Tensor& k,
                              const torch::Tensor& k_bwd, const torch::Tensor& D) {
  check_conv_inputs("lti_conv_direct", u, k, k_bwd, D);
  const int64_t T = u.size(2), Lk = k.size(2);
  auto u1 = u.unsqueeze(1);  // (B, 1, H, T)
  auto y = torch::zeros({u.size(0), k.size(0), u.size(1), T}, u.options());
  for (int64_t j = 0; j < Lk && j < T; ++j) {  // y_t += k_j u_{t−j}
    auto term = k.select(2, j).unsqueeze(0).unsqueeze(-1) * u1.narrow(-1, 0, T - j);
    y = y + torch::constant_pad_nd(term, {j, 0});
  }
  if (k_bwd.defined())
    for (int64_t j = 1; j <= Lk && j < T; ++j) {  // y_t += k_bwd[j−1] u_{t+j}
      auto term = k_bwd.select(2, j - 1).unsqueeze(0).unsqueeze(-1) * u1.narrow(-1, j, T - j);
      y = y + torch::constant_pad_nd(term, {0, j});
    }
  return add_skip(y, u, D);
}

torch::Tensor lti_scan_reference(const torch::Tensor& u, const torch::Tensor& s,
                                 const torch::Tensor& q, bool anti_causal) {
  TORCH_CHECK(u.dim() == 3 && q.dim() == 4 && q.size(1) == u.size(1) && q.size(3) == 2,
              "lti_scan_reference: u must be (B, H, T) and q (C, H, M, 2), got ", u.sizes(),
              " and ", q.sizes());
  const int64_t B = u.size(0), H = u.size(1), T = u.size(2), M = q.size(2);
  auto lam = torch::exp(torch::view_as_complex((s.dim() == 2 ? s.unsqueeze(0) : s).contiguous()));
  auto qc = torch::view_as_complex(q.contiguous()).unsqueeze(0);  // (1, C, H, M)
  auto uu = anti_causal ? u.flip(-1) : u;
  auto x = torch::zeros({B, H, M}, u.options().dtype(c10::toComplexType(u.scalar_type())));
  std::vector<torch::Tensor> ys;
  ys.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    x = lam * x + uu.select(2, t).unsqueeze(-1);               // x_t = λ x_{t−1} + u_t
    ys.push_back(torch::real((qc * x.unsqueeze(1)).sum(-1)));  // Re Σ_m q_m x_m  (B, C, H)
  }
  auto y = T > 0 ? torch::stack(ys, -1)
                 : torch::zeros({B, q.size(0), H, 0}, u.options());  // (B, C, H, T)
  if (!anti_causal) return y;
  // z = causal output over the reversed input; y_t = z_{T−2−t} (0 at t = T − 1).
  auto shifted = torch::constant_pad_nd(y.narrow(-1, 0, std::max<int64_t>(T - 1, 0)), {1, 0});
  return shifted.flip(-1);
}

torch::Tensor toeplitz_coefficients(const torch::Tensor& k, int64_t T, const torch::Tensor& k_bwd) {
  TORCH_CHECK(k.dim() == 2, "toeplitz_coefficients: k must be (S, Lk), got ", k.sizes());
  const int64_t S = k.size(0), Lk = k.size(1);
  auto idx = torch::arange(T, torch::kInt64);
  auto d = idx.unsqueeze(1) - idx.unsqueeze(0);  // i − j
  auto fwd_mask = (d >= 0) & (d < Lk);
  auto M = k.index_select(1, d.clamp(0, Lk - 1).reshape({-1})).view({S, T, T}) *
           fwd_mask.to(k.scalar_type());
  if (k_bwd.defined()) {
    auto e = -d - 1;  // j − i − 1
    auto bwd_mask = (e >= 0) & (e < Lk);
    M = M + k_bwd.index_select(1, e.clamp(0, Lk - 1).reshape({-1})).view({S, T, T}) *
                bwd_mask.to(k.scalar_type());
  }
  return M;
}

}  // namespace seqlab::core
