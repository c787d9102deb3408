// Helpers for per-mixer contract tests (spec/mixers.md §6.1-§6.4): the §6.2 tolerances by
// comparison and dtype, the explicit and stepped paths of a Mixer, and one path's output with the
// gradients of every parameter and the input under the §6.4 loss.
#pragma once
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

#include "seqlab/mixers/mixer.h"
#include "testing.h"

namespace seqlab::testing::contract {

using seqlab::mixers::Mixer;
using torch::Tensor;

struct Tol {
  double rtol, atol;
};
// §6.2 tolerances.
inline Tol r_vs_e(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-12, 1e-13} : Tol{1e-5, 1e-6};
}
inline Tol f_vs_e(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-11, 1e-12} : Tol{1e-4, 1e-5};
}
inline Tol bwd(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-10, 1e-11} : Tol{1e-3, 1e-5};
}
inline Tol step_vs_r(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-13, 1e-14} : Tol{1e-6, 1e-7};
}

inline ::testing::AssertionResult close(const Tensor& x, const Tensor& ref, Tol tol,
                                        const std::string& what) {
  return seqlab::testing::close(x, ref, tol.rtol, tol.atol, what);
}

// The explicit path of §6.1: from_core(u, coefficients(u) @ values(u)).
inline Tensor explicit_path(Mixer& m, const Tensor& u) {
  return m.from_core(u, torch::matmul(m.coefficients(u), m.values(u)));
}

// step() over the whole sequence from initial_state(), stacked to (B, T, d).
inline Tensor stepped(Mixer& m, const Tensor& u) {
  auto state = m.initial_state(u.size(0), u.options());
  std::vector<Tensor> ys;
  for (int64_t t = 0; t < u.size(1); ++t) ys.push_back(m.step(state, u.select(1, t)));
  return torch::stack(ys, 1);
}

struct PathResult {
  Tensor y;
  std::vector<Tensor> grads;  // every parameter (named_parameters order), then the input
};

// y = path(u) and the gradients of the §6.4 loss Σ W1 y + ½ Σ W2 y².
inline PathResult run_path(Mixer& m, const Tensor& u, const Tensor& w1, const Tensor& w2,
                           const std::function<Tensor(const Tensor&)>& path) {
  m.zero_grad();
  auto x = u.detach().clone().requires_grad_(true);
  auto y = path(x);
  seqlab::testing::contract_loss(y, w1, w2).backward();
  PathResult r;
  r.y = y.detach();
  for (auto& p : m.parameters()) r.grads.push_back(p.grad().clone());
  r.grads.push_back(x.grad().clone());
  return r;
}

// §6.1-§6.2 on one mixer of width `width` at length T: forward (F), reference (R) and explicit
// (E) outputs agree, and the gradients of every parameter and of the input agree between F, R
// and E. The inputs and loss weights are drawn from the global generator after the caller built m.
inline void check_paths_agree(Mixer& m, int64_t T, int64_t width, torch::ScalarType dtype) {
  const auto opts = torch::TensorOptions().dtype(dtype);
  auto u = torch::randn({2, T, width}, opts);
  auto w1 = torch::randn({2, T, width}, opts), w2 = torch::randn({2, T, width}, opts);
  auto f = run_path(m, u, w1, w2, [&](const Tensor& x) { return m.forward(x); });
  auto r = run_path(m, u, w1, w2, [&](const Tensor& x) { return m.reference(x); });
  auto e = run_path(m, u, w1, w2, [&](const Tensor& x) { return explicit_path(m, x); });
  EXPECT_TRUE(close(r.y, e.y, r_vs_e(dtype), "R vs E"));
  EXPECT_TRUE(close(f.y, e.y, f_vs_e(dtype), "F vs E"));
  std::vector<std::string> names;
  for (auto& p : m.named_parameters()) names.push_back(p.key());
  names.push_back("input");
  ASSERT_EQ(names.size(), f.grads.size());
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_TRUE(close(f.grads[i], r.grads[i], bwd(dtype), "F vs R grad " + names[i]));
    EXPECT_TRUE(close(f.grads[i], e.grads[i], bwd(dtype), "F vs E grad " + names[i]));
  }
}

// §6.2/§6.6: step() over the whole sequence matches the reference and the forward path.
inline void check_step_matches(Mixer& m, int64_t T, int64_t width, torch::ScalarType dtype) {
  auto u = torch::randn({2, T, width}, torch::TensorOptions().dtype(dtype));
  torch::NoGradGuard no_grad;
  auto s = stepped(m, u);
  EXPECT_TRUE(close(s, m.reference(u), step_vs_r(dtype), "step vs R"));
  EXPECT_TRUE(close(s, m.forward(u), f_vs_e(dtype), "step vs F"));
}

}  // namespace seqlab::testing::contract
