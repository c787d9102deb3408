// Pure-core identity tests of spec/mixers.md §6.5 (golden, fp64, 1e-12 relative):
//   #9  a degree-2 polynomial readout φ(α̃) = c0 + c1 α̃ + c2 α̃² of a linear system equals a linear
//       readout of the lifted system (§1.5 "Polynomial φ"): state (1, x, x ⊗ x), evolution
//       blockdiag(1, A_t, A_t ⊗ A_t), impulse (1, b k, b k ⊗ b k), readout (c0, c1 q, c2 q ⊗ q).
//       Because the lifted readout is linear, the per-token systems superpose into one matrix
//       state, which the dense structure kernel (core::dense_scan) computes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "../common/testing.h"
#include "seqlab/core/dense_scan.h"

namespace seqlab::core {
namespace identities_test {

using seqlab::testing::close;
using torch::Tensor;

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

// (1, x, x ⊗ x) for x (..., n): (..., 1 + n + n²). x ⊗ x is row-major: index a·n + b ↦ x_a x_b.
Tensor lift(const Tensor& x, double c0, double c1, double c2) {
  auto sizes = x.sizes().vec();
  const int64_t n = sizes.back();
  sizes.back() = n * n;
  auto outer = (x.unsqueeze(-1) * x.unsqueeze(-2)).reshape(sizes);
  sizes.back() = 1;
  return torch::cat({torch::full(sizes, c0, kF64), c1 * x, c2 * outer}, -1);
}

// blockdiag(1, A, A ⊗ A) for one n×n matrix A. (A ⊗ A)(x ⊗ x) = (A x) ⊗ (A x) with the
// row-major ⊗ of lift() is torch::kron.
Tensor lift_matrix(const Tensor& A) {
  const int64_t n = A.size(0), nl = 1 + n + n * n;
  auto out = torch::zeros({nl, nl}, kF64);
  out[0][0] = 1.0;
  out.narrow(0, 1, n).narrow(1, 1, n).copy_(A);
  out.narrow(0, 1 + n, n * n).narrow(1, 1 + n, n * n).copy_(torch::kron(A, A));
  return out;
}

TEST(Identities, PolynomialReadoutEqualsLinearReadoutOfTheLiftedState) {
  torch::manual_seed(9);
  const int64_t T = 8, n = 3, dv = 2;
  const double c0 = 0.7, c1 = -1.3, c2 = 0.9;
  auto A = torch::randn({T, n, n}, kF64) / std::sqrt(double(n));  // dense, time-varying A_t
  auto b = torch::rand({T}, kF64) + 0.5;                          // impulse gains b_j
  auto k = torch::randn({T, n}, kF64);
  auto q = torch::randn({T, n}, kF64);
  auto v = torch::randn({T, dv}, kF64);

  // Direct: α̃_ij = q_iᵀ Φ(i, j) b_j k_j (each impulse propagated on its own), α = φ(α̃), j ≤ i.
  auto alpha = torch::zeros({T, T}, kF64);
  for (int64_t j = 0; j < T; ++j) {
    auto x = b[j] * k[j];
    for (int64_t i = j; i < T; ++i) {
      if (i > j) x = torch::matmul(A[i], x);
      const auto a = (q[i] * x).sum();
      alpha[i][j] = c0 + c1 * a + c2 * a * a;
    }
  }
  const auto y_direct = torch::matmul(alpha, v);  // (T, dv)

  // Lifted, explicit: α_ij = q̃_iᵀ Φ̃(i, j) k̃_j.
  std::vector<Tensor> Al;
  for (int64_t t = 0; t < T; ++t) Al.push_back(lift_matrix(A[t]));
  auto A_lift = torch::stack(Al);                          // (T, nl, nl)
  auto k_lift = lift(b.unsqueeze(-1) * k, 1.0, 1.0, 1.0);  // (T, nl): (1, b k, b k ⊗ b k)
  auto q_lift = lift(q, c0, c1, c2);                       // (T, nl): (c0, c1 q, c2 q ⊗ q)
  auto alpha_lift = torch::zeros({T, T}, kF64);
  for (int64_t j = 0; j < T; ++j) {
    auto x = k_lift[j];
    for (int64_t i = j; i < T; ++i) {
      if (i > j) x = torch::matmul(A_lift[i], x);
      alpha_lift[i][j] = (q_lift[i] * x).sum();
    }
  }
  EXPECT_TRUE(close(alpha_lift, alpha, 1e-12, 0.0, "lifted explicit coefficients vs φ(α̃)"));

  // Lifted, recurrent (superposition, one system per value channel): S_i = Ã_i S_{i−1} + k̃_i v_iᵀ
  // by the dense kernel, with the value channels as its batch; y_i = S_iᵀ q̃_i.
  auto idx = torch::arange(T, torch::kInt64).unsqueeze(0).expand({dv, T}).contiguous();
  auto u = (v.t().unsqueeze(-1) * k_lift.unsqueeze(0)).contiguous();  // (dv, T, nl)
  auto S = dense_scan(A_lift, idx, u);                                // (dv, T, nl)
  auto y_scan = (S * q_lift.unsqueeze(0)).sum(-1).t();                // (T, dv)
  EXPECT_TRUE(close(y_scan, y_direct, 1e-12, 0.0, "lifted recurrence (dense_scan) vs direct"));
  // A readout that is not polynomial in α̃ through the lift fails: dropping the constant
  // component of the lifted state (the c0 term) must change the outputs.
  auto S_no_const = S.clone();
  S_no_const.select(-1, 0).zero_();
  auto y_bad = (S_no_const * q_lift.unsqueeze(0)).sum(-1).t();
  EXPECT_GT((y_bad - y_direct).abs().max().item<double>(), 1e-3);
}

}  // namespace identities_test
}  // namespace seqlab::core
