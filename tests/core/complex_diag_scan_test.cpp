// Fused complex-diagonal scan vs a plain real-pair loop (spec/mixers.md §3.2.1, §3.3.1-§3.3.2,
// §6.2-§6.4): outputs and every gradient with random upstream gradients, central differences in
// double, bit-identical results at 1 and 2 threads, and unit-modulus phases near 0 and 2π.
#include "seqlab/core/complex_diag_scan.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/testing.h"

namespace seqlab::core {
namespace complex_diag_scan_test {

// x_t = λ_t ⊙ x_{t−1} + u_t written out with real and imaginary parts, one LibTorch op per term.
torch::Tensor reference_scan(const torch::Tensor& lambda, const torch::Tensor& u,
                             const torch::Tensor& h0) {
  const int64_t B = lambda.size(0), T = lambda.size(1), N = lambda.size(2);
  torch::Tensor xr = torch::zeros({B, N}, lambda.options());
  torch::Tensor xi = torch::zeros({B, N}, lambda.options());
  if (h0.defined()) {
    xr = xr + h0.select(-1, 0);
    xi = xi + h0.select(-1, 1);
  }
  std::vector<torch::Tensor> out;
  for (int64_t t = 0; t < T; ++t) {
    auto lr = lambda.select(1, t).select(-1, 0), li = lambda.select(1, t).select(-1, 1);
    auto nr = lr * xr - li * xi;
    auto ni = lr * xi + li * xr;
    if (u.defined()) {
      nr = nr + u.select(1, t).select(-1, 0);
      ni = ni + u.select(1, t).select(-1, 1);
    }
    xr = nr;
    xi = ni;
    out.push_back(torch::stack({xr, xi}, -1));
  }
  return torch::stack(out, 1);
}

// Random λ with modulus in [0.8, 1] and any phase, as real pairs (B, T, N, 2).
torch::Tensor random_lambda(int64_t B, int64_t T, int64_t N, torch::ScalarType dtype) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto r = 0.8 + 0.2 * torch::rand({B, T, N}, opts);
  auto th = 2 * M_PI * torch::rand({B, T, N}, opts);
  return torch::stack({r * torch::cos(th), r * torch::sin(th)}, -1).to(dtype);
}

struct ScanCase {
  int64_t B, T, N;
  bool with_u;
  bool h0_per_batch;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const ScanCase& c) {
  return os << "B" << c.B << "_T" << c.T << "_N" << c.N << (c.with_u ? "_u" : "_nou")
            << (c.h0_per_batch ? "_h0batch" : "_h0shared")
            << (c.dtype == torch::kFloat64 ? "_f64" : "_f32");
}

std::vector<ScanCase> all_cases(std::vector<torch::ScalarType> dtypes) {
  std::vector<ScanCase> cases;
  for (auto dtype : dtypes)
    for (int64_t B : {1, 3})
      for (int64_t T : {1, 2, 7, 100})
        for (int64_t N : {1, 3, 16, 19})  // 19: a full channel block plus a ragged tail
          for (bool with_u : {false, true})
            for (bool per_batch : {false, true})
              cases.push_back({B, T, N, with_u, per_batch, dtype});
  return cases;
}

class ComplexDiagScanTest : public ::testing::TestWithParam<ScanCase> {
 protected:
  struct Inputs {
    torch::Tensor lambda, u, h0;
  };
  Inputs make_inputs(uint64_t seed) const {
    const auto& c = GetParam();
    torch::manual_seed(seed);
    Inputs in;
    in.lambda = random_lambda(c.B, c.T, c.N, c.dtype);
    auto opts = torch::TensorOptions().dtype(c.dtype);
    if (c.with_u) in.u = 0.5 * torch::randn({c.B, c.T, c.N, 2}, opts);
    in.h0 = c.h0_per_batch ? torch::randn({c.B, c.N, 2}, opts) : torch::randn({c.N, 2}, opts);
    return in;
  }
  double fwd_rtol() const { return GetParam().dtype == torch::kFloat64 ? 1e-11 : 1e-4; }
  double fwd_atol() const { return GetParam().dtype == torch::kFloat64 ? 1e-12 : 1e-5; }
  double bwd_rtol() const { return GetParam().dtype == torch::kFloat64 ? 1e-10 : 1e-3; }
  double bwd_atol() const { return GetParam().dtype == torch::kFloat64 ? 1e-11 : 1e-5; }
};

TEST_P(ComplexDiagScanTest, MatchesPlainLoopForwardAndBackward) {
  const auto& c = GetParam();
  auto in = make_inputs(1000 + c.T * 7 + c.N);
  auto leaf = [](const torch::Tensor& t) {
    return t.defined() ? t.detach().clone().requires_grad_(true) : t;
  };
  auto fl = leaf(in.lambda), fu = leaf(in.u), fh = leaf(in.h0);
  auto rl = leaf(in.lambda), ru = leaf(in.u), rh = leaf(in.h0);
  auto x = complex_diag_scan(fl, fu, fh);
  auto x_ref = reference_scan(rl, ru, rh);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{c.B, c.T, c.N, 2}));
  EXPECT_TRUE(testing::close(x, x_ref, fwd_rtol(), fwd_atol(), "x"));

  auto g = torch::randn(x.sizes(), x.options());  // random upstream gradient
  x.backward(g);
  x_ref.backward(g);
  EXPECT_TRUE(testing::close(fl.grad(), rl.grad(), bwd_rtol(), bwd_atol(), "dlambda"));
  EXPECT_TRUE(testing::close(fh.grad(), rh.grad(), bwd_rtol(), bwd_atol(), "dh0"));
  if (c.with_u) {
    EXPECT_TRUE(testing::close(fu.grad(), ru.grad(), bwd_rtol(), bwd_atol(), "du"));
  }
}

// Finite differences run in fp64 only (§6.4).
class ComplexDiagScanGradcheck : public ComplexDiagScanTest {};

TEST_P(ComplexDiagScanGradcheck, CentralDifferencesInDouble) {
  const auto& c = GetParam();
  auto in = make_inputs(2000 + c.T * 7 + c.N);
  std::vector<torch::Tensor> params{in.lambda.requires_grad_(true), in.h0.requires_grad_(true)};
  std::vector<std::string> names{"lambda", "h0"};
  if (c.with_u) {
    params.push_back(in.u.requires_grad_(true));
    names.push_back("u");
  }
  auto w1 = torch::randn({c.B, c.T, c.N, 2}, torch::kFloat64);
  auto w2 = torch::randn({c.B, c.T, c.N, 2}, torch::kFloat64);
  auto loss = [&] {
    return testing::contract_loss(complex_diag_scan(in.lambda, in.u, in.h0), w1, w2);
  };
  EXPECT_TRUE(testing::gradcheck(loss, params, names));
}

std::string case_name(const ::testing::TestParamInfo<ScanCase>& info) {
  std::ostringstream os;
  os << info.param;
  return os.str();
}

INSTANTIATE_TEST_SUITE_P(Grid, ComplexDiagScanTest,
                         ::testing::ValuesIn(all_cases({torch::kFloat32, torch::kFloat64})),
                         case_name);
INSTANTIATE_TEST_SUITE_P(Grid, ComplexDiagScanGradcheck,
                         ::testing::ValuesIn(all_cases({torch::kFloat64})), case_name);

TEST(ComplexDiagScan, ZeroInitialStateWhenH0Undefined) {
  torch::manual_seed(3);
  auto lambda = random_lambda(2, 9, 5, torch::kFloat64).requires_grad_(true);
  auto u = torch::randn({2, 9, 5, 2}, torch::kFloat64).requires_grad_(true);
  auto x = complex_diag_scan(lambda, u, torch::Tensor());
  auto x_ref = reference_scan(lambda, u, torch::zeros({5, 2}, torch::kFloat64));
  EXPECT_TRUE(testing::close(x, x_ref, 1e-11, 1e-12, "x"));
  auto w1 = torch::randn_like(x), w2 = torch::randn_like(x);
  auto loss = [&] { return testing::contract_loss(complex_diag_scan(lambda, u, {}), w1, w2); };
  EXPECT_TRUE(testing::gradcheck(loss, {lambda, u}, {"lambda", "u"}));
}

TEST(ComplexDiagScan, NonContiguousInputs) {
  // λ and u as transposed views of (B, N, T, 2) storage; h0 as a strided slice.
  torch::manual_seed(4);
  auto lam_store = random_lambda(3, 6, 11, torch::kFloat64).transpose(1, 2).contiguous();
  auto lambda = lam_store.transpose(1, 2);  // (B, T, N, 2), non-contiguous
  auto u = torch::randn({3, 11, 6, 2}, torch::kFloat64).transpose(1, 2);
  auto h0 = torch::randn({11, 4}, torch::kFloat64).narrow(1, 1, 2);
  ASSERT_FALSE(lambda.is_contiguous());
  ASSERT_FALSE(h0.is_contiguous());
  EXPECT_TRUE(testing::close(complex_diag_scan(lambda, u, h0), reference_scan(lambda, u, h0), 1e-11,
                             1e-12, "x"));
}

TEST(ComplexDiagScan, BitIdenticalAtOneAndTwoThreads) {
  const int saved = at::get_num_threads();
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    torch::manual_seed(5);
    // Enough (batch, channel block) items that two threads split the work; shared h0 exercises
    // the ordered batch reduction of dh0.
    auto lambda = random_lambda(64, 40, 40, dtype);
    auto u = torch::randn({64, 40, 40, 2}, dtype);
    auto h0 = torch::randn({40, 2}, dtype);
    auto g = torch::randn({64, 40, 40, 2}, dtype);
    auto run = [&](int threads) {
      at::set_num_threads(threads);
      auto l = lambda.clone().requires_grad_(true), uu = u.clone().requires_grad_(true),
           h = h0.clone().requires_grad_(true);
      auto x = complex_diag_scan(l, uu, h);
      x.backward(g);
      return std::vector<torch::Tensor>{x.detach(), l.grad(), uu.grad(), h.grad()};
    };
    auto one = run(1);
    auto two = run(2);
    const char* names[] = {"x", "dlambda", "du", "dh0"};
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_TRUE(torch::equal(one[i], two[i])) << names[i] << " differs between 1 and 2 threads";
  }
  at::set_num_threads(saved);
}

TEST(ComplexDiagScan, UnitModulusPhasesNearZeroAndTwoPi) {
  // |λ| = 1 exactly in exact arithmetic, phases θ within 1e-7 of 0 and of 2π: the state rotates by
  // Σθ and keeps its modulus (§6.3 "complex").
  const int64_t B = 2, T = 100, N = 4;
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto theta = torch::empty({B, T, N}, opts);
  theta.select(2, 0).fill_(1e-7);
  theta.select(2, 1).fill_(-1e-7);
  theta.select(2, 2).fill_(2 * M_PI - 1e-7);
  theta.select(2, 3).fill_(2 * M_PI + 1e-12);
  auto phi0 = torch::tensor({0.3, 1.7, 3.1, 6.2}, opts);
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    auto lambda = torch::stack({torch::cos(theta), torch::sin(theta)}, -1).to(dtype);
    auto h0 = torch::stack({torch::cos(phi0), torch::sin(phi0)}, -1).to(dtype);
    auto x = complex_diag_scan(lambda, torch::Tensor(), h0).to(torch::kFloat64);
    // Closed form in fp64: x_t = exp(i(ϕ + Σ_{s≤t} θ_s)).
    auto angle = phi0 + torch::cumsum(theta, 1);
    auto expected = torch::stack({torch::cos(angle), torch::sin(angle)}, -1);
    const bool f64 = dtype == torch::kFloat64;
    EXPECT_TRUE(testing::close(x, expected, f64 ? 1e-11 : 1e-4, f64 ? 1e-12 : 1e-5, "x"));
    auto modulus = torch::sqrt(x.select(-1, 0).pow(2) + x.select(-1, 1).pow(2));
    EXPECT_LE((modulus - 1).abs().max().item<double>(), f64 ? 1e-13 : 1e-5);
  }
}

TEST(ComplexDiagScan, RejectsBadShapesWithClearMessages) {
  auto lambda = torch::zeros({2, 3, 4, 2});
  auto expect_error = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { complex_diag_scan(torch::zeros({2, 3, 4}), {}, {}); }, "(B, T, N, 2)");
  expect_error([&] { complex_diag_scan(lambda, torch::zeros({2, 3, 5, 2}), {}); }, "u must match");
  expect_error([&] { complex_diag_scan(lambda, {}, torch::zeros({3, 2})); }, "h0 must be (N, 2)");
  expect_error(
      [&] {
        complex_diag_scan(lambda, {}, torch::zeros({4, 2}, torch::kFloat64));
      },
      "dtype");
  expect_error([&] { complex_diag_scan(lambda.to(torch::kInt32), {}, {}); }, "float32 or float64");
}

}  // namespace complex_diag_scan_test
}  // namespace seqlab::core
