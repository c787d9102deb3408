// Channel-wise real-diagonal scans (spec/mixers.md §2.2.10, §3.2.1, §3.3.1-§3.3.3, §6.2-§6.4):
// the fused kernels against the per-step reference and the explicit coefficients, forward and
// backward (every input, the initial state and the final state, random upstream gradients), in
// fp32 and fp64 with the §6.2 tolerances; gates near 1 and near 0; checkpoint intervals that do
// and do not divide T; central differences in double; bit-identical results at 1 and 2 threads;
// the kernels' exp against std::exp.
#include "seqlab/core/channel_scan.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/util/error.h"

namespace seqlab::core {
namespace channel_scan_test {

using torch::Tensor;

// ---- tolerances (§6.2) and helpers -------------------------------------------------------------
struct Tol {
  double rtol, atol;
};
Tol r_vs_e(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-12, 1e-13} : Tol{1e-5, 1e-6};
}
Tol f_vs_e(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-11, 1e-12} : Tol{1e-4, 1e-5};
}
Tol bwd(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-10, 1e-11} : Tol{1e-3, 1e-5};
}

::testing::AssertionResult close(const Tensor& x, const Tensor& ref, Tol tol,
                                 const std::string& what) {
  return testing::close(x, ref, tol.rtol, tol.atol, what);
}

const char* dtype_name(torch::ScalarType d) {
  return d == torch::kFloat64 ? "f64" : "f32";
}

// Gate regimes of the §6.3 test matrix, as the log-decay Δ·A (selective) or log a (linear).
enum class Gates { kTypical, kNearOne, kNearZero, kMixed };

const char* gates_name(Gates g) {
  switch (g) {
    case Gates::kTypical:
      return "typical";
    case Gates::kNearOne:
      return "near1";
    case Gates::kNearZero:
      return "near0";
    case Gates::kMixed:
      return "mixed";
  }
  return "?";
}

Tensor f64(std::vector<int64_t> shape) {
  return torch::randn(shape, torch::kFloat64);
}

// Leaves of the autograd graph: a detached copy in `dtype` that requires grad.
Tensor leaf(const Tensor& t, torch::ScalarType dtype) {
  return t.detach().to(dtype).requires_grad_(true);
}

// ---- selective scan inputs ---------------------------------------------------------------------
struct SelectiveInputs {
  Tensor x, delta, A, Bm, Cm, h0;  // fp64 values
  Tensor dy, dh;                   // fp64 upstream gradients of y and of the final state
};

// Per channel c, Δ_t[c] A[c, m] is about −0.3·m (typical), −1e-6 (near 1) or −30 (near 0); mixed
// cycles through the three by channel. x is scaled so that RMS(y) stays in [0.1, 10] (§6.2).
SelectiveInputs selective_inputs(int64_t B, int64_t T, int64_t D, int64_t N, Gates gates,
                                 uint64_t seed) {
  torch::manual_seed(seed);
  SelectiveInputs in;
  auto jitter = [](std::vector<int64_t> shape) {
    return 0.5 + torch::rand(shape, torch::kFloat64);
  };
  const auto s4d = torch::arange(1, N + 1, torch::kFloat64).expand({D, N});
  const auto typical_dt = torch::softplus(f64({B, T, D}) - 1.0);
  const auto typical_A = -s4d * jitter({D, N});
  const auto one_dt = 1e-3 * jitter({B, T, D}), one_A = -1e-3 * jitter({D, N});
  const auto zero_dt = jitter({B, T, D}),
             zero_A = -30.0 * (0.9 + 0.2 * torch::rand({D, N}, torch::kFloat64));
  const auto regime = torch::arange(D) % 3;  // mixed: 0 typical, 1 near 1, 2 near 0
  switch (gates) {
    case Gates::kTypical:
      in.delta = typical_dt;
      in.A = typical_A;
      break;
    case Gates::kNearOne:
      in.delta = one_dt;
      in.A = one_A;
      break;
    case Gates::kNearZero:
      in.delta = zero_dt;
      in.A = zero_A;
      break;
    case Gates::kMixed: {
      const auto r = regime.to(torch::kFloat64);
      const auto is1 = (r == 1).to(torch::kFloat64), is2 = (r == 2).to(torch::kFloat64);
      const auto is0 = 1.0 - is1 - is2;
      in.delta = is0 * typical_dt + is1 * one_dt + is2 * zero_dt;
      in.A = is0.unsqueeze(1) * typical_A + is1.unsqueeze(1) * one_A + is2.unsqueeze(1) * zero_A;
      break;
    }
  }
  in.x = f64({B, T, D});
  if (gates == Gates::kNearOne) in.x = in.x * 30.0;  // impulses Δ B x are ~1e-3 there
  in.Bm = f64({B, T, N}) / std::sqrt(static_cast<double>(N));
  in.Cm = f64({B, T, N});
  in.h0 = f64({B, D, N});
  in.dy = f64({B, T, D});
  in.dh = f64({B, D, N});
  return in;
}

// y_e[b, i, c] = Σ_j M[b, c, i, j] v[b, j, c] for coefficients M (B, D, T, T) and v (B, T, D).
Tensor apply_coefficients(const Tensor& M, const Tensor& v) {
  return torch::matmul(M, v.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2);
}

struct Run {
  Tensor y, h;
  std::vector<Tensor> grads;  // one per leaf, in the order given
};

// Forward, then the gradients of Σ dy ⊙ y (+ Σ dh ⊙ h_T when dh is defined) for every leaf.
Run run(const std::function<std::pair<Tensor, Tensor>()>& fn, const std::vector<Tensor>& leaves,
        const Tensor& dy, const Tensor& dh) {
  auto [y, h] = fn();
  std::vector<Tensor> outs{y}, grads_out{dy.to(y.scalar_type())};
  if (dh.defined()) {
    outs.push_back(h);
    grads_out.push_back(dh.to(h.scalar_type()));
  }
  Run r;
  r.grads = torch::autograd::grad(outs, leaves, grads_out, /*retain_graph=*/false,
                                  /*create_graph=*/false, /*allow_unused=*/false);
  r.y = y.detach();
  r.h = h.detach();
  return r;
}

// ---- selective scan: fused vs reference vs coefficients ----------------------------------------
struct SelectiveCase {
  int64_t T, N;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const SelectiveCase& c) {
  return os << "T" << c.T << "_N" << c.N << "_" << dtype_name(c.dtype);
}

std::vector<SelectiveCase> selective_cases() {
  std::vector<SelectiveCase> cases;
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (int64_t T : {1, 2, 7, 63, 64, 65, 131})
      for (int64_t N : {1, 4, 16, 21}) cases.push_back({T, N, dtype});  // 21: two row groups
  return cases;
}

const std::vector<std::string> kSelectiveNames{"x", "delta", "A", "Bm", "Cm", "h0"};

// Checks the fused scan (dtype, checkpoint) against the fp64 oracles: R (reference) with h0 and
// an upstream gradient on the final state for y, h_T and every gradient including h0's; then,
// unless with_explicit is false, E (coefficients, h0 = 0) for y and the gradients of every core
// input, and R vs E.
void check_selective(const SelectiveInputs& in, torch::ScalarType dtype, int64_t checkpoint,
                     bool with_explicit = true) {
  const auto d = torch::kFloat64;
  std::vector<Tensor> r{leaf(in.x, d),  leaf(in.delta, d), leaf(in.A, d),
                        leaf(in.Bm, d), leaf(in.Cm, d),    leaf(in.h0, d)};
  auto ref = run([&] { return selective_scan_reference(r[0], r[1], r[2], r[3], r[4], r[5]); }, r,
                 in.dy, in.dh);
  std::vector<Tensor> f{leaf(in.x, dtype),  leaf(in.delta, dtype), leaf(in.A, dtype),
                        leaf(in.Bm, dtype), leaf(in.Cm, dtype),    leaf(in.h0, dtype)};
  auto fused =
      run([&] { return selective_scan_fused(f[0], f[1], f[2], f[3], f[4], f[5], checkpoint); }, f,
          in.dy, in.dh);
  EXPECT_TRUE(close(fused.y, ref.y, f_vs_e(dtype), "F vs R y (h0)"));
  EXPECT_TRUE(close(fused.h, ref.h, f_vs_e(dtype), "F vs R final state"));
  for (size_t i = 0; i < r.size(); ++i)
    EXPECT_TRUE(
        close(fused.grads[i], ref.grads[i], bwd(dtype), "F vs R grad " + kSelectiveNames[i]));
  if (!with_explicit) return;

  std::vector<Tensor> e{leaf(in.x, d), leaf(in.delta, d), leaf(in.A, d), leaf(in.Bm, d),
                        leaf(in.Cm, d)};
  auto y_e = apply_coefficients(selective_scan_coefficients(e[1], e[2], e[3], e[4]), e[0]);
  auto g_e = torch::autograd::grad({y_e}, e, {in.dy});
  auto y_r0 = selective_scan_reference(in.x, in.delta, in.A, in.Bm, in.Cm).first;
  std::vector<Tensor> f0{leaf(in.x, dtype), leaf(in.delta, dtype), leaf(in.A, dtype),
                         leaf(in.Bm, dtype), leaf(in.Cm, dtype)};
  auto fused0 =
      run([&] { return selective_scan_fused(f0[0], f0[1], f0[2], f0[3], f0[4], {}, checkpoint); },
          f0, in.dy, {});
  EXPECT_TRUE(close(y_r0, y_e, r_vs_e(d), "R vs E y"));
  EXPECT_TRUE(close(fused0.y, y_e, f_vs_e(dtype), "F vs E y"));
  for (size_t i = 0; i < g_e.size(); ++i)
    EXPECT_TRUE(close(fused0.grads[i], g_e[i], bwd(dtype), "F vs E grad " + kSelectiveNames[i]));
}

class SelectiveScanContract : public ::testing::TestWithParam<SelectiveCase> {};

TEST_P(SelectiveScanContract, FusedMatchesReferenceAndCoefficients) {
  const auto& c = GetParam();
  // D = 17: one full channel block plus a ragged one; smaller at N >= 16 and T > 64 to bound E's
  // memory. N = 21 fills one group of 16 state rows and part of a second in the backward's sums.
  const int64_t D = c.N >= 16 && c.T > 64 ? 5 : 17;
  const auto in = selective_inputs(2, c.T, D, c.N, Gates::kTypical, 100 + c.T * 7 + c.N);
  check_selective(in, c.dtype, 64);
}

INSTANTIATE_TEST_SUITE_P(Grid, SelectiveScanContract, ::testing::ValuesIn(selective_cases()),
                         [](const ::testing::TestParamInfo<SelectiveCase>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

struct GateCase {
  Gates gates;
  torch::ScalarType dtype;
};

std::string gate_case_name(const ::testing::TestParamInfo<GateCase>& info) {
  return std::string(gates_name(info.param.gates)) + "_" + dtype_name(info.param.dtype);
}

std::vector<GateCase> gate_cases() {
  std::vector<GateCase> cases;
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (auto g : {Gates::kTypical, Gates::kNearOne, Gates::kNearZero, Gates::kMixed})
      cases.push_back({g, dtype});
  return cases;
}

class SelectiveScanGates : public ::testing::TestWithParam<GateCase> {};

TEST_P(SelectiveScanGates, FusedMatchesReferenceAndCoefficients) {
  const auto& c = GetParam();
  const auto in = selective_inputs(2, 70, 7, 4, c.gates, 7);
  check_selective(in, c.dtype, 16);
}

INSTANTIATE_TEST_SUITE_P(Gates, SelectiveScanGates, ::testing::ValuesIn(gate_cases()),
                         gate_case_name);

// Chunk lengths of the backward recomputation (§3.3.8): C ∈ {1, 3, 16, 64} at T mod C ∈ {0, 1,
// C − 1}; the result must not depend on C beyond rounding.
TEST(SelectiveScan, CheckpointIntervals) {
  for (int64_t C : {1, 3, 16, 64})
    for (int64_t T : {C, C + 1, 2 * C - 1, 2 * C + 3}) {
      SCOPED_TRACE("checkpoint " + std::to_string(C) + " T " + std::to_string(T));
      const auto in = selective_inputs(2, T, 3, 4, Gates::kTypical, 11 + T);
      check_selective(in, torch::kFloat64, C, /*with_explicit=*/false);
    }
}

// ---- linear recurrence -------------------------------------------------------------------------
struct LinearInputs {
  Tensor log_a, u, h0, dy, dh;
};

LinearInputs linear_inputs(int64_t B, int64_t T, int64_t D, Gates gates, uint64_t seed) {
  torch::manual_seed(seed);
  LinearInputs in;
  const auto typical = -torch::softplus(f64({B, T, D}));
  const auto near_one = torch::full({B, T, D}, -1e-6, torch::kFloat64);
  const auto near_zero = torch::full({B, T, D}, -30.0, torch::kFloat64);
  switch (gates) {
    case Gates::kTypical:
      in.log_a = typical;
      break;
    case Gates::kNearOne:
      in.log_a = near_one;
      break;
    case Gates::kNearZero:
      in.log_a = near_zero;
      break;
    case Gates::kMixed: {
      const auto r = torch::arange(D) % 3;
      in.log_a = torch::where(r == 0, typical, torch::where(r == 1, near_one, near_zero));
      break;
    }
  }
  in.u = f64({B, T, D});
  in.h0 = f64({B, D});
  in.dy = f64({B, T, D});
  in.dh = f64({B, D});
  return in;
}

const std::vector<std::string> kLinearNames{"log_a", "u", "h0"};

void check_linear(const LinearInputs& in, torch::ScalarType dtype) {
  const auto d = torch::kFloat64;
  std::vector<Tensor> e{leaf(in.log_a, d), leaf(in.u, d)};
  auto y_e = apply_coefficients(linear_recurrence_coefficients(e[0]), e[1]);
  auto g_e = torch::autograd::grad({y_e}, e, {in.dy});
  auto y_r0 = linear_recurrence_reference(in.log_a, in.u).first;
  std::vector<Tensor> r{leaf(in.log_a, d), leaf(in.u, d), leaf(in.h0, d)};
  auto ref = run([&] { return linear_recurrence_reference(r[0], r[1], r[2]); }, r, in.dy, in.dh);
  std::vector<Tensor> f0{leaf(in.log_a, dtype), leaf(in.u, dtype)};
  auto fused0 = run([&] { return linear_recurrence_fused(f0[0], f0[1]); }, f0, in.dy, {});
  std::vector<Tensor> f{leaf(in.log_a, dtype), leaf(in.u, dtype), leaf(in.h0, dtype)};
  auto fused = run([&] { return linear_recurrence_fused(f[0], f[1], f[2]); }, f, in.dy, in.dh);

  EXPECT_TRUE(close(y_r0, y_e, r_vs_e(d), "R vs E h"));
  EXPECT_TRUE(close(fused0.y, y_e, f_vs_e(dtype), "F vs E h"));
  for (size_t i = 0; i < g_e.size(); ++i)
    EXPECT_TRUE(close(fused0.grads[i], g_e[i], bwd(dtype), "F vs E grad " + kLinearNames[i]));
  EXPECT_TRUE(close(fused.y, ref.y, f_vs_e(dtype), "F vs R h (h0)"));
  EXPECT_TRUE(close(fused.h, ref.h, f_vs_e(dtype), "F vs R final state"));
  for (size_t i = 0; i < r.size(); ++i)
    EXPECT_TRUE(close(fused.grads[i], ref.grads[i], bwd(dtype), "F vs R grad " + kLinearNames[i]));
}

struct LinearCase {
  int64_t T, D;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const LinearCase& c) {
  return os << "T" << c.T << "_D" << c.D << "_" << dtype_name(c.dtype);
}

std::vector<LinearCase> linear_cases() {
  std::vector<LinearCase> cases;
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (int64_t T : {1, 2, 7, 63, 64, 65, 131})
      for (int64_t D : {1, 5, 70}) cases.push_back({T, D, dtype});  // 70: a block + a ragged one
  return cases;
}

class LinearRecurrenceContract : public ::testing::TestWithParam<LinearCase> {};

TEST_P(LinearRecurrenceContract, FusedMatchesReferenceAndCoefficients) {
  const auto& c = GetParam();
  check_linear(linear_inputs(2, c.T, c.D, Gates::kTypical, 200 + c.T + c.D), c.dtype);
}

INSTANTIATE_TEST_SUITE_P(Grid, LinearRecurrenceContract, ::testing::ValuesIn(linear_cases()),
                         [](const ::testing::TestParamInfo<LinearCase>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

class LinearRecurrenceGates : public ::testing::TestWithParam<GateCase> {};

TEST_P(LinearRecurrenceGates, FusedMatchesReferenceAndCoefficients) {
  const auto& c = GetParam();
  check_linear(linear_inputs(2, 70, 9, c.gates, 5), c.dtype);
}

INSTANTIATE_TEST_SUITE_P(Gates, LinearRecurrenceGates, ::testing::ValuesIn(gate_cases()),
                         gate_case_name);

// ---- finite differences (§6.4) -----------------------------------------------------------------
// L = Σ W_y ⊙ y + ½ Σ W_2 ⊙ y² + Σ W_S ⊙ S_final.
Tensor fd_loss(const std::pair<Tensor, Tensor>& out, const Tensor& w1, const Tensor& w2,
               const Tensor& ws) {
  return testing::contract_loss(out.first, w1, w2) + (ws * out.second).sum();
}

TEST(SelectiveScan, FiniteDifferencesEveryInput) {
  const auto in = selective_inputs(2, 7, 3, 4, Gates::kTypical, 3);
  std::vector<Tensor> p{leaf(in.x, torch::kFloat64),  leaf(in.delta, torch::kFloat64),
                        leaf(in.A, torch::kFloat64),  leaf(in.Bm, torch::kFloat64),
                        leaf(in.Cm, torch::kFloat64), leaf(in.h0, torch::kFloat64)};
  const auto w1 = f64({2, 7, 3}), w2 = f64({2, 7, 3}), ws = f64({2, 3, 4});
  auto loss = [&] {
    return fd_loss(selective_scan_fused(p[0], p[1], p[2], p[3], p[4], p[5], 3), w1, w2, ws);
  };
  EXPECT_TRUE(testing::gradcheck(loss, p, kSelectiveNames));
}

TEST(LinearRecurrence, FiniteDifferencesEveryInput) {
  const auto in = linear_inputs(2, 9, 3, Gates::kTypical, 4);
  std::vector<Tensor> p{leaf(in.log_a, torch::kFloat64), leaf(in.u, torch::kFloat64),
                        leaf(in.h0, torch::kFloat64)};
  const auto w1 = f64({2, 9, 3}), w2 = f64({2, 9, 3}), ws = f64({2, 3});
  auto loss = [&] { return fd_loss(linear_recurrence_fused(p[0], p[1], p[2]), w1, w2, ws); };
  EXPECT_TRUE(testing::gradcheck(loss, p, kLinearNames));
}

// ---- determinism -------------------------------------------------------------------------------
// Runs fn at 1 and at 2 threads and expects bit-identical tensors.
void expect_thread_invariant(const std::function<std::vector<Tensor>()>& fn) {
  const int saved = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = fn();
  at::set_num_threads(2);
  const auto two = fn();
  at::set_num_threads(saved);
  ASSERT_EQ(one.size(), two.size());
  for (size_t i = 0; i < one.size(); ++i)
    EXPECT_TRUE(torch::equal(one[i], two[i]))
        << "output " << i << " differs between 1 and 2 threads";
}

TEST(SelectiveScan, BitIdenticalAtOneAndTwoThreads) {
  // Several channel blocks per row and several rows: both the forward items and the backward
  // groups (partial dB/dC planes, dA over the batch) are split across threads.
  for (int64_t B : {3, 20}) {
    const auto in = selective_inputs(B, 150, 40, 16, Gates::kTypical, 9);
    expect_thread_invariant([&] {
      std::vector<Tensor> p{leaf(in.x, torch::kFloat32),  leaf(in.delta, torch::kFloat32),
                            leaf(in.A, torch::kFloat32),  leaf(in.Bm, torch::kFloat32),
                            leaf(in.Cm, torch::kFloat32), leaf(in.h0, torch::kFloat32)};
      auto r = run([&] { return selective_scan_fused(p[0], p[1], p[2], p[3], p[4], p[5]); }, p,
                   in.dy, in.dh);
      r.grads.push_back(r.y);
      r.grads.push_back(r.h);
      return r.grads;
    });
  }
}

TEST(LinearRecurrence, BitIdenticalAtOneAndTwoThreads) {
  const auto in = linear_inputs(3, 150, 200, Gates::kTypical, 10);
  expect_thread_invariant([&] {
    std::vector<Tensor> p{leaf(in.log_a, torch::kFloat32), leaf(in.u, torch::kFloat32),
                          leaf(in.h0, torch::kFloat32)};
    auto r = run([&] { return linear_recurrence_fused(p[0], p[1], p[2]); }, p, in.dy, in.dh);
    r.grads.push_back(r.y);
    r.grads.push_back(r.h);
    return r.grads;
  });
}

// ---- edges, dispatch and checks ----------------------------------------------------------------
TEST(ChannelScan, NonContiguousInputs) {
  const auto in = selective_inputs(2, 9, 6, 4, Gates::kTypical, 12);
  // Views with permuted strides holding the same values.
  auto x_view = in.x.transpose(1, 2).contiguous().transpose(1, 2);
  auto A_view = in.A.t().contiguous().t();
  ASSERT_FALSE(x_view.is_contiguous());
  auto ref = selective_scan_reference(in.x, in.delta, in.A, in.Bm, in.Cm, in.h0);
  auto fused = selective_scan_fused(x_view, in.delta, A_view, in.Bm, in.Cm, in.h0);
  EXPECT_TRUE(close(fused.first, ref.first, f_vs_e(torch::kFloat64), "y"));
  EXPECT_TRUE(close(fused.second, ref.second, f_vs_e(torch::kFloat64), "final state"));
  const auto lin = linear_inputs(2, 9, 6, Gates::kTypical, 13);
  auto la_view = lin.log_a.transpose(1, 2).contiguous().transpose(1, 2);
  auto lref = linear_recurrence_reference(lin.log_a, lin.u, lin.h0);
  auto lfused = linear_recurrence_fused(la_view, lin.u, lin.h0);
  EXPECT_TRUE(close(lfused.first, lref.first, f_vs_e(torch::kFloat64), "h"));
}

TEST(ChannelScan, EmptySequenceReturnsTheInitialState) {
  const auto in = selective_inputs(2, 0, 3, 4, Gates::kTypical, 14);
  auto [y, h] = selective_scan_fused(in.x, in.delta, in.A, in.Bm, in.Cm, in.h0);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 0, 3}));
  EXPECT_TRUE(torch::equal(h, in.h0));
  const auto lin = linear_inputs(2, 0, 3, Gates::kTypical, 15);
  auto [hs, hl] = linear_recurrence_fused(lin.log_a, lin.u, lin.h0);
  EXPECT_EQ(hs.sizes(), (std::vector<int64_t>{2, 0, 3}));
  EXPECT_TRUE(torch::equal(hl, lin.h0));
}

TEST(ChannelScan, DispatchersAndErrors) {
  const auto in = selective_inputs(1, 5, 3, 2, Gates::kTypical, 16);
  auto fused = selective_scan(ScanPath::kFused, in.x, in.delta, in.A, in.Bm, in.Cm);
  auto ref = selective_scan(ScanPath::kReference, in.x, in.delta, in.A, in.Bm, in.Cm);
  EXPECT_TRUE(
      torch::equal(fused.first, selective_scan_fused(in.x, in.delta, in.A, in.Bm, in.Cm).first));
  EXPECT_TRUE(
      torch::equal(ref.first, selective_scan_reference(in.x, in.delta, in.A, in.Bm, in.Cm).first));
  EXPECT_THROW(selective_scan(ScanPath::kChunked, in.x, in.delta, in.A, in.Bm, in.Cm), UserError);
  const auto lin = linear_inputs(1, 5, 3, Gates::kTypical, 17);
  EXPECT_TRUE(torch::equal(linear_recurrence(ScanPath::kFused, lin.log_a, lin.u).first,
                           linear_recurrence_fused(lin.log_a, lin.u).first));
  EXPECT_TRUE(torch::equal(linear_recurrence(ScanPath::kReference, lin.log_a, lin.u).first,
                           linear_recurrence_reference(lin.log_a, lin.u).first));
  EXPECT_THROW(linear_recurrence(ScanPath::kChunked, lin.log_a, lin.u), UserError);
  // Shape and dtype errors name the argument.
  EXPECT_THROW(selective_scan_fused(in.x, in.delta, in.A.t(), in.Bm, in.Cm), c10::Error);
  EXPECT_THROW(selective_scan_fused(in.x, in.delta, in.A, in.Bm.narrow(2, 0, 1), in.Cm),
               c10::Error);
  EXPECT_THROW(selective_scan_fused(in.x.to(torch::kFloat32), in.delta, in.A, in.Bm, in.Cm),
               c10::Error);
  EXPECT_THROW(selective_scan_fused(in.x, in.delta, in.A, in.Bm, in.Cm, {}, 0), c10::Error);
  EXPECT_THROW(linear_recurrence_fused(lin.log_a, lin.u, lin.h0.unsqueeze(0)), c10::Error);
}

// ---- the kernels' exp --------------------------------------------------------------------------
// Relative error against std::exp over the normal range, exact 0 below it, +inf above it, NaN
// propagated; a few float ulps (float) and a few double ulps (double).
template <typename T>
void check_kernel_exp(torch::ScalarType dtype, double lo, double hi, double max_rel) {
  auto x = torch::linspace(lo, hi, 200001, torch::kFloat64).to(dtype);
  auto got = detail::kernel_exp(x).to(torch::kFloat64);
  auto xs = x.to(torch::kFloat64);
  auto want = torch::exp(xs).to(dtype).to(torch::kFloat64);  // std::exp rounded to dtype
  auto rel = ((got - want).abs() / want).max().item<double>();
  EXPECT_LE(rel, max_rel) << dtype_name(dtype);
  std::vector<T> special{T(-1e4), T(1e4), std::numeric_limits<T>::quiet_NaN(), T(0),
                         -std::numeric_limits<T>::infinity()};
  const Tensor s = detail::kernel_exp(torch::tensor(special, torch::TensorOptions().dtype(dtype)));
  auto sp = s.data_ptr<T>();
  EXPECT_EQ(sp[0], T(0));
  EXPECT_TRUE(std::isinf(sp[1]) && sp[1] > 0);
  EXPECT_TRUE(std::isnan(sp[2]));
  EXPECT_EQ(sp[3], T(1));
  EXPECT_EQ(sp[4], T(0));
}

TEST(ChannelScan, KernelExpMatchesStdExp) {
  check_kernel_exp<float>(torch::kFloat32, -87.0, 88.0, 4e-7);
  check_kernel_exp<double>(torch::kFloat64, -700.0, 700.0, 1e-15);
}

}  // namespace channel_scan_test
}  // namespace seqlab::core
