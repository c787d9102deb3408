// Shared test helpers: the comparison metric and finite-difference gradient check of the
// equivalence contract (spec/mixers.md §6.2 and §6.4).
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace seqlab::testing {

// err_abs = max|x - ref|; err_rel = RMS(x - ref) / max(RMS(ref), 1e-30). Passes if
// err_abs <= atol or err_rel <= rtol. NaN/Inf anywhere is a hard failure (§6.2).
inline ::testing::AssertionResult close(const torch::Tensor& x, const torch::Tensor& ref,
                                        double rtol, double atol, const std::string& what = "") {
  if (!x.defined() || !ref.defined())
    return ::testing::AssertionFailure() << what << ": undefined tensor";
  if (x.sizes() != ref.sizes())
    return ::testing::AssertionFailure()
           << what << ": shape " << x.sizes() << " vs reference " << ref.sizes();
  auto a = x.detach().to(torch::kFloat64);
  auto b = ref.detach().to(torch::kFloat64);
  if (!torch::isfinite(a).all().item<bool>())
    return ::testing::AssertionFailure() << what << ": non-finite values in result";
  if (!torch::isfinite(b).all().item<bool>())
    return ::testing::AssertionFailure() << what << ": non-finite values in reference";
  if (a.numel() == 0) return ::testing::AssertionSuccess();
  const double err_abs = (a - b).abs().max().item<double>();
  const double rms_diff = (a - b).pow(2).mean().sqrt().item<double>();
  const double rms_ref = b.pow(2).mean().sqrt().item<double>();
  const double err_rel = rms_diff / std::max(rms_ref, 1e-30);
  if (err_abs <= atol || err_rel <= rtol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": err_abs " << err_abs << " > atol " << atol
                                       << " and err_rel " << err_rel << " > rtol " << rtol;
}

// Central-difference check of d loss / d param for every tensor in `params` (float64, requires
// grad), against the gradients autograd (and so any hand-written backward) produces.
// Tensors with <= 64 elements are checked element-wise; larger ones along 8 random unit
// directions. h = 1e-6 * max(1, |theta|); pass if |fd - an| <= tol * max(1, |an|) (§6.4).
inline ::testing::AssertionResult gradcheck(const std::function<torch::Tensor()>& loss_fn,
                                            const std::vector<torch::Tensor>& params,
                                            const std::vector<std::string>& names,
                                            double tol = 1e-6, uint64_t seed = 0) {
  for (auto& p : params) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
  auto loss = loss_fn();
  loss.backward();
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (size_t pi = 0; pi < params.size(); ++pi) {
    auto p = params[pi];
    const std::string name = pi < names.size() ? names[pi] : std::to_string(pi);
    if (!p.grad().defined())
      return ::testing::AssertionFailure() << name << ": no gradient reached this tensor";
    auto grad = p.grad().clone();
    auto flat = p.view({-1});
    auto gflat = grad.view({-1});
    if (p.numel() <= 64) {
      for (int64_t e = 0; e < p.numel(); ++e) {
        const double theta = flat[e].item<double>();
        const double h = 1e-6 * std::max(1.0, std::abs(theta));
        flat[e] = theta + h;
        const double lp = loss_fn().item<double>();
        flat[e] = theta - h;
        const double lm = loss_fn().item<double>();
        flat[e] = theta;
        const double fd = (lp - lm) / (2 * h);
        const double an = gflat[e].item<double>();
        if (std::abs(fd - an) > tol * std::max(1.0, std::abs(an)))
          return ::testing::AssertionFailure()
                 << name << "[" << e << "]: finite difference " << fd << " vs analytic " << an;
      }
    } else {
      const double scale = std::max(1.0, p.abs().max().item<double>());
      const double h = 1e-6 * scale;
      for (int d = 0; d < 8; ++d) {
        auto dir = torch::randn(p.sizes(), gen, p.options());
        dir /= dir.norm();
        p.add_(dir, h);
        const double lp = loss_fn().item<double>();
        p.add_(dir, -2 * h);
        const double lm = loss_fn().item<double>();
        p.add_(dir, h);
        const double fd = (lp - lm) / (2 * h);
        const double an = (grad * dir).sum().item<double>();
        if (std::abs(fd - an) > tol * std::max(1.0, std::abs(an)))
          return ::testing::AssertionFailure()
                 << name << " direction " << d << ": finite difference " << fd << " vs analytic "
                 << an;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// Element-wise |got[i] - want[i]| <= tol, with the sizes equal; `what` names the check.
inline void expect_near_all(const std::vector<double>& got, const std::vector<double>& want,
                            double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol) << what << " [" << i << "]";
}

// The §6.4 test loss: L = sum(W1 * y) + 0.5 * sum(W2 * y^2) with fixed random W's.
inline torch::Tensor contract_loss(const torch::Tensor& y, const torch::Tensor& w1,
                                   const torch::Tensor& w2) {
  return (w1 * y).sum() + 0.5 * (w2 * y * y).sum();
}

}  // namespace seqlab::testing
