// Stability diagnostics (spec/mixers.md §4.1-§4.2) on transitions with known answers: constant
// scalar gates, the delta rule's eigenvalues, a non-normal dense matrix (transient growth with
// ρ < 1), an expansive rotation, unit-modulus complex eigenvalues; coefficient statistics; and the
// normalizer minima and DSF eigenvalue Λ_i = η_{i−1}/η_i (§4.2) on normalizers with closed forms.
#include "seqlab/core/diagnostics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

namespace seqlab::core {
namespace diagnostics_test {

TEST(Diagnostics, ConstantScalarGateHasHorizonOneOverOneMinusA) {
  Transition tr;
  tr.kind = TransitionKind::kScalar;
  tr.log_gate = torch::full({2, 3, 5, 1}, std::log(0.9), torch::kFloat64);
  auto d = diagnose(tr);
  EXPECT_EQ(d.steps, 30);
  EXPECT_NEAR(d.spectral_radius.max, 0.9, 1e-12);
  EXPECT_NEAR(d.norm2.min, 0.9, 1e-12);
  EXPECT_NEAR(d.memory_horizon.median, 10.0, 1e-9);
  EXPECT_EQ(d.expansive_steps, 0);
  EXPECT_EQ(d.nonnormal_transient_steps, 0);
  EXPECT_EQ(d.infinite_horizon_fraction, 0.0);
}

TEST(Diagnostics, DiagonalGatesReportSaturation) {
  Transition tr;
  tr.kind = TransitionKind::kDiagonal;
  tr.log_gate = torch::tensor({-1e-7, -30.0, std::log(0.5), std::log(0.5)}, torch::kFloat64)
                    .view({1, 1, 1, 4});
  auto d = diagnose(tr);
  EXPECT_DOUBLE_EQ(d.saturated_high_fraction, 0.25);
  EXPECT_DOUBLE_EQ(d.saturated_low_fraction, 0.25);
  EXPECT_NEAR(d.spectral_radius.max, std::exp(-1e-7), 1e-15);
}

TEST(Diagnostics, DeltaRuleEigenvaluesAreAlphaAndAlphaTimesOneMinusBeta) {
  Transition tr;
  tr.kind = TransitionKind::kDeltaRule;
  auto k = torch::zeros({1, 1, 2, 4}, torch::kFloat64);
  k.index_put_({0, 0, 0, 0}, 1.0);
  k.index_put_({0, 0, 1, 1}, 1.0);
  tr.keys = k;
  tr.beta = torch::tensor({1.5, 1.999}, torch::kFloat64).view({1, 1, 2});
  tr.log_alpha = torch::full({1, 1, 2}, std::log(0.8), torch::kFloat64);
  auto d = diagnose(tr);
  EXPECT_NEAR(d.spectral_radius.max, 0.8, 1e-12);  // α dominates |α(1 − β)| ≤ 0.8
  EXPECT_NEAR(d.memory_horizon.min, 1.0 / (1.0 - 0.4), 1e-9);  // |0.8 · (1 − 1.5)| = 0.4
  EXPECT_EQ(d.expansive_steps, 0);
}

TEST(Diagnostics, NonNormalDenseMatrixIsFlaggedAsTransient) {
  Transition tr;
  tr.kind = TransitionKind::kDense;
  tr.dense = torch::tensor({0.5, 2.0, 0.0, 0.5}, torch::kFloat64).view({1, 1, 2, 2});
  auto d = diagnose(tr);
  EXPECT_NEAR(d.spectral_radius.max, 0.5, 1e-12);
  EXPECT_GT(d.norm2.max, 1.0);
  EXPECT_EQ(d.nonnormal_transient_steps, 1);
  EXPECT_EQ(d.expansive_steps, 0);
}

TEST(Diagnostics, ExpansiveRotationIsFlagged) {
  Transition tr;
  tr.kind = TransitionKind::kDense;
  const double c = 1.1 * std::cos(0.3), s = 1.1 * std::sin(0.3);
  tr.dense = torch::tensor({c, -s, s, c}, torch::kFloat64).view({1, 1, 2, 2});
  auto d = diagnose(tr);
  EXPECT_NEAR(d.spectral_radius.max, 1.1, 1e-12);
  EXPECT_EQ(d.expansive_steps, 1);
  EXPECT_EQ(d.nonnormal_transient_steps, 0);
  EXPECT_DOUBLE_EQ(d.infinite_horizon_fraction, 1.0);
}

TEST(Diagnostics, UnitModulusComplexEigenvaluesHaveInfiniteHorizon) {
  Transition tr;
  tr.kind = TransitionKind::kComplexDiagonal;
  auto th = torch::rand({2, 3, 4}, torch::kFloat64) * 6.28;
  tr.lambda = torch::stack({torch::cos(th), torch::sin(th)}, -1);
  auto d = diagnose(tr);
  EXPECT_NEAR(d.spectral_radius.max, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(d.infinite_horizon_fraction, 1.0);
  EXPECT_EQ(d.expansive_steps, 0);
}

TEST(Diagnostics, Float32UnitModulusIsInfiniteButNearUnitIsFinite) {
  // float32 rounds |e^{iθ}| to 1 ± 6e-8: still an infinite horizon, not 1/(1 − |λ|) ≈ 1.7e7.
  Transition tr;
  tr.kind = TransitionKind::kComplexDiagonal;
  auto th = torch::rand({2, 3, 64}) * 6.28;
  tr.lambda = torch::stack({torch::cos(th), torch::sin(th)}, -1);
  EXPECT_DOUBLE_EQ(diagnose(tr).infinite_horizon_fraction, 1.0);
  // |λ| = 0.9999 in float32 is a finite horizon of 10^4 steps.
  tr.lambda = tr.lambda * 0.9999f;
  auto d = diagnose(tr);
  EXPECT_DOUBLE_EQ(d.infinite_horizon_fraction, 0.0);
  EXPECT_NEAR(d.memory_horizon.median, 1e4, 10.0);
}

TEST(Diagnostics, CoefficientStatsOfAveragingAndIdentityMaps) {
  const int64_t T = 6;
  auto avg = torch::ones({T, T}, torch::kFloat64).tril();
  avg = (avg / avg.sum(-1, true)).view({1, 1, T, T});
  auto s = coefficient_stats(avg);
  EXPECT_NEAR(s.mass.min, 1.0, 1e-12);
  EXPECT_NEAR(s.mass.max, 1.0, 1e-12);
  EXPECT_NEAR(s.effective_sources.max, double(T), 1e-9);  // uniform over T sources
  EXPECT_NEAR(s.variance_gain.min, 1.0 / T, 1e-12);
  auto id = torch::eye(T, torch::kFloat64).view({1, 1, T, T});
  auto si = coefficient_stats(id);
  EXPECT_NEAR(si.variance_gain.median, 1.0, 1e-12);
  EXPECT_NEAR(si.effective_sources.median, 1.0, 1e-12);
  EXPECT_EQ(si.variance_gain_flags, 0);
}

// Softmax-like LSE: log η_i = 800 + log(2i − 1) (1-based i), where η itself overflows to inf, so
// Λ_i = (2i − 3)/(2i − 1) must come from the logs: 1/3, 3/5, ..., 21/23 for T = 12, i.e. one
// value ≤ 0.5, eight in (0.5, 0.9] (up to 17/19), two in (0.9, 0.99] (19/21, 21/23).
TEST(NormalizerDiagnostics, EigenvalueFromLogNormalizersWithoutOverflow) {
  const int64_t T = 12;
  Normalizer n;
  n.log_eta = (800.0 + (2.0 * torch::arange(1, T + 1, torch::kFloat64) - 1).log()).view({1, 1, T});
  n.eta = n.log_eta.exp();
  ASSERT_TRUE(torch::isinf(n.eta).all().item<bool>());
  const auto s = normalizer_stats(n);
  EXPECT_EQ(s.rows, T);
  EXPECT_EQ(s.eigen_steps, T - 1);
  EXPECT_NEAR(s.dsf_eigenvalue.min, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.dsf_eigenvalue.max, 21.0 / 23.0, 1e-12);
  EXPECT_EQ(s.eigen_bins, (std::vector<int64_t>{1, 8, 2, 0, 0, 0}));
  EXPECT_EQ(s.eigen_above_one, 0);
  EXPECT_FALSE(s.tiny);
  EXPECT_TRUE(std::isinf(s.eta.min));  // the overflowing η is reported, not dropped
}

TEST(NormalizerDiagnostics, BinsMinimaFlagsAndClamp) {
  // η over one row: 1, 2, 0.5, 0.5, 0.498, 1e-7 -> Λ = 0.5, 4, 1, 1.004016..., 4.98e6.
  Normalizer n;
  n.eta = torch::tensor({1.0, 2.0, 0.5, 0.5, 0.498, 1e-7}, torch::kFloat64).view({1, 1, 6});
  n.clamp_active = torch::tensor({true, false, false, true, false, false}).view({1, 1, 6});
  const auto s = normalizer_stats(n, /*tau_eta=*/0.6);
  EXPECT_EQ(s.eigen_steps, 5);
  EXPECT_EQ(s.eigen_bins, (std::vector<int64_t>{1, 0, 0, 1, 1, 2}));
  EXPECT_EQ(s.eigen_above_one, 3);
  EXPECT_DOUBLE_EQ(s.dsf_eigenvalue.min, 0.5);
  EXPECT_NEAR(s.dsf_eigenvalue.median, 0.5 / 0.498, 1e-12);
  EXPECT_NEAR(s.dsf_eigenvalue.max, 0.498 / 1e-7, 1e-3);
  EXPECT_DOUBLE_EQ(s.eta.min, 1e-7);
  EXPECT_TRUE(s.tiny);                            // min η < 1e-6
  EXPECT_DOUBLE_EQ(s.small_fraction, 4.0 / 6.0);  // 0.5, 0.5, 0.498, 1e-7 < 0.6
  EXPECT_TRUE(s.has_clamp);
  EXPECT_DOUBLE_EQ(s.clamp_active_fraction, 2.0 / 6.0);
  // Default τ_η = 1e-3: only 1e-7 is small.
  EXPECT_DOUBLE_EQ(normalizer_stats(n).small_fraction, 1.0 / 6.0);
  // One step: minima only, no eigenvalue.
  Normalizer one;
  one.eta = torch::full({2, 3, 1}, 2.0, torch::kFloat64);
  const auto s1 = normalizer_stats(one);
  EXPECT_EQ(s1.rows, 6);
  EXPECT_EQ(s1.eigen_steps, 0);
  EXPECT_FALSE(s1.has_clamp);
}

TEST(LogitScale, StdOfCausalEntriesAndThePrediction) {
  // Causal logits {1, −1, 1} (the j > i entry −inf is skipped): mean 1/3, variance 8/9.
  auto logits =
      torch::tensor({1.0, -std::numeric_limits<double>::infinity(), -1.0, 1.0}, torch::kFloat64)
          .view({1, 1, 2, 2});
  // q entries ±1 (variance 1), k = 2q (variance 4), n = 2, b = 1/2: b sqrt(n·1·4) = sqrt(2).
  auto q = torch::tensor({1.0, -1.0, -1.0, 1.0}, torch::kFloat64).view({1, 1, 2, 2});
  const auto s = logit_scale(logits, q, 2 * q, 0.5);
  EXPECT_EQ(s.entries, 3);
  EXPECT_NEAR(s.std, std::sqrt(8.0 / 9.0), 1e-15);
  EXPECT_NEAR(s.predicted_std, std::sqrt(2.0), 1e-15);
}

}  // namespace diagnostics_test
}  // namespace seqlab::core
