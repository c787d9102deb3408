// Fused dense scan vs a plain per-step LibTorch loop (spec/mixers.md §3.2.6, §3.3.1-§3.3.2,
// §6.2-§6.4): outputs and every gradient (A_table, u, h0) with random upstream gradients,
// central differences in double, and bit-identical results at 1 and 2 threads. Cases cover both
// SD-SSM forms: a small shared table gathered by idx (partial-buffer dA) and one matrix per step
// (M = B·T, dA written directly).
#include "seqlab/core/dense_scan.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/testing.h"

namespace seqlab::core {
namespace dense_scan_test {

// x_t = A_{idx_t} x_{t−1} + u_t, one batched mat-vec per step. The gather and the per-step
// views are taken once (unbind), so the backward does not build a full-size zero per step.
torch::Tensor reference_scan(const torch::Tensor& a, const torch::Tensor& idx,
                             const torch::Tensor& u, const torch::Tensor& h0) {
  const int64_t B = u.size(0), T = u.size(1), N = u.size(2);
  if (T == 0) return torch::zeros({B, 0, N}, u.options());
  const auto a_steps = a.index_select(0, idx.reshape({-1})).reshape({B, T, N, N}).unbind(1);
  const auto u_steps = u.unbind(1);
  auto x = h0.defined() ? h0 : torch::zeros({B, N}, u.options());
  std::vector<torch::Tensor> out;
  for (int64_t t = 0; t < T; ++t) {
    x = torch::matmul(a_steps[t], x.unsqueeze(-1)).squeeze(-1) + u_steps[t];
    out.push_back(x);
  }
  return torch::stack(out, 1);
}

// Entries U(±0.8·sqrt(3/N)) (0.8 × the SD-SSM initialization). Fresh i.i.d. matrices at every
// step then contract on average; a small table reused for T = 100 steps may not, so with
// `contract` each matrix is also scaled to spectral norm ≤ 0.95. States stay O(1) (§6.2: RMS(y)
// in [0.1, 10]), which keeps the fp64 central differences of §6.4 above rounding noise.
torch::Tensor random_table(int64_t M, int64_t N, torch::ScalarType dtype, bool contract) {
  auto a = (torch::rand({M, N, N}, torch::kFloat64) * 2 - 1).mul(0.8 * std::sqrt(3.0 / N));
  if (contract) {
    const auto norm2 = at::linalg_matrix_norm(a, 2, {-2, -1}, /*keepdim=*/true);
    a = a * (0.95 / norm2).clamp_max(1.0);
  }
  return a.to(dtype);
}

struct ScanCase {
  int64_t B, T, N;
  bool per_step;  // M = B·T with idx = b·T + t; otherwise M = 3 with random idx
  bool with_h0;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const ScanCase& c) {
  return os << "B" << c.B << "_T" << c.T << "_N" << c.N << (c.per_step ? "_Mbt" : "_M3")
            << (c.with_h0 ? "_h0" : "_zero") << (c.dtype == torch::kFloat64 ? "_f64" : "_f32");
}

std::vector<ScanCase> all_cases() {
  std::vector<ScanCase> cases;
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (int64_t B : {1, 17})  // 17 = two full blocks of 8 sequences plus a ragged one
      for (int64_t T : {1, 2, 7, 33, 100})
        for (int64_t N : {1, 4, 16, 37})  // 37: a full double mat-vec block plus a ragged tail
          for (bool per_step : {false, true})
            for (bool with_h0 : {false, true}) cases.push_back({B, T, N, per_step, with_h0, dtype});
  return cases;
}

struct Inputs {
  torch::Tensor a, idx, u, h0;
};

Inputs make_inputs(const ScanCase& c, uint64_t seed) {
  torch::manual_seed(seed);
  Inputs in;
  const int64_t M = c.per_step ? c.B * c.T : 3;
  in.a = random_table(M, c.N, c.dtype, /*contract=*/!c.per_step);
  in.idx = c.per_step ? torch::arange(c.B * c.T, torch::kInt64).reshape({c.B, c.T})
                      : torch::randint(0, M, {c.B, c.T}, torch::kInt64);
  in.u = torch::randn({c.B, c.T, c.N}, torch::kFloat64).to(c.dtype);
  if (c.with_h0) in.h0 = torch::randn({c.B, c.N}, torch::kFloat64).to(c.dtype);
  return in;
}

torch::Tensor leaf(const torch::Tensor& t, torch::ScalarType dtype) {
  return t.defined() ? t.detach().to(dtype).clone().requires_grad_(true) : t;
}

// Forward + backward with upstream gradient g: {x, dA, du, dh0 (undefined without h0)}.
std::vector<torch::Tensor> run_kernel(const Inputs& in, const torch::Tensor& g) {
  auto a = leaf(in.a, in.a.scalar_type()), u = leaf(in.u, in.u.scalar_type());
  auto h0 = in.h0.defined() ? leaf(in.h0, in.h0.scalar_type()) : torch::Tensor();
  auto x = dense_scan(a, in.idx, u, h0);
  x.backward(g);
  return {x.detach(), a.grad(), u.grad(), h0.defined() ? h0.grad() : torch::Tensor()};
}

class DenseScanTest : public ::testing::TestWithParam<ScanCase> {
 protected:
  bool f64() const { return GetParam().dtype == torch::kFloat64; }
  // §6.2 "F vs E": the reference runs in fp64 from the same inputs.
  double fwd_rtol() const { return f64() ? 1e-11 : 1e-4; }
  double fwd_atol() const { return f64() ? 1e-12 : 1e-5; }
  double bwd_rtol() const { return f64() ? 1e-10 : 1e-3; }
  double bwd_atol() const { return f64() ? 1e-11 : 1e-5; }
};

TEST_P(DenseScanTest, MatchesPlainLoopForwardAndBackward) {
  const auto& c = GetParam();
  auto in = make_inputs(c, 1000 + c.T * 31 + c.N * 7 + c.B);
  auto g = torch::randn({c.B, c.T, c.N}, torch::kFloat64);  // random upstream gradient
  auto got = run_kernel(in, g.to(c.dtype));

  auto ra = leaf(in.a, torch::kFloat64), ru = leaf(in.u, torch::kFloat64);
  auto rh = in.h0.defined() ? leaf(in.h0, torch::kFloat64) : torch::Tensor();
  auto x_ref = reference_scan(ra, in.idx, ru, rh);
  ASSERT_EQ(got[0].sizes(), (std::vector<int64_t>{c.B, c.T, c.N}));
  ASSERT_EQ(got[0].scalar_type(), c.dtype);
  EXPECT_TRUE(testing::close(got[0], x_ref, fwd_rtol(), fwd_atol(), "x"));
  x_ref.backward(g);
  EXPECT_TRUE(testing::close(got[1], ra.grad(), bwd_rtol(), bwd_atol(), "dA"));
  EXPECT_TRUE(testing::close(got[2], ru.grad(), bwd_rtol(), bwd_atol(), "du"));
  if (c.with_h0) {
    EXPECT_TRUE(testing::close(got[3], rh.grad(), bwd_rtol(), bwd_atol(), "dh0"));
  }
}

TEST_P(DenseScanTest, BitIdenticalAtOneAndTwoThreads) {
  const auto& c = GetParam();
  auto in = make_inputs(c, 3000 + c.T * 31 + c.N * 7 + c.B);
  auto g = torch::randn({c.B, c.T, c.N}, torch::kFloat64).to(c.dtype);
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  auto one = run_kernel(in, g);
  at::set_num_threads(2);
  auto two = run_kernel(in, g);
  at::set_num_threads(saved);
  const char* names[] = {"x", "dA", "du", "dh0"};
  for (size_t i = 0; i < one.size(); ++i) {
    if (!one[i].defined()) continue;
    EXPECT_TRUE(torch::equal(one[i], two[i])) << names[i] << " differs between 1 and 2 threads";
  }
}

TEST_P(DenseScanTest, CentralDifferencesInDouble) {
  // At most two sequences (§6.3 "B = 2"): central differences of a loss summed over B·T·N terms
  // lose ~eps·|L|/h to rounding, which would swamp the 1e-6 tolerance at B = 17, T = 100.
  auto c = GetParam();
  if (c.dtype != torch::kFloat64) GTEST_SKIP() << "finite differences run in fp64 only (§6.4)";
  c.B = std::min<int64_t>(c.B, 2);
  auto in = make_inputs(c, 2000 + c.T * 31 + c.N * 7 + c.B);
  std::vector<torch::Tensor> params{in.a.requires_grad_(true), in.u.requires_grad_(true)};
  std::vector<std::string> names{"A_table", "u"};
  if (c.with_h0) {
    params.push_back(in.h0.requires_grad_(true));
    names.push_back("h0");
  }
  auto w1 = torch::randn({c.B, c.T, c.N}, torch::kFloat64);
  auto w2 = torch::randn({c.B, c.T, c.N}, torch::kFloat64);
  auto loss = [&] { return testing::contract_loss(dense_scan(in.a, in.idx, in.u, in.h0), w1, w2); };
  EXPECT_TRUE(testing::gradcheck(loss, params, names));
}

INSTANTIATE_TEST_SUITE_P(Grid, DenseScanTest, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<ScanCase>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

// The training size (B = 128, N = 64, three symbols) in float: full mat-vec blocks and rank-k
// tiles, 16 partial buffers, against the fp64 loop and across thread counts.
TEST(DenseScan, TrainingSizeFloat) {
  torch::manual_seed(7);
  Inputs in{random_table(3, 64, torch::kFloat32, true),
            torch::randint(0, 3, {128, 41}, torch::kInt64), torch::randn({128, 41, 64}),
            torch::Tensor()};
  auto g = torch::randn({128, 41, 64});
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  auto one = run_kernel(in, g);
  at::set_num_threads(2);
  auto two = run_kernel(in, g);
  at::set_num_threads(saved);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(one[i], two[i])) << i;
  auto ra = leaf(in.a, torch::kFloat64), ru = leaf(in.u, torch::kFloat64);
  auto x_ref = reference_scan(ra, in.idx, ru, {});
  x_ref.backward(g.to(torch::kFloat64));
  EXPECT_TRUE(testing::close(two[0], x_ref, 1e-4, 1e-5, "x"));
  EXPECT_TRUE(testing::close(two[1], ra.grad(), 1e-3, 1e-5, "dA"));
  EXPECT_TRUE(testing::close(two[2], ru.grad(), 1e-3, 1e-5, "du"));
}

// idx forms other than "shared table" and "identity": repeated entries with M = B·T (partial
// buffers for a large table) and a permutation (direct writes, not in (b, t) order).
TEST(DenseScan, LargeTableWithRepeatsAndPermutedIdx) {
  torch::manual_seed(8);
  const int64_t B = 5, T = 9, N = 6, M = B * T;
  auto a = random_table(M, N, torch::kFloat64, false);
  auto u = torch::randn({B, T, N}, torch::kFloat64);
  auto h0 = torch::randn({B, N}, torch::kFloat64);
  for (const auto& idx : {torch::randint(0, M, {B, T}, torch::kInt64),
                          torch::randperm(M, torch::kInt64).reshape({B, T})}) {
    auto w1 = torch::randn({B, T, N}, torch::kFloat64),
         w2 = torch::randn({B, T, N}, torch::kFloat64);
    EXPECT_TRUE(testing::close(dense_scan(a, idx, u, h0), reference_scan(a, idx, u, h0), 1e-11,
                               1e-12, "x"));
    auto loss = [&] { return testing::contract_loss(dense_scan(a, idx, u, h0), w1, w2); };
    EXPECT_TRUE(testing::gradcheck(
        loss, {a.requires_grad_(true), u.requires_grad_(true), h0.requires_grad_(true)},
        {"A_table", "u", "h0"}));
  }
}

TEST(DenseScan, UndefinedH0EqualsZeroH0Exactly) {
  torch::manual_seed(9);
  auto a = random_table(3, 5, torch::kFloat32, true);
  auto idx = torch::randint(0, 3, {4, 11}, torch::kInt64);
  auto u = torch::randn({4, 11, 5});
  auto g = torch::randn({4, 11, 5});
  auto with_zero = run_kernel({a, idx, u, torch::zeros({4, 5})}, g);
  auto without = run_kernel({a, idx, u, torch::Tensor()}, g);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(with_zero[i], without[i])) << i;
}

TEST(DenseScan, NonContiguousInputs) {
  // A_table, u and idx as transposed views, h0 as a strided slice.
  torch::manual_seed(10);
  auto a = random_table(4, 7, torch::kFloat64, true).transpose(0, 2).contiguous().transpose(0, 2);
  auto u = torch::randn({12, 3, 7}, torch::kFloat64).transpose(0, 1);
  auto idx = torch::randint(0, 4, {12, 3}, torch::kInt64).t();
  auto h0 = torch::randn({3, 14}, torch::kFloat64).slice(1, 0, 14, 2);
  ASSERT_FALSE(a.is_contiguous() || u.is_contiguous() || idx.is_contiguous() || h0.is_contiguous());
  EXPECT_TRUE(
      testing::close(dense_scan(a, idx, u, h0), reference_scan(a, idx, u, h0), 1e-11, 1e-12, "x"));
}

TEST(DenseScan, EmptyLength) {
  auto x = dense_scan(random_table(2, 3, torch::kFloat32, true),
                      torch::zeros({4, 0}, torch::kInt64), torch::zeros({4, 0, 3}));
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{4, 0, 3}));
}

TEST(DenseScan, RejectsBadInputsWithClearMessages) {
  auto a = torch::zeros({3, 4, 4});
  auto idx = torch::zeros({2, 5}, torch::kInt64);
  auto u = torch::zeros({2, 5, 4});
  auto expect_error = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { dense_scan(torch::zeros({3, 4, 5}), idx, u); }, "(M, N, N)");
  expect_error([&] { dense_scan(a, idx, torch::zeros({2, 5, 3})); }, "u must be (B, T, N)");
  expect_error([&] { dense_scan(a, idx.to(torch::kInt32), u); }, "idx must be int64");
  expect_error(
      [&] {
        dense_scan(a, torch::zeros({2, 4}, torch::kInt64), u);
      },
      "idx must be (B, T)");
  expect_error([&] { dense_scan(a, idx, u, torch::zeros({4})); }, "h0 must be (B, N)");
  expect_error([&] { dense_scan(a, idx, u.to(torch::kFloat64)); }, "dtype");
  expect_error([&] { dense_scan(a.to(torch::kInt32), idx, u); }, "float32 or float64");
  auto bad = idx.clone();
  bad[1][3] = 3;
  expect_error([&] { dense_scan(a, bad, u); }, "idx[1, 3] = 3 is outside [0, M) = [0, 3)");
  bad[1][3] = -1;
  expect_error([&] { dense_scan(a, bad, u); }, "is outside");
}

}  // namespace dense_scan_test
}  // namespace seqlab::core
