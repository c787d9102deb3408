// Identity tests of spec/mixers.md §6.5 on zoo mixers (golden, fp64, 1e-12 relative):
//   #7  mLSTM: the stabilized mixer (paths F and R) = the unstabilized recurrence = the parallel
//       form = the recurrence stabilized by an arbitrary sequence m_t (§2.2.14);
//   #8  SSD: the 1-semiseparable form M = (C Bᵀ ⊙ L) Diag(Δ), L_ij = exp(Σ_{t=j+1}^{i} Δ_t A), vs
//       Mamba-2's coefficients() and vs the chunked scan (core and layer) (§2.2.11);
//   #11 RetNet: the fold of R_θ into q, k (scalar class, the mixer) = the rotation form A = γ R_1ᵀ
//       propagated densely; the GroupNorm output is invariant to the three per-row normalizations
//       of §2.2.6, exactly for ε = 0, and with the mixer's ε = 1e-5 equal to GroupNorm with ε/c²
//       on the unnormalized rows (c the row's normalization factor), also exactly.
// Each side is computed from the mixer's parameters with plain LibTorch ops written here, not
// from the mixer's own internals.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "../common/testing.h"
#include "seqlab/core/gated_scan.h"
#include "seqlab/mixers/layers.h"
#include "seqlab/mixers/zoo.h"

namespace seqlab::mixers {
namespace identities_test {

using seqlab::testing::close;
using torch::Tensor;

constexpr double kRtol = 1e-12;  // §6.5: golden, fp64, 1e-12 relative
const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

std::shared_ptr<Mixer> build(const std::string& name, const ZooOptions& o, uint64_t seed) {
  torch::manual_seed(seed);
  auto m = make_mixer(name, o);
  m->to(torch::kFloat64);
  return m;
}

Tensor param(Mixer& m, const std::string& name) {
  auto params = m.named_parameters();
  auto* p = params.find(name);
  if (p == nullptr) throw std::runtime_error("no parameter " + name);
  return *p;
}

// x Wᵀ (+ b) with the parameters "<prefix>.weight" and, if present, "<prefix>.bias".
Tensor linear(Mixer& m, const std::string& prefix, const Tensor& x) {
  auto params = m.named_parameters();
  auto* b = params.find(prefix + ".bias");
  return torch::linear(x, param(m, prefix + ".weight"), b != nullptr ? *b : Tensor());
}

// ---- #7 mLSTM ---------------------------------------------------------------------------------

struct MLSTMInputs {
  Tensor q, k, v;         // (B, H, T, dk | dk | dv), k already divided by √dk
  Tensor i_tilde, log_f;  // (B, H, T)
};

MLSTMInputs mlstm_inputs(Mixer& m, const Tensor& x, int64_t H) {
  const int64_t dk = param(m, "q_proj.weight").size(0) / H;
  MLSTMInputs in;
  in.q = split_heads(linear(m, "q_proj", x), H);
  in.k = split_heads(linear(m, "k_proj", x), H) / std::sqrt(double(dk));
  in.v = split_heads(linear(m, "v_proj", x), H);
  in.i_tilde = linear(m, "i_gate", x).permute({0, 2, 1});
  in.log_f = torch::log_sigmoid(linear(m, "f_gate", x)).permute({0, 2, 1});
  return in;
}

// h = out_proj(σ(o_gate x) ⊙ h̃), h̃ (B, H, T, dv).
Tensor mlstm_output(Mixer& m, const Tensor& x, const Tensor& h_tilde) {
  return linear(m, "out_proj", torch::sigmoid(linear(m, "o_gate", x)) * merge_heads(h_tilde));
}

// The recurrence of §2.2.14 stabilized by `m` (B, H, T) with m_0 = 0:
//   f'_t = exp(log f_t + m_{t−1} − m_t), i'_t = exp(ĩ_t − m_t),
//   S'_t = f'_t S'_{t−1} + i'_t k_t v_tᵀ, z'_t = f'_t z'_{t−1} + i'_t k_t,
//   h̃_t = S'_tᵀ q_t / max(|z'_tᵀ q_t|, exp(−m_t)).
// m ≡ 0 is the unstabilized cell: S_t = f_t S + exp(ĩ_t) k vᵀ, denominator max(|zᵀq|, 1).
Tensor mlstm_recurrent(const MLSTMInputs& in, const Tensor& m) {
  const int64_t B = in.q.size(0), H = in.q.size(1), T = in.q.size(2);
  const int64_t dk = in.q.size(3), dv = in.v.size(3);
  auto S = torch::zeros({B, H, dk, dv}, kF64);
  auto z = torch::zeros({B, H, dk}, kF64);
  auto m_prev = torch::zeros({B, H}, kF64);
  std::vector<Tensor> hs;
  for (int64_t t = 0; t < T; ++t) {
    auto mt = m.select(2, t);
    auto f = torch::exp(in.log_f.select(2, t) + m_prev - mt).view({B, H, 1});
    auto i = torch::exp(in.i_tilde.select(2, t) - mt).view({B, H, 1});
    auto k = in.k.select(2, t), v = in.v.select(2, t), q = in.q.select(2, t);
    S = f.unsqueeze(-1) * S + (i * k).unsqueeze(-1) * v.unsqueeze(-2);
    z = f * z + i * k;
    auto num = torch::matmul(S.transpose(-1, -2), q.unsqueeze(-1)).squeeze(-1);  // (B, H, dv)
    auto den = torch::maximum((z * q).sum(-1).abs(), torch::exp(-mt)).unsqueeze(-1);
    hs.push_back(num / den);
    m_prev = mt;
  }
  return torch::stack(hs, 2);
}

// The parallel form of §2.2.14: log D_ij = Σ_{l=j+1}^{i} log f_l + ĩ_j (j ≤ i), m_i = max_j log
// D_ij, C̃_ij = (q_iᵀk_j) exp(log D_ij − m_i), η'_i = max(|Σ_j C̃_ij|, exp(−m_i)), H = (C̃/η') V.
Tensor mlstm_parallel(const MLSTMInputs& in) {
  const int64_t T = in.q.size(2);
  auto logD = torch::full({in.q.size(0), in.q.size(1), T, T},
                          -std::numeric_limits<double>::infinity(), kF64);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      auto s = in.i_tilde.select(2, j).clone();
      for (int64_t l = j + 1; l <= i; ++l) s = s + in.log_f.select(2, l);
      logD.select(2, i).select(2, j).copy_(s);
    }
  auto m = std::get<0>(logD.max(-1, /*keepdim=*/true));  // (B, H, T, 1)
  auto C = torch::matmul(in.q, in.k.transpose(-1, -2)) * torch::exp(logD - m);
  auto eta = torch::maximum(C.sum(-1, true).abs(), torch::exp(-m));
  return torch::matmul(C / eta, in.v);
}

TEST(Identities, MLSTMStabilizedEqualsUnstabilizedEqualsParallel) {
  ZooOptions o;
  o.d_model = 8;
  o.heads = 2;
  o.chunk_size = 3;
  auto mixer = build("mlstm", o, 71);
  {
    // Input gates spread over ±~10 and input-dependent forget gates, so that the stabilizer is
    // active (m_t > 0 and not ĩ_t alone) and exp(ĩ) spans several decades.
    torch::NoGradGuard no_grad;
    torch::manual_seed(72);
    param(*mixer, "i_gate.weight").copy_(2.0 * torch::randn({2, 8}, kF64));
    param(*mixer, "i_gate.bias").copy_(torch::tensor({4.0, -3.0}, kF64));
    param(*mixer, "f_gate.weight").copy_(torch::randn({2, 8}, kF64));
  }
  const int64_t T = 11;
  auto x = torch::randn({2, T, 8}, kF64);
  auto in = mlstm_inputs(*mixer, x, o.heads);
  {
    // The recurrent stabilizer m_t = max(log f_t + m_{t−1}, ĩ_t), m_0 = 0, must matter here.
    torch::NoGradGuard no_grad;
    auto m = torch::zeros({2, 2}, kF64);
    double m_max = 0;
    for (int64_t t = 0; t < T; ++t) {
      m = torch::maximum(in.log_f.select(2, t) + m, in.i_tilde.select(2, t));
      m_max = std::max(m_max, m.max().item<double>());
    }
    ASSERT_GT(m_max, 3.0) << "test inputs do not exercise the stabilizer";
    ASSERT_LT(in.i_tilde.min().item<double>(), -3.0);
  }

  torch::NoGradGuard no_grad;
  const auto unstabilized =
      mlstm_output(*mixer, x, mlstm_recurrent(in, torch::zeros_like(in.log_f)));
  const auto parallel = mlstm_output(*mixer, x, mlstm_parallel(in));
  // "identical for any sequence m_t": a random stabilizer sequence.
  const auto arbitrary_m = 4.0 * torch::randn(in.log_f.sizes(), kF64);
  const auto arbitrary = mlstm_output(*mixer, x, mlstm_recurrent(in, arbitrary_m));
  const auto stabilized_r = mixer->reference(x);  // the mixer: recurrent stabilizer, R path
  const auto stabilized_f = mixer->forward(x);    // and the fused kernel
  EXPECT_TRUE(close(unstabilized, parallel, kRtol, 0.0, "unstabilized vs parallel"));
  EXPECT_TRUE(close(arbitrary, unstabilized, kRtol, 0.0, "arbitrary m vs unstabilized"));
  EXPECT_TRUE(close(stabilized_r, unstabilized, kRtol, 0.0, "stabilized (R) vs unstabilized"));
  EXPECT_TRUE(close(stabilized_r, parallel, kRtol, 0.0, "stabilized (R) vs parallel"));
  EXPECT_TRUE(close(stabilized_f, unstabilized, kRtol, 0.0, "stabilized (F) vs unstabilized"));
}

TEST(Identities, MLSTMDetachedStabilizerGivesTheUnstabilizedGradients) {
  // The mixer detaches m (the output is invariant to it), so its gradients must equal autograd
  // through the unstabilized cell, for every parameter (§6.2 backward row).
  ZooOptions o;
  o.d_model = 8;
  o.heads = 2;
  auto mixer = build("mlstm", o, 73);
  {
    torch::NoGradGuard no_grad;
    param(*mixer, "i_gate.weight").copy_(2.0 * torch::randn({2, 8}, kF64));
    param(*mixer, "f_gate.weight").copy_(torch::randn({2, 8}, kF64));
  }
  auto x = torch::randn({2, 9, 8}, kF64);
  auto w = torch::randn({2, 9, 8}, kF64);
  auto grads = [&](bool mixer_path) {
    Tensor y;
    if (mixer_path) {
      y = mixer->forward(x);
    } else {
      auto in = mlstm_inputs(*mixer, x, o.heads);
      y = mlstm_output(*mixer, x, mlstm_recurrent(in, torch::zeros_like(in.log_f)));
    }
    auto loss = (w * y).sum() + 0.5 * (y * y).sum();
    return torch::autograd::grad({loss}, mixer->parameters());
  };
  auto g_mixer = grads(true), g_plain = grads(false);
  auto names = mixer->named_parameters().keys();
  for (size_t i = 0; i < names.size(); ++i)
    EXPECT_TRUE(close(g_mixer[i], g_plain[i], 1e-10, 1e-11, "d" + names[i]));
}

// ---- #8 SSD -----------------------------------------------------------------------------------

TEST(Identities, SSDSemiseparableFormEqualsCoefficientsAndChunkedForm) {
  ZooOptions o;
  o.d_model = 8;
  o.heads = 2;
  o.state_size = 4;
  o.expand = 2;
  o.conv_size = 3;
  o.chunk_size = 3;
  o.path = core::ScanPath::kChunked;
  auto mixer = build("mamba2", o, 81);
  const int64_t B = 2, T = 10, H = 2, N = 4, di = 16;
  auto u = torch::randn({B, T, 8}, kF64);
  torch::NoGradGuard no_grad;

  // §2.2.11 steps 1-4, from the parameters: [z, x, B, C, dt] = in_proj(u); [x, B, C] ←
  // SiLU(conv(·)); Δ = softplus(dt + dt_bias); A = −exp(A_log).
  auto zxbcdt = linear(*mixer, "in_proj", u);
  auto conv = mixer->named_modules()["conv"]->as<ShortConvImpl>();
  ASSERT_NE(conv, nullptr);
  auto xbc = torch::silu(conv->forward(zxbcdt.narrow(-1, di, di + 2 * N)));
  auto xv = split_heads(xbc.narrow(-1, 0, di), H);                                 // (B, H, T, P)
  auto Bm = xbc.narrow(-1, di, N);                                                 // (B, T, N)
  auto Cm = xbc.narrow(-1, di + N, N);                                             // (B, T, N)
  auto dt = zxbcdt.narrow(-1, 2 * di + 2 * N, H);                                  // (B, T, H)
  auto delta = torch::softplus(dt + param(*mixer, "dt_bias")).permute({0, 2, 1});  // (B, H, T)
  auto A = -torch::exp(param(*mixer, "A_log"));                                    // (H)

  // M = (C Bᵀ ⊙ L) Diag(Δ), L_ij = exp(Σ_{t=j+1}^{i} Δ_t A) for j ≤ i, else 0 (sums written out).
  auto L = torch::zeros({B, H, T, T}, kF64);
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      auto s = torch::zeros({B, H}, kF64);
      for (int64_t t = j + 1; t <= i; ++t) s = s + delta.select(2, t) * A;
      L.select(2, i).select(2, j).copy_(torch::exp(s));
    }
  auto CB = torch::matmul(Cm, Bm.transpose(-1, -2)).unsqueeze(1);  // (B, 1, T, T)
  auto M = torch::matmul(CB * L, torch::diag_embed(delta));        // (B, H, T, T)

  // vs the coefficient form (Mamba-2 coefficients(): the scalar-class closed form of §1.3).
  EXPECT_TRUE(close(mixer->coefficients(u), M, kRtol, 0.0, "SSD form vs coefficients()"));

  // vs the chunked form of the core (§3.2.2) at chunk sizes that do and do not divide T.
  auto q = Cm.unsqueeze(1).expand({B, H, T, N});
  auto k = Bm.unsqueeze(1) * delta.unsqueeze(-1);  // b_j k_j = Δ_j B_j
  auto g = (delta * A.view({1, H, 1})).unsqueeze(-1);
  const auto y_ssd = torch::matmul(M, xv);
  for (int64_t chunk : {1, 3, 4, 10, 16}) {
    auto y_chunked = core::gated_scan_chunked(q, k, xv, g, {}, chunk).y;
    EXPECT_TRUE(close(y_chunked, y_ssd, kRtol, 0.0, "chunked core, C = " + std::to_string(chunk)));
  }
  // and the whole layer on its chunked path (C = 3, T = 10): y = from_core(u, M x).
  EXPECT_TRUE(close(mixer->forward(u), mixer->from_core(u, y_ssd), kRtol, 0.0, "chunked layer"));
}

// ---- #11 RetNet -------------------------------------------------------------------------------

struct RetNetSetup {
  std::shared_ptr<Mixer> mixer;
  Tensor u, M_rot, V, gamma;  // M_rot (B, H, T, T), V (B, H, T, dv), γ (H)
  int64_t H, dk, dv;
};

// The rotation form of §2.2.6: A = γ_h R_1ᵀ with R_t the RoPE rotation by tθ_m on the pairs
// (m, m + n/2) (`half` layout, θ_m = 10000^{−2m/n}), b = n^{−1/2}, on the un-rotated q = W_Q u,
// k = W_K u: α̃_ij = q_iᵀ A^{i−j} k_j / √n, each impulse propagated by dense matrix products.
RetNetSetup retnet_rotation_form() {
  ZooOptions o;
  o.d_model = 8;
  o.heads = 2;
  RetNetSetup s;
  s.H = 2;
  s.dk = 4;
  s.dv = 8;
  s.mixer = build("retnet", o, 91);
  {
    torch::NoGradGuard no_grad;  // a non-trivial GroupNorm affine
    param(*s.mixer, "norm_weight").copy_(1.0 + 0.5 * torch::randn({16}, kF64));
    param(*s.mixer, "norm_bias").copy_(0.3 * torch::randn({16}, kF64));
  }
  const int64_t B = 2, T = 9, half = s.dk / 2;
  s.u = 3.0 * torch::randn({B, T, 8}, kF64);  // so that |Σ_l R_il| is both < 1 and > 1
  auto q = split_heads(linear(*s.mixer, "q_proj", s.u), s.H);
  auto k = split_heads(linear(*s.mixer, "k_proj", s.u), s.H);
  s.V = split_heads(linear(*s.mixer, "v_proj", s.u), s.H);
  auto R1 = torch::zeros({s.dk, s.dk}, kF64);
  for (int64_t m = 0; m < half; ++m) {
    const double th = std::pow(10000.0, -2.0 * double(m) / double(s.dk));
    R1[m][m] = std::cos(th);
    R1[m][m + half] = -std::sin(th);
    R1[m + half][m] = std::sin(th);
    R1[m + half][m + half] = std::cos(th);
  }
  s.gamma = 1.0 - torch::pow(2.0, -5.0 - torch::arange(s.H, kF64));  // γ_h = 1 − 2^{−5−h}
  auto A = s.gamma.view({s.H, 1, 1}) * R1.t();                       // (H, n, n)
  s.M_rot = torch::zeros({B, s.H, T, T}, kF64);
  for (int64_t j = 0; j < T; ++j) {
    auto x = k.select(2, j) / std::sqrt(double(s.dk));  // (B, H, n): impulse b k_j
    for (int64_t i = j; i < T; ++i) {
      if (i > j) x = torch::matmul(A, x.unsqueeze(-1)).squeeze(-1);  // x ← A_i x
      s.M_rot.select(2, i).select(2, j).copy_((q.select(2, i) * x).sum(-1));
    }
  }
  return s;
}

TEST(Identities, RetNetFoldIntoScalarClassEqualsRotationForm) {
  auto s = retnet_rotation_form();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(close(s.mixer->coefficients(s.u), s.M_rot, kRtol, 0.0, "fold vs rotation form"));
  auto y_rot = s.mixer->from_core(s.u, torch::matmul(s.M_rot, s.V));
  EXPECT_TRUE(close(s.mixer->forward(s.u), y_rot, kRtol, 0.0, "layer F vs rotation form"));
  EXPECT_TRUE(close(s.mixer->reference(s.u), y_rot, kRtol, 0.0, "layer R vs rotation form"));
}

// GroupNorm per (position, head) over the head's dv channels with ε per row, eps (B, T, H), then
// the per-channel affine (w, b) of length H·dv. y: (B, H, T, dv) -> (B, T, H·dv).
Tensor group_norm_rows(const Tensor& y, const Tensor& eps, const Tensor& w, const Tensor& b) {
  auto x = y.permute({0, 2, 1, 3});  // (B, T, H, dv)
  auto mean = x.mean(-1, true);
  auto var = (x - mean).pow(2).mean(-1, true);
  auto n = (x - mean) / torch::sqrt(var + eps.unsqueeze(-1));
  return n.reshape({x.size(0), x.size(1), -1}) * w + b;
}

TEST(Identities, RetNetGroupNormCancelsThePerRowNormalizations) {
  auto s = retnet_rotation_form();
  torch::NoGradGuard no_grad;
  const int64_t B = s.u.size(0), T = s.u.size(1);
  auto w = param(*s.mixer, "norm_weight"), b = param(*s.mixer, "norm_bias");
  // §2.2.6: (1) QKᵀ/√n ⊙ D (the mixer's core, η = 1); (2) D̃_ij = D_ij / sqrt(Σ_{l≤i} D_il);
  // (3) R = (QKᵀ/√n) ⊙ D̃, R̃_ij = R_ij / max(|Σ_{l≤i} R_il|, 1). Each is M_rot scaled per row by c.
  auto i_idx = torch::arange(T, kF64);
  auto row_decay = (1 - torch::pow(s.gamma.view({s.H, 1}), i_idx.view({1, T}) + 1)) /
                   (1 - s.gamma.view({s.H, 1}));                // Σ_{l≤i} γ^{i−l}: (H, T)
  auto c2 = 1.0 / torch::sqrt(row_decay).view({1, s.H, T, 1});  // (1, H, T, 1)
  auto R = s.M_rot * c2;
  auto c3 = c2 / torch::clamp_min(R.sum(-1, true).abs(), 1.0);  // (B, H, T, 1)
  ASSERT_GT((R.sum(-1).abs() > 1.0).sum().item<int64_t>(), 0) << "max(|Σ R|, 1) never active";
  ASSERT_GT((R.sum(-1).abs() < 1.0).sum().item<int64_t>(), 0) << "max(|Σ R|, 1) always active";
  const auto Y1 = torch::matmul(s.M_rot, s.V);
  const auto Y2 = torch::matmul(s.M_rot * c2, s.V);
  const auto Y3 = torch::matmul(s.M_rot * c3, s.V);

  // ε = 0: exactly invariant.
  auto zero = torch::zeros({B, T, s.H}, kF64);
  auto gn1 = group_norm_rows(Y1, zero, w, b);
  EXPECT_TRUE(close(group_norm_rows(Y2, zero, w, b), gn1, kRtol, 0.0, "eps 0: (2) vs (1)"));
  EXPECT_TRUE(close(group_norm_rows(Y3, zero, w, b), gn1, kRtol, 0.0, "eps 0: (3) vs (1)"));
  // The helper is LibTorch's GroupNorm (torch::group_norm with H groups) at a common ε.
  auto eps5 = torch::full({B, T, s.H}, 1e-5, kF64);
  auto lib = torch::group_norm(merge_heads(Y1).reshape({-1, s.H * s.dv}), s.H, w, b, 1e-5);
  EXPECT_TRUE(close(group_norm_rows(Y1, eps5, w, b).reshape({-1, s.H * s.dv}), lib, kRtol, 0.0,
                    "row GroupNorm helper vs torch::group_norm"));
  // The mixer's GroupNorm (ε = 1e-5): normalizing the rows by c equals GroupNorm with ε/c² on the
  // unnormalized rows, GN_ε(c y) = GN_{ε/c²}(y), exactly. So the three normalizations agree up
  // to this change of ε alone.
  auto gate = torch::silu(linear(*s.mixer, "g_proj", s.u));
  auto post = [&](const Tensor& normed) { return linear(*s.mixer, "out_proj", gate * normed); };
  for (auto [Y, c, what] :
       {std::make_tuple(Y2, c2.expand({B, s.H, T, 1}), "(2)"), std::make_tuple(Y3, c3, "(3)")}) {
    auto eps_eff = (1e-5 / c.pow(2)).squeeze(-1).permute({0, 2, 1});  // (B, T, H)
    EXPECT_TRUE(close(s.mixer->from_core(s.u, Y), post(group_norm_rows(Y1, eps_eff, w, b)), kRtol,
                      0.0, std::string("mixer GroupNorm eps 1e-5: ") + what));
  }
  EXPECT_TRUE(
      close(s.mixer->from_core(s.u, Y1), post(gn1), 1e-4, 0.0, "eps 1e-5 vs eps 0 (loose)"));
  // The identity needs per-row factors: a per-column normalization changes the output.
  auto col = 1.0 / (1.0 + torch::arange(T, kF64)).view({1, 1, 1, T});
  auto gn_col = group_norm_rows(torch::matmul(s.M_rot * col, s.V), zero, w, b);
  EXPECT_GT((gn_col - gn1).abs().max().item<double>(), 1e-3);
}

}  // namespace identities_test
}  // namespace seqlab::mixers
