// LTI zoo mixers DLR, S4D, DSS-EXP and LRU (spec/mixers.md §2.2.7-§2.2.9, §5.5, §6): for every
// variant (DLR versions, kernel_to_real, bidirectional, channels, truncated kernels; S4D inits and
// discretizations; LRU with and without GLU) forward (FFT / fused scan) == reference (recurrent)
// == from_core(coefficients @ values), outputs and every gradient, fp64 and fp32; step() over a
// sequence == reference == forward; central differences through the fast path; DLR ⊇ DSS (§6.5
// item 10) at 1e-12 relative; the initial distributions of each card; diagnostics at init (§4.2
// worked values); bad options.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "../common/mixer_contract.h"
#include "../common/testing.h"
#include "seqlab/core/diagnostics.h"
#include "seqlab/mixers/dlr.h"
#include "seqlab/mixers/lru.h"
#include "seqlab/mixers/s4d.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace lti_mixers_test {

using torch::Tensor;
using namespace seqlab::testing::contract;  // tolerances, paths and run_path (§6.1-§6.4)

constexpr int64_t kWidth = 5;

struct Variant {
  std::string name;
  std::function<std::shared_ptr<Mixer>()> make;
  bool has_step = true;
};

DLROptions dlr(std::string version = "", core::KernelToReal mode = core::KernelToReal::kReal) {
  DLROptions o;
  o.d_model = kWidth;
  o.state_size = 4;
  o.version = std::move(version);
  o.kernel_to_real = mode;
  o.W_scale = 0.5;  // outputs of order one at N = 4
  o.dt_min = 1e-2;
  return o;
}

std::vector<Variant> variants() {
  std::vector<Variant> v;
  auto add = [&](std::string name, std::function<std::shared_ptr<Mixer>()> make, bool step = true) {
    v.push_back({std::move(name), std::move(make), step});
  };
  for (auto mode : {core::KernelToReal::kReal, core::KernelToReal::kImag, core::KernelToReal::kSum,
                    core::KernelToReal::kProd, core::KernelToReal::kRealProd})
    add(mode == core::KernelToReal::kRealProd
            ? std::string("dlr_real_prod")
            : std::string("dlr_") + core::kernel_to_real_name(mode),
        [mode] { return std::make_shared<DLRImpl>(dlr("", mode)); });
  for (std::string version : {"Lambda_imag", "Lambda_imag_W_real", "Lambda_real_W_real"})
    add("dlr_" + version, [version] { return std::make_shared<DLRImpl>(dlr(version)); });
  add("dlr_randn_glu_channels2", [] {
    auto o = dlr();
    o.Lambda_init = "randn";
    o.glu = true;
    o.channels = 2;
    return std::make_shared<DLRImpl>(o);
  });
  add(
      "dlr_bidirectional_prod",
      [] {
        auto o = dlr("", core::KernelToReal::kProd);
        o.bidirectional = true;
        return std::make_shared<DLRImpl>(o);
      },
      false);
  add(
      "dlr_truncated_bidirectional",
      [] {
        auto o = dlr();
        o.bidirectional = true;
        o.max_kernel_length = 3;
        return std::make_shared<DLRImpl>(o);
      },
      false);
  for (std::string init : {"lin", "inv", "real"})
    for (std::string disc : {"zoh", "bilinear"})
      add("s4d_" + init + "_" + disc, [init, disc] {
        S4DOptions o;
        o.d_model = kWidth;
        o.state_size = 4;
        o.init = init;
        o.discretization = disc;
        o.dt_min = 0.05;
        o.dt_max = 0.5;
        return std::make_shared<S4DImpl>(o);
      });
  add("dss", [] {
    DSSOptions o;
    o.d_model = kWidth;
    o.state_size = 3;
    o.dt_min = 0.05;
    o.dt_max = 0.5;
    return std::make_shared<DSSImpl>(o);
  });
  add(
      "dss_bidirectional_glu",
      [] {
        DSSOptions o;
        o.d_model = kWidth;
        o.state_size = 3;
        o.bidirectional = true;
        o.glu = true;
        return std::make_shared<DSSImpl>(o);
      },
      false);
  for (bool glu : {true, false})
    add(std::string("lru_") + (glu ? "glu" : "linear"), [glu] {
      LRUOptions o;
      o.d_model = kWidth;
      o.state_size = 3;
      o.r_min = 0.5;
      o.r_max = 0.95;
      o.glu = glu;
      return std::make_shared<LRUImpl>(o);
    });
  return v;
}

std::shared_ptr<Mixer> build(const Variant& v, torch::ScalarType dtype, uint64_t seed = 7) {
  torch::manual_seed(seed);
  auto m = v.make();
  m->to(dtype);
  return m;
}

std::ostream& operator<<(std::ostream& os, const Variant& v) {
  return os << v.name;
}

class LtiMixers : public ::testing::TestWithParam<Variant> {};

TEST_P(LtiMixers, PathsAgreeFp64AndFp32) {
  for (auto dtype : {torch::kFloat64, torch::kFloat32})
    for (int64_t T : {1, 9, 16}) {
      SCOPED_TRACE(GetParam().name + " T" + std::to_string(T));
      auto m = build(GetParam(), dtype);
      check_paths_agree(*m, T, kWidth, dtype);
    }
}

TEST_P(LtiMixers, StepMatchesReferenceAndForward) {
  if (!GetParam().has_step) {
    auto m = build(GetParam(), torch::kFloat64);
    EXPECT_THROW(m->initial_state(2, torch::TensorOptions().dtype(torch::kFloat64)),
                 std::logic_error);
    return;
  }
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    SCOPED_TRACE(GetParam().name);
    auto m = build(GetParam(), dtype);
    check_step_matches(*m, 11, kWidth, dtype);
    EXPECT_EQ(m->initial_state(1, torch::TensorOptions().dtype(dtype))[0].numel(),
              m->state_size(5));
  }
}

TEST_P(LtiMixers, FastPathGradientsMatchCentralDifferences) {
  auto m = build(GetParam(), torch::kFloat64);
  auto x = torch::randn({2, 6, kWidth}, torch::kFloat64).requires_grad_(true);
  auto w1 = torch::randn({2, 6, kWidth}, torch::kFloat64);
  auto w2 = torch::randn({2, 6, kWidth}, torch::kFloat64);
  auto loss = [&] { return seqlab::testing::contract_loss(m->forward(x), w1, w2); };
  auto params = m->parameters();
  auto names = m->named_parameters().keys();
  params.push_back(x);
  names.push_back("input");
  EXPECT_TRUE(seqlab::testing::gradcheck(loss, params, names)) << GetParam().name;
}

TEST_P(LtiMixers, ReportsStructureAndStableEigenvalues) {
  auto m = build(GetParam(), torch::kFloat32);
  EXPECT_EQ(m->structure(), Structure::kLTIDiagonal);
  auto d = core::diagnose(m->transitions(torch::zeros({1, 4, kWidth})));
  EXPECT_EQ(d.kind, "complex diagonal");
  EXPECT_LE(d.spectral_radius.max, 1.0 + 1e-6) << GetParam().name;
  for (const auto& p : m->dynamics_parameters())
    EXPECT_TRUE(m->named_parameters().contains(p)) << p;
}

INSTANTIATE_TEST_SUITE_P(Variants, LtiMixers, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           return info.param.name;
                         });

// ---- DLR ⊇ DSS (§2.2.8 "Relation to DSS", §6.5 item 10) ----------------------------------------

// DLR with Λ' = ΔΛ (p = sqrt(−Re ΔΛ), b = Im ΔΛ) and W' = W(e^{ΔΛ} − 1)/Λ reproduces DSS-EXP:
// the whole layer with one Δ for every channel (DLR's Λ is shared), and the kernel channel by
// channel with DSS's per-channel Δ.
TEST(LtiIdentities, DlrContainsDss) {
  const int64_t H = 4, N = 6, T = 20;
  torch::manual_seed(3);
  DSSOptions so;
  so.d_model = H;
  so.state_size = N;
  DSSImpl dss(so);
  dss.to(torch::kFloat64);
  DLROptions lo;
  lo.d_model = H;
  lo.state_size = N;
  DLRImpl dlr_layer(lo);
  dlr_layer.to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto Lambda = torch::complex(-torch::exp(dss.Lambda_log_neg_re), dss.Lambda_im);  // (N)
  auto Wc = torch::view_as_complex(dss.W.contiguous());                             // (1, H, N)
  auto dlr_params = [&](double dt, const Tensor& w) {
    auto dtL = dt * Lambda;
    return std::make_pair(dtL, w * (torch::exp(dtL) - 1.0) / Lambda);
  };
  // Per channel h: the DLR kernel of channel h with Δ_h equals DSS's row h.
  auto K_dss = dss.kernel(T);
  for (int64_t h = 0; h < H; ++h) {
    const double dt = std::exp(dss.log_dt[h].item<double>());
    auto [dtL, w] = dlr_params(dt, Wc.narrow(1, h, 1));
    auto K = core::dlr_kernel(torch::sqrt(-torch::real(dtL)), torch::imag(dtL),
                              torch::view_as_real(w.contiguous()), T);
    EXPECT_TRUE(seqlab::testing::close(K, K_dss.narrow(1, h, 1), 1e-12, 0.0,
                                       "channel " + std::to_string(h)));
  }
  // The layer with one Δ: the same D and output_linear, identical outputs.
  dss.log_dt.fill_(std::log(0.03));
  auto [dtL, w] = dlr_params(0.03, Wc);
  dlr_layer.Lambda_log_neg_re.copy_(torch::sqrt(-torch::real(dtL)));
  dlr_layer.Lambda_im.copy_(torch::imag(dtL));
  dlr_layer.W.copy_(torch::view_as_real(w.contiguous()));
  dlr_layer.D.copy_(dss.D);
  dlr_layer.output_linear->weight.copy_(dss.output_linear->weight);
  dlr_layer.output_linear->bias.copy_(dss.output_linear->bias);
  auto u = torch::randn({2, T, H}, torch::kFloat64);
  EXPECT_TRUE(seqlab::testing::close(dlr_layer.forward(u), dss.forward(u), 1e-12, 0.0, "layer"));
  EXPECT_TRUE(
      seqlab::testing::close(dlr_layer.reference(u), dss.reference(u), 1e-12, 0.0, "reference"));
}

// S4D's kernel (§2.2.7) written from the card with complex ops on the parameters, ZOH and
// bilinear: K_l = 2 Re Σ_m C_m B̄_m Ā_m^l (lin/inv) or Σ_m C_m B̄_m Ā_m^l (real).
TEST(LtiIdentities, S4dKernelMatchesTheCardFormula) {
  const int64_t L = 30;
  for (std::string init : {"lin", "inv", "real"})
    for (std::string disc : {"zoh", "bilinear"}) {
      torch::manual_seed(5);
      S4DOptions o;
      o.d_model = 3;
      o.state_size = 6;
      o.init = init;
      o.discretization = disc;
      o.dt_min = 0.01;
      o.dt_max = 0.5;
      S4DImpl m(o);
      m.to(torch::kFloat64);
      torch::NoGradGuard no_grad;
      auto dt = torch::exp(m.log_dt).unsqueeze(-1);
      auto A = torch::complex(
          -torch::exp(m.Lambda_log_neg_re),
          m.Lambda_im.defined() ? m.Lambda_im : torch::zeros_like(m.Lambda_log_neg_re));
      auto Ab = disc == "zoh" ? torch::exp(dt * A) : (1.0 + dt * A / 2) / (1.0 - dt * A / 2);
      auto Bb = disc == "zoh" ? (torch::exp(dt * A) - 1.0) / A : dt / (1.0 - dt * A / 2);
      auto C = init == "real" ? torch::complex(m.C, torch::zeros_like(m.C))
                              : torch::view_as_complex(m.C.contiguous());
      auto l = torch::arange(L, torch::kFloat64);
      auto pw = torch::pow(Ab.unsqueeze(-1), l);  // Ā^l (H, M, L)
      auto K = torch::real((C * Bb).unsqueeze(-1) * pw.unsqueeze(0)).sum(2);
      if (init != "real") K = 2 * K;
      EXPECT_TRUE(seqlab::testing::close(m.kernel(L), K, 1e-12, 1e-14, init + " " + disc));
    }
}

// ---- initialization (cards §2.2.7-§2.2.9) -------------------------------------------------------

TEST(LtiInit, DlrOmegaPutsLambdaOnRootsOfUnityInsideTheDtRing) {
  torch::manual_seed(11);
  DLROptions o;
  o.d_model = 64;
  o.state_size = 64;
  DLRImpl m(o);
  const int64_t N = 64;
  auto p = m.Lambda_log_neg_re.to(torch::kFloat64), b = m.Lambda_im.to(torch::kFloat64);
  // arg λ_m = 2πm/N; |λ_m| = exp(−p²) = exp(−dt_m/2), dt ∈ [1e-4, 1e-1] log-uniform.
  EXPECT_TRUE(seqlab::testing::close(b, 2 * M_PI * torch::arange(N, torch::kFloat64) / N, 1e-6,
                                     1e-6, "Im Λ"));
  auto dt = 2 * p * p;
  EXPECT_GE(dt.min().item<double>(), 1e-4 * (1 - 1e-5));
  EXPECT_LE(dt.max().item<double>(), 1e-1 * (1 + 1e-5));
  EXPECT_NEAR(torch::log(dt).mean().item<double>(), 0.5 * (std::log(1e-4) + std::log(1e-1)),
              1.0);  // mean of 64 log-uniform draws: sd 0.25
  // W = randn/N, D ~ N(0, 1).
  EXPECT_NEAR(m.W.std().item<double>() * N, 1.0, 0.05);
  EXPECT_NEAR(m.W.mean().item<double>() * N, 0.0, 0.05);
  EXPECT_EQ(m.W.sizes(), (std::vector<int64_t>{1, 64, 64, 2}));
  EXPECT_EQ(m.D.sizes(), (std::vector<int64_t>{1, 64}));
  // §4.2 worked values: |λ| ∈ [0.951, 0.99995], horizons 1/(1 − |λ|) ∈ [20.5, 2·10⁴].
  auto d = core::diagnose(m.transitions(torch::zeros({1, 2, 64})));
  EXPECT_GE(d.memory_horizon.min, 20.0);
  EXPECT_LE(d.memory_horizon.max, 2.0e4 + 1.0);
  EXPECT_GE(d.spectral_radius.max, 0.951);
  EXPECT_LE(d.spectral_radius.max, 0.99995 + 1e-9);
}

TEST(LtiInit, DlrRandnAndVersions) {
  torch::manual_seed(12);
  auto o = dlr("Lambda_imag_W_real");
  o.Lambda_init = "randn";
  o.state_size = 200;
  DLRImpl m(o);
  EXPECT_FALSE(m.Lambda_log_neg_re.defined());  // Λ = i b, |λ| = 1
  EXPECT_EQ(m.W.dim(), 3);                      // real W
  EXPECT_GE(m.Lambda_im.min().item<double>(), 0.0);
  EXPECT_LT(m.Lambda_im.max().item<double>(), 2 * M_PI);
  auto names = m.dynamics_parameters();
  EXPECT_EQ(names, (std::vector<std::string>{"Lambda_im", "W"}));
  DLRImpl r(dlr("Lambda_real_W_real"));
  EXPECT_FALSE(r.Lambda_im.defined());
}

// Lambda_init = product_grid: with N = 14 (P = Q = 7, grid length 49) the prod kernel
// Re k · Im k is exactly δ_s for every s < 49, with W a Dirichlet bump in Re k (fine modes)
// and a comb of period Q in Im k (coarse modes), each scaled by (PQ)^{-1/2}.
TEST(LtiInit, DlrProductGridRepresentsEveryDelta) {
  const int64_t N = 14;
  auto g = product_grid(N);
  EXPECT_EQ(g.fine, 7);
  EXPECT_EQ(g.coarse, 7);
  EXPECT_EQ(g.length, 49);
  EXPECT_EQ(product_grid(514).length, 257 * 257);     // ≥ 65,536
  EXPECT_EQ(product_grid(2050).length, 1025 * 1025);  // ≥ 1,048,576
  auto o = dlr("Lambda_imag", core::KernelToReal::kProd);
  o.state_size = N;
  o.d_model = 1;
  o.Lambda_init = "product_grid";
  DLRImpl m(o);
  const int64_t F = (g.fine - 1) / 2;
  const double scale = 1.0 / std::sqrt(static_cast<double>(g.length));
  for (int64_t s : {0, 1, 6, 7, 20, 48}) {
    auto w = torch::zeros({1, 1, N, 2});
    for (int64_t a = -F; a <= F; ++a) {  // W_a = e^{−2πi a s/(PQ)}: Re k = bump at s
      const double phase = -2 * M_PI * static_cast<double>(a * s) / static_cast<double>(g.length);
      w[0][0][a + F][0] = scale * std::cos(phase);
      w[0][0][a + F][1] = scale * std::sin(phase);
    }
    for (int64_t b = 0; b < g.coarse; ++b) {  // W_b = i e^{−2πi b s/Q}: Im k = comb through s
      const double phase = -2 * M_PI * static_cast<double>(b * s) / static_cast<double>(g.coarse);
      w[0][0][g.fine + b][0] = -scale * std::sin(phase);
      w[0][0][g.fine + b][1] = scale * std::cos(phase);
    }
    torch::NoGradGuard no_grad;
    m.W.copy_(w);
    auto k = m.kernel(g.length).reshape({-1}).to(torch::kFloat64);
    auto delta = torch::zeros({g.length}, torch::kFloat64);
    delta[s] = 1.0;
    EXPECT_TRUE(seqlab::testing::close(k, delta, 1e-5, 1e-5, "product_grid delta")) << "s = " << s;
  }
  o.state_size = 1;
  EXPECT_THROW(DLRImpl{o}, UserError);
}

TEST(LtiInit, S4dInitsAndDss) {
  torch::manual_seed(13);
  S4DOptions o;
  o.d_model = 128;
  o.state_size = 8;
  for (std::string init : {"lin", "inv", "real"}) {
    o.init = init;
    S4DImpl m(o);
    auto re = -torch::exp(m.Lambda_log_neg_re.to(torch::kFloat64)).select(0, 3);
    auto mm = torch::arange(init == "real" ? 8 : 4, torch::kFloat64);
    if (init == "real") {
      EXPECT_TRUE(seqlab::testing::close(re, -(mm + 1), 1e-6, 1e-6, "S4D-Real"));
      EXPECT_FALSE(m.Lambda_im.defined());
      EXPECT_EQ(m.C.dim(), 3);
      EXPECT_NEAR(m.C.std().item<double>(), 1.0, 0.1);
    } else {
      EXPECT_TRUE(
          seqlab::testing::close(re, torch::full({4}, -0.5, torch::kFloat64), 1e-6, 1e-6, "Re A"));
      auto im = m.Lambda_im.to(torch::kFloat64).select(0, 3);
      auto expect = init == "lin" ? M_PI * mm : (8.0 / M_PI) * (8.0 / (2 * mm + 1) - 1);
      EXPECT_TRUE(seqlab::testing::close(im, expect, 1e-6, 1e-5, "Im A " + init));
      // C complex normal, unit total variance: E|C|² = 1.
      EXPECT_NEAR(m.C.pow(2).sum(-1).mean().item<double>(), 1.0, 0.15);
    }
    auto dt = torch::exp(m.log_dt.to(torch::kFloat64));
    EXPECT_GE(dt.min().item<double>(), 1e-3 * (1 - 1e-5));
    EXPECT_LE(dt.max().item<double>(), 1e-1 * (1 + 1e-5));
    EXPECT_TRUE(m.layer_options().glu);  // GELU → Linear(d → 2d) → GLU (§2.2.7)
  }
  o.init = "lin";
  o.state_size = 5;
  EXPECT_THROW(S4DImpl{o}, UserError);  // N/2 complex modes need an even N
  DSSOptions so;
  so.d_model = 16;
  so.state_size = 8;
  DSSImpl dss(so);
  EXPECT_TRUE(seqlab::testing::close(torch::exp(dss.Lambda_log_neg_re), torch::full({8}, 0.5), 1e-6,
                                     1e-7, "DSS Re Λ"));
  EXPECT_TRUE(seqlab::testing::close(dss.Lambda_im, M_PI * torch::arange(8, torch::kFloat32), 1e-6,
                                     1e-6, "DSS Im Λ"));
  EXPECT_NEAR(dss.W.std().item<double>(), 1.0, 0.1);
}

TEST(LtiInit, LruModulusPhaseAndNormalization) {
  torch::manual_seed(14);
  LRUOptions o;
  o.d_model = 32;
  o.state_size = 2000;
  o.r_min = 0.4;
  o.r_max = 0.9;
  o.max_phase = M_PI / 10;
  LRUImpl m(o);
  auto lam = m.lambda().to(torch::kFloat64);
  auto mod2 = lam.pow(2).sum(-1);
  // |λ|² ~ U[r_min², r_max²]: range and mean.
  EXPECT_GE(mod2.min().item<double>(), 0.16 - 1e-6);
  EXPECT_LE(mod2.max().item<double>(), 0.81 + 1e-6);
  EXPECT_NEAR(mod2.mean().item<double>(), 0.5 * (0.16 + 0.81), 0.02);
  auto phase = torch::exp(m.theta_log.to(torch::kFloat64));
  EXPECT_GE(phase.min().item<double>(), 0.0);
  EXPECT_LE(phase.max().item<double>(), M_PI / 10 + 1e-6);
  // γ = sqrt(1 − |λ|²).
  EXPECT_TRUE(seqlab::testing::close(torch::exp(m.gamma_log.to(torch::kFloat64)),
                                     torch::sqrt(1 - mod2), 1e-5, 1e-6, "γ"));
  EXPECT_NEAR(m.B_re.std().item<double>(), 1.0 / std::sqrt(64.0), 0.01);
  EXPECT_NEAR(m.C_im.std().item<double>(), 1.0 / std::sqrt(2000.0), 0.002);
  EXPECT_EQ(m.state_size(3), 4000);
  o.r_min = 0.95;
  EXPECT_THROW(LRUImpl{o}, UserError);  // r_min > r_max
}

TEST(LtiOptions, BadOptionsAreUserErrors) {
  auto o = dlr("Lambda_complex");
  EXPECT_THROW(DLRImpl{o}, UserError);
  o = dlr();
  o.Lambda_init = "hippo";
  EXPECT_THROW(DLRImpl{o}, UserError);
  o = dlr();
  o.path = core::ScanPath::kChunked;
  EXPECT_THROW(DLRImpl{o}, UserError);
  S4DOptions s;
  s.discretization = "euler";
  EXPECT_THROW(S4DImpl{s}, UserError);
  ZooOptions z;
  z.path = core::ScanPath::kChunked;
  EXPECT_THROW(make_mixer("lru", z), UserError);
}

// The zoo's dt_min / dt_max (config keys model.dt_min, model.dt_max) replace each family's
// default when > 0 (detail::apply_dt_overrides): log_dt (S4D, DSS) and DLR's sqrt(0.5 dt) sit at
// the single overridden value; unset, each family samples its own default range.
TEST(LtiMixers, ZooDtOverridesReplaceTheFamilyDefaults) {
  ZooOptions o;
  o.d_model = 3;
  o.state_size = 4;
  o.dt_min = o.dt_max = 0.02;
  for (const auto& make : {make_s4d, make_dss}) {
    auto m = make(o);
    const auto log_dt = m->named_parameters()["log_dt"];
    EXPECT_TRUE(torch::allclose(log_dt, torch::full_like(log_dt, std::log(0.02)), 1e-6, 1e-6))
        << log_dt;
  }
  const auto p = make_dlr(o)->named_parameters()["Lambda_log_neg_re"];
  EXPECT_TRUE(torch::allclose(p, torch::full_like(p, 0.1), 1e-6, 1e-6)) << p;  // sqrt(0.5 * 0.02)

  o.dt_min = o.dt_max = 0.0;  // unset: S4D / DSS dt in [1e-3, 1e-1], DLR dt in [1e-4, 1e-1]
  for (const auto& make : {make_s4d, make_dss}) {
    const auto dt = make(o)->named_parameters()["log_dt"].exp();
    EXPECT_GE(dt.min().item<double>(), 1e-3 * (1 - 1e-6));
    EXPECT_LE(dt.max().item<double>(), 1e-1 * (1 + 1e-6));
  }
  const auto dt = 2 * make_dlr(o)->named_parameters()["Lambda_log_neg_re"].square();
  EXPECT_GE(dt.min().item<double>(), 1e-4 * (1 - 1e-5));
  EXPECT_LE(dt.max().item<double>(), 1e-1 * (1 + 1e-5));
}

}  // namespace lti_mixers_test
}  // namespace seqlab::mixers
