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

}  // namespace seqlab::testing::contract
