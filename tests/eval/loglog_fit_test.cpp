// Power-law fits (src/seqlab/eval/loglog_fit.h): exact slopes, Student-t intervals against
// tabulated quantiles and a closed-form case, slope differences, and bad input.
#include "seqlab/eval/loglog_fit.h"

#include <gtest/gtest.h>

#include <cmath>

#include "seqlab/util/error.h"
#include "seqlab/util/rng.h"

namespace loglog_fit_test {

using seqlab::eval::fit_loglog;

TEST(LoglogFit, ExactPowerLawHasItsSlopeAndAZeroWidthInterval) {
  const std::vector<double> x = {2, 4, 8, 16};
  std::vector<double> y;
  for (double v : x) y.push_back(3.0 * std::pow(v, -0.5));
  const auto f = fit_loglog(x, y);
  EXPECT_EQ(f.points, 4);
  EXPECT_NEAR(f.slope, -0.5, 1e-12);
  EXPECT_NEAR(f.intercept, std::log(3.0), 1e-12);
  EXPECT_NEAR(f.ci_high - f.ci_low, 0.0, 1e-9);
}

TEST(LoglogFit, StudentQuantilesMatchTables) {
  // t_{0.975} for 1, 2, 10 and 30 degrees of freedom (standard tables).
  EXPECT_NEAR(seqlab::eval::t_quantile_975(1), 12.7062, 1e-4);
  EXPECT_NEAR(seqlab::eval::t_quantile_975(2), 4.3027, 1e-4);
  EXPECT_NEAR(seqlab::eval::t_quantile_975(10), 2.2281, 1e-4);
  EXPECT_NEAR(seqlab::eval::t_quantile_975(30), 2.0423, 1e-4);
}

TEST(LoglogFit, IntervalByHandForThreePoints) {
  // log x = 0, 1, 2 (x = e^k); log y = 0, 1, 3: slope 1.5, residuals (1/6, -1/3, 1/6),
  // RSS 1/6, sxx 2, se = sqrt(RSS / 1 / 2) = sqrt(1/12), interval 1.5 ± t_{1} se.
  const std::vector<double> x = {1, std::exp(1.0), std::exp(2.0)};
  const std::vector<double> y = {1, std::exp(1.0), std::exp(3.0)};
  const auto f = fit_loglog(x, y);
  EXPECT_NEAR(f.slope, 1.5, 1e-12);
  EXPECT_NEAR(f.stderr_slope, std::sqrt(1.0 / 12.0), 1e-12);
  EXPECT_NEAR(f.ci_low, 1.5 - 12.7062047 * std::sqrt(1.0 / 12.0), 1e-6);
  EXPECT_EQ(f.dof, 1);
}

TEST(LoglogFit, IntervalCoversTheTrueSlopeAboutNinetyFivePercentOfTheTime) {
  seqlab::Rng rng(5);
  int covered = 0;
  const int trials = 400;
  for (int t = 0; t < trials; ++t) {
    std::vector<double> x, y;
    for (int k = 1; k <= 8; ++k) {
      x.push_back(k);
      y.push_back(std::pow(k, 0.7) * std::exp(0.2 * rng.normal()));
    }
    const auto f = fit_loglog(x, y);
    covered += f.ci_low <= 0.7 && 0.7 <= f.ci_high;
  }
  EXPECT_NEAR(covered / double(trials), 0.95, 0.04);
}

TEST(LoglogFit, DifferenceOfSlopes) {
  seqlab::eval::SlopeFit a, b;
  a.slope = 1.0, a.stderr_slope = 0.3, a.dof = 4;
  b.slope = 0.5, b.stderr_slope = 0.4, b.dof = 4;
  const auto d = seqlab::eval::slope_difference(a, b);
  EXPECT_DOUBLE_EQ(d.delta, 0.5);
  EXPECT_NEAR(d.stderr_delta, 0.5, 1e-12);
  // Welch–Satterthwaite: (0.09 + 0.16)^2 / (0.09^2/4 + 0.16^2/4) = 7.42...
  EXPECT_NEAR(d.dof, 0.0625 / ((0.0081 + 0.0256) / 4), 1e-9);
  EXPECT_LT(d.ci_low, 0.0);
  EXPECT_GT(d.ci_high, 1.0);
}

TEST(LoglogFit, BadInputIsAnError) {
  EXPECT_THROW(fit_loglog({1, 2}, {1}), seqlab::UserError);
  EXPECT_THROW(fit_loglog({2, 2, 2}, {1, 2, 3}), seqlab::UserError);  // one distinct x
  EXPECT_THROW(fit_loglog({1, 2}, {1, -1}), seqlab::UserError);       // one usable point
  const auto f = fit_loglog({1, 2}, {1, 2});                          // two points: no interval
  EXPECT_TRUE(std::isnan(f.ci_low));
}

}  // namespace loglog_fit_test
