// Stability diagnostics (spec/mixers.md §4.1-§4.2) on transitions with known answers: constant
// scalar gates, the delta rule's eigenvalues, a non-normal dense matrix (transient growth with
// ρ < 1), an expansive rotation, unit-modulus complex eigenvalues; and coefficient statistics.
#include "seqlab/core/diagnostics.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace seqlab::core {
namespace {

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

}  // namespace
}  // namespace seqlab::core
