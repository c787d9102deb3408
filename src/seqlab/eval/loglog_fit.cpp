#include "seqlab/eval/loglog_fit.h"

#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <limits>
#include <set>

#include "seqlab/util/error.h"

namespace seqlab::eval {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

double t_quantile_975(double dof) {
  if (!(dof > 0)) throw UserError("t quantile: degrees of freedom must be > 0");
  return boost::math::quantile(boost::math::students_t_distribution<double>(dof), 0.975);
}

SlopeFit fit_loglog(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw UserError("log-log fit: x and y differ in length");
  std::vector<double> lx, ly;
  std::set<double> distinct;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] > 0 && y[i] > 0 && std::isfinite(x[i]) && std::isfinite(y[i])) {
      lx.push_back(std::log(x[i]));
      ly.push_back(std::log(y[i]));
      distinct.insert(x[i]);
    }
  const auto n = static_cast<int64_t>(lx.size());
  if (n < 2 || distinct.size() < 2)
    throw UserError("log-log fit needs at least 2 points at 2 distinct x (got " +
                    std::to_string(n) + " points at " + std::to_string(distinct.size()) +
                    " distinct x)");
  double mx = 0, my = 0;
  for (int64_t i = 0; i < n; ++i) mx += lx[i], my += ly[i];
  mx /= double(n);
  my /= double(n);
  double sxx = 0, sxy = 0;
  for (int64_t i = 0; i < n; ++i) {
    sxx += (lx[i] - mx) * (lx[i] - mx);
    sxy += (lx[i] - mx) * (ly[i] - my);
  }
  SlopeFit f;
  f.points = n;
  f.slope = sxy / sxx;
  f.intercept = my - f.slope * mx;
  f.stderr_slope = f.ci_low = f.ci_high = kNaN;
  if (n >= 3) {
    double rss = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double r = ly[i] - (f.intercept + f.slope * lx[i]);
      rss += r * r;
    }
    f.dof = double(n - 2);
    f.stderr_slope = std::sqrt(rss / f.dof / sxx);
    const double t = t_quantile_975(f.dof);
    f.ci_low = f.slope - t * f.stderr_slope;
    f.ci_high = f.slope + t * f.stderr_slope;
  }
  return f;
}

SlopeDifference slope_difference(const SlopeFit& a, const SlopeFit& b) {
  SlopeDifference d;
  d.delta = a.slope - b.slope;
  d.stderr_delta = d.ci_low = d.ci_high = kNaN;
  if (!std::isfinite(a.stderr_slope) || !std::isfinite(b.stderr_slope)) return d;
  const double va = a.stderr_slope * a.stderr_slope, vb = b.stderr_slope * b.stderr_slope;
  d.stderr_delta = std::sqrt(va + vb);
  if (d.stderr_delta == 0) {
    d.ci_low = d.ci_high = d.delta;
    return d;
  }
  d.dof = (va + vb) * (va + vb) / (va * va / a.dof + vb * vb / b.dof);
  const double t = t_quantile_975(d.dof);
  d.ci_low = d.delta - t * d.stderr_delta;
  d.ci_high = d.delta + t * d.stderr_delta;
  return d;
}

}  // namespace seqlab::eval
