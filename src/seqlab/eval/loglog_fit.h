// Power-law fits for the sample-size protocols (spec/tasks.md §4.2 item 5, §5.3 item 2;
// protocols.md §1.3, §3.4): ordinary least squares of log y on log x, the slope's standard error
// and a two-sided 95 % confidence interval from Student's t with n − 2 degrees of freedom
// (Boost.Math), and the difference of two independent slopes with its interval (Welch–
// Satterthwaite degrees of freedom).
#pragma once
#include <cstdint>
#include <vector>

namespace seqlab::eval {

struct SlopeFit {
  int64_t points = 0;               // (x, y) pairs used (both > 0)
  double slope = 0, intercept = 0;  // log y = slope · log x + intercept (natural logs)
  double stderr_slope = 0;          // NaN with fewer than 3 points or one distinct x
  double ci_low = 0, ci_high = 0;   // 95 % interval of the slope (NaN as above)
  double dof = 0;                   // degrees of freedom of the interval
};

// Fits log y = a log x + b over the pairs with x > 0 and y > 0 (the rest are skipped). Throws
// seqlab::UserError with fewer than 2 usable points or a single distinct x.
SlopeFit fit_loglog(const std::vector<double>& x, const std::vector<double>& y);

// a.slope − b.slope with its 95 % interval (NaN where either standard error is).
struct SlopeDifference {
  double delta = 0, stderr_delta = 0, ci_low = 0, ci_high = 0, dof = 0;
};
SlopeDifference slope_difference(const SlopeFit& a, const SlopeFit& b);

// The two-sided 95 % Student-t quantile t_{0.975, dof} (dof > 0).
double t_quantile_975(double dof);

}  // namespace seqlab::eval
