// Delta-rule scan (spec/mixers.md §2.2.17-§2.2.18, §3.2.1, §3.2.4, §3.3.1-§3.3.2, §6.2-§6.6):
// the fused kernel, the WY/UT chunked form and coefficients()·V against the per-step reference,
// outputs, final state and every gradient (q, k, v, β, log a, s0, with random upstream gradients
// on y and on the final state); central differences of the fused backward in double; the step
// API and the state handoff; bit-identical fused results at 1 and 2 threads.
#include "seqlab/core/delta_scan.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../common/testing.h"

namespace seqlab::core {
namespace delta_scan_test {

const char* const kInputNames[] = {"q", "k", "v", "beta", "log_a", "s0"};

struct Tol {
  double rtol, atol;
};
// §6.2 tolerances.
Tol r_vs_e(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-12, 1e-13} : Tol{1e-5, 1e-6};
}
Tol f_vs_e(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-11, 1e-12} : Tol{1e-4, 1e-5};
}
Tol bwd(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-10, 1e-11} : Tol{1e-3, 1e-5};
}
Tol step_vs_r(torch::ScalarType d) {
  return d == torch::kFloat64 ? Tol{1e-13, 1e-14} : Tol{1e-6, 1e-7};
}

struct DeltaCase {
  int64_t C, T, n, dv;
  double beta;  // every β_t equals this (§6.3 "delta rule β")
  bool gate, with_s0;
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const DeltaCase& c) {
  return os << "C" << c.C << "_T" << c.T << "_n" << c.n << "_dv" << c.dv << "_beta"
            << static_cast<int>(c.beta * 1000) << (c.gate ? "_gated" : "_plain")
            << (c.with_s0 ? "_s0" : "_zero") << (c.dtype == torch::kFloat64 ? "_f64" : "_f32");
}

// T ∈ {1, 2, 7, C−1, C, C+1, 2C+3} for C ∈ {1, 3, 16} (§6.3), crossed with β and the gate; n, dv
// and the initial state cycle with the case index so that each of their values meets every C.
std::vector<DeltaCase> all_cases() {
  const int64_t ns[] = {1, 4, 8}, dvs[] = {1, 3, 8};
  std::vector<DeltaCase> cases;
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    int64_t i = 0;
    for (int64_t C : {1, 3, 16}) {
      // T = C − 1 = 0 at C = 1 has nothing to differentiate: EmptyLength covers it.
      const std::set<int64_t> lengths{1, 2, 7, std::max<int64_t>(C - 1, 1), C, C + 1, 2 * C + 3};
      for (int64_t T : lengths)
        for (double beta : {0.0, 0.5, 1.0, 1.999})
          for (bool gate : {false, true}) {
            cases.push_back(
                {C, T, ns[i % 3], dvs[(i / 3) % 3], beta, gate, (i / 2) % 2 == 1, dtype});
            ++i;
          }
    }
  }
  return cases;
}

// Unit keys (L2-normalized, as the mixers feed them), unit queries, N(0, 1) values, typical gates
// log a ∈ (−0.5, 0], a random initial state: RMS(y) stays O(1) for β up to 2 (§6.2).
struct Inputs {
  torch::Tensor q, k, v, beta, log_a, s0;
  std::vector<torch::Tensor> list() const { return {q, k, v, beta, log_a, s0}; }
};

torch::Tensor unit_rows(const torch::Tensor& x) {
  return x / x.norm(2, -1, true).clamp_min(1e-3);
}

Inputs make_inputs(int64_t B, int64_t H, int64_t T, int64_t n, int64_t dv, double beta, bool gate,
                   bool with_s0, uint64_t seed) {
  torch::manual_seed(seed);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  Inputs in;
  in.q = unit_rows(torch::randn({B, H, T, n}, f64));
  in.k = unit_rows(torch::randn({B, H, T, n}, f64));
  in.v = torch::randn({B, H, T, dv}, f64);
  in.beta = torch::full({B, H, T}, beta, f64);
  if (gate) in.log_a = -0.5 * torch::rand({B, H, T}, f64);
  if (with_s0) in.s0 = torch::randn({B, H, n, dv}, f64);
  return in;
}

Inputs make_inputs(const DeltaCase& c, uint64_t seed) {
  return make_inputs(2, 2, c.T, c.n, c.dv, c.beta, c.gate, c.with_s0, seed);
}

// Fresh leaves in `dtype` that require grad (undefined stays undefined).
Inputs leaves(const Inputs& in, torch::ScalarType dtype) {
  auto leaf = [&](const torch::Tensor& t) {
    return t.defined() ? t.detach().to(dtype).clone().requires_grad_(true) : t;
  };
  return {leaf(in.q), leaf(in.k), leaf(in.v), leaf(in.beta), leaf(in.log_a), leaf(in.s0)};
}

using ScanFn = std::function<ScanResult(const Inputs&)>;

// Runs `fn` on leaves of `in` in `dtype`, backpropagates dy and dS: {y, S_T, ∂q, ∂k, ∂v, ∂β,
// ∂log a, ∂s0} (gradients undefined for absent inputs).
std::vector<torch::Tensor> run(const ScanFn& fn, const Inputs& in, torch::ScalarType dtype,
                               const torch::Tensor& dy, const torch::Tensor& ds) {
  auto x = leaves(in, dtype);
  auto r = fn(x);
  torch::autograd::backward({r.y, r.state}, {dy.to(dtype), ds.to(dtype)});
  std::vector<torch::Tensor> out{r.y.detach(), r.state.detach()};
  for (const auto& t : x.list()) out.push_back(t.defined() ? t.grad() : t);
  return out;
}

ScanFn fused() {
  return [](const Inputs& x) { return delta_scan_fused(x.q, x.k, x.v, x.beta, x.log_a, x.s0); };
}
ScanFn chunked(int64_t C) {
  return
      [C](const Inputs& x) { return delta_scan_chunked(x.q, x.k, x.v, x.beta, x.log_a, x.s0, C); };
}
ScanFn reference() {
  return [](const Inputs& x) { return delta_scan_reference(x.q, x.k, x.v, x.beta, x.log_a, x.s0); };
}

// Forward (y, S_T) and every gradient of `got` against `ref`.
void expect_all_close(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& ref,
                      Tol fwd, Tol grad, const std::string& path) {
  EXPECT_TRUE(testing::close(got[0], ref[0], fwd.rtol, fwd.atol, path + " y"));
  EXPECT_TRUE(testing::close(got[1], ref[1], fwd.rtol, fwd.atol, path + " S_T"));
  for (size_t i = 0; i < 6; ++i) {
    if (!ref[2 + i].defined()) continue;
    EXPECT_TRUE(
        testing::close(got[2 + i], ref[2 + i], grad.rtol, grad.atol, path + " d" + kInputNames[i]));
  }
}

// The numerics run on one intra-op thread: the tiny batched matmuls of the chunked form and of
// autograd open one OpenMP region each (LibTorch's small-matrix bmm), which cost more than the
// work and made this file ~10× slower on a loaded 2-core machine. Thread counts are the subject of
// FusedBitIdenticalAtOneAndTwoThreads, which sets them itself.
class OneThread {
 public:
  OneThread() : saved_(at::get_num_threads()) { at::set_num_threads(1); }
  ~OneThread() { at::set_num_threads(saved_); }

 private:
  int saved_;
};

class DeltaScanContract : public ::testing::TestWithParam<DeltaCase> {
  OneThread one_thread_;
};
class DeltaScan : public ::testing::Test {
  OneThread one_thread_;
};

TEST_P(DeltaScanContract, FusedChunkedCoefficientsAgreeWithReference) {
  const auto& c = GetParam();
  const uint64_t seed = 100 + c.C * 1000 + c.T * 17 + c.n * 5 + c.dv;
  auto in = make_inputs(c, seed);
  auto dy = torch::randn({2, 2, c.T, c.dv}, torch::kFloat64);
  auto ds = torch::randn({2, 2, c.n, c.dv}, torch::kFloat64);
  // The reference in fp64 is the oracle for both dtypes (§6.2).
  const auto ref = run(reference(), in, torch::kFloat64, dy, ds);
  expect_all_close(run(fused(), in, c.dtype, dy, ds), ref, f_vs_e(c.dtype), bwd(c.dtype), "fused");
  expect_all_close(run(chunked(c.C), in, c.dtype, dy, ds), ref, f_vs_e(c.dtype), bwd(c.dtype),
                   "chunked");
  // The reference in the test dtype is itself the R path of §6.2 against E = coefficients·V.
  auto x = leaves(in, c.dtype);
  auto m = delta_scan_coefficients(x.q, x.k, x.beta, x.log_a);
  ASSERT_EQ(m.sizes(), (std::vector<int64_t>{2, 2, c.T, c.T}));
  EXPECT_TRUE(torch::equal(m.triu(1), torch::zeros_like(m))) << "M is not lower-triangular";
  const auto y_e = torch::matmul(m, x.v);  // s0 is not a column of M (§1.4): compare at s0 = 0
  const auto y_r = delta_scan_reference(x.q, x.k, x.v, x.beta, x.log_a).y;
  const Tol re = r_vs_e(c.dtype);
  EXPECT_TRUE(testing::close(y_r, y_e, re.rtol, re.atol, "reference vs coefficients·V"));
}

INSTANTIATE_TEST_SUITE_P(Grid, DeltaScanContract, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<DeltaCase>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

// Lengths around the fused kernel's checkpoint interval (the backward recomputes each chunk of
// kDeltaScanCheckpoint steps from its stored state), and a chunked size that is not a power of
// two (§3.4), with gates, s0 and β close to 2.
TEST_F(DeltaScan, AcrossCheckpointBoundaries) {
  const int64_t C = kDeltaScanCheckpoint;
  for (int64_t T : {C - 1, C, C + 1, 2 * C + 3}) {
    auto in = make_inputs(1, 2, T, 5, 6, 0.0, true, true, 7 + T);
    in.beta = 1.99 * torch::rand({1, 2, T}, torch::kFloat64);
    auto dy = torch::randn({1, 2, T, 6}, torch::kFloat64);
    auto ds = torch::randn({1, 2, 5, 6}, torch::kFloat64);
    const auto ref = run(reference(), in, torch::kFloat64, dy, ds);
    for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
      const std::string tag =
          "T" + std::to_string(T) + (dtype == torch::kFloat64 ? " f64 " : " f32 ");
      expect_all_close(run(fused(), in, dtype, dy, ds), ref, f_vs_e(dtype), bwd(dtype),
                       tag + "fused");
      expect_all_close(run(chunked(24), in, dtype, dy, ds), ref, f_vs_e(dtype), bwd(dtype),
                       tag + "chunked C=24");
    }
  }
}

// Gate regimes of §6.3: near 1 (log a = −1e-6), near 0 (log a = −30, where any exp(+G) form
// overflows), and mixed per step.
TEST_F(DeltaScan, ExtremeGates) {
  const int64_t T = 37;
  auto base = make_inputs(2, 1, T, 4, 3, 0.9, true, true, 11);
  auto dy = torch::randn({2, 1, T, 3}, torch::kFloat64);
  auto ds = torch::randn({2, 1, 4, 3}, torch::kFloat64);
  const std::vector<std::pair<std::string, torch::Tensor>> regimes{
      {"near 1", torch::full({2, 1, T}, -1e-6, torch::kFloat64)},
      {"near 0", torch::full({2, 1, T}, -30.0, torch::kFloat64)},
      {"mixed", torch::where(torch::rand({2, 1, T}, torch::kFloat64) < 0.5,
                             torch::full({2, 1, T}, -30.0, torch::kFloat64),
                             -1e-3 * torch::rand({2, 1, T}, torch::kFloat64))}};
  for (const auto& [name, log_a] : regimes) {
    auto in = base;
    in.log_a = log_a;
    const auto ref = run(reference(), in, torch::kFloat64, dy, ds);
    for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
      expect_all_close(run(fused(), in, dtype, dy, ds), ref, f_vs_e(dtype), bwd(dtype),
                       name + " fused");
      expect_all_close(run(chunked(16), in, dtype, dy, ds), ref, f_vs_e(dtype), bwd(dtype),
                       name + " chunked");
    }
  }
}

// §6.4: L = Σ W_y ⊙ y + ½ Σ W_2 ⊙ y² + Σ W_S ⊙ S_T, central differences in fp64 for every input
// of the fused kernel, inside one checkpoint chunk and across two.
TEST_F(DeltaScan, FusedCentralDifferencesInDouble) {
  for (int64_t T : {int64_t{7}, kDeltaScanCheckpoint + 6}) {
    auto in = make_inputs(1, 2, T, 4, 3, 0.0, true, true, 21 + T);
    in.beta = 1.99 * torch::rand({1, 2, T}, torch::kFloat64);
    auto w1 = torch::randn({1, 2, T, 3}, torch::kFloat64);
    auto w2 = torch::randn({1, 2, T, 3}, torch::kFloat64);
    auto ws = torch::randn({1, 2, 4, 3}, torch::kFloat64);
    std::vector<torch::Tensor> params;
    for (auto* t : {&in.q, &in.k, &in.v, &in.beta, &in.log_a, &in.s0}) {
      params.push_back(t->requires_grad_(true));
    }
    auto loss = [&] {
      auto r = delta_scan_fused(in.q, in.k, in.v, in.beta, in.log_a, in.s0);
      return testing::contract_loss(r.y, w1, w2) + (ws * r.state).sum();
    };
    EXPECT_TRUE(testing::gradcheck(loss, params, {kInputNames, kInputNames + 6})) << "T = " << T;
  }
}

// Without a gate and an initial state (the DeltaNet case), and with gradients requested for
// only some inputs.
TEST_F(DeltaScan, FusedCentralDifferencesWithoutGateAndS0) {
  auto in = make_inputs(2, 1, 9, 3, 2, 1.999, false, false, 31);
  auto w1 = torch::randn({2, 1, 9, 2}, torch::kFloat64);
  auto w2 = torch::randn({2, 1, 9, 2}, torch::kFloat64);
  auto loss = [&] {
    return testing::contract_loss(delta_scan_fused(in.q, in.k, in.v, in.beta, {}).y, w1, w2);
  };
  EXPECT_TRUE(testing::gradcheck(loss, {in.k.requires_grad_(true), in.beta.requires_grad_(true)},
                                 {"k", "beta"}));
}

// step() over the sequence reproduces the reference (§6.6), and a handoff from the fused kernel on
// a prefix to step() on the rest reproduces the fused kernel on the whole sequence (§6.2).
TEST_F(DeltaScan, StepApiAndStateHandoff) {
  const int64_t T = 12, T1 = 5;
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    for (bool gate : {false, true}) {
      auto x = leaves(make_inputs(2, 3, T, 4, 5, 1.5, gate, true, 41), dtype);
      auto slice = [](const torch::Tensor& t, int64_t s) {
        return t.defined() ? t.select(2, s) : t;
      };
      const auto ref = delta_scan_reference(x.q, x.k, x.v, x.beta, x.log_a, x.s0);
      auto state = x.s0;
      std::vector<torch::Tensor> ys;
      for (int64_t t = 0; t < T; ++t) {
        auto r = delta_scan_step(slice(x.q, t), slice(x.k, t), slice(x.v, t), slice(x.beta, t),
                                 slice(x.log_a, t), state);
        ys.push_back(r.y);
        state = r.state;
      }
      const Tol st = step_vs_r(dtype);
      EXPECT_TRUE(testing::close(torch::stack(ys, 2), ref.y, st.rtol, st.atol, "step y"));
      EXPECT_TRUE(testing::close(state, ref.state, st.rtol, st.atol, "step S_T"));

      auto head = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(2, 0, T1) : t; };
      const auto full = delta_scan_fused(x.q, x.k, x.v, x.beta, x.log_a, x.s0);
      auto prefix =
          delta_scan_fused(head(x.q), head(x.k), head(x.v), head(x.beta), head(x.log_a), x.s0);
      state = prefix.state;
      ys = {prefix.y};
      for (int64_t t = T1; t < T; ++t) {
        auto r = delta_scan_step(slice(x.q, t), slice(x.k, t), slice(x.v, t), slice(x.beta, t),
                                 slice(x.log_a, t), state);
        ys.push_back(r.y.unsqueeze(2));
        state = r.state;
      }
      const Tol fe = f_vs_e(dtype);
      EXPECT_TRUE(testing::close(torch::cat(ys, 2), full.y, fe.rtol, fe.atol, "handoff y"));
      EXPECT_TRUE(testing::close(state, full.state, fe.rtol, fe.atol, "handoff S_T"));
    }
  }
}

TEST_F(DeltaScan, FusedBitIdenticalAtOneAndTwoThreads) {
  const int64_t T = 2 * kDeltaScanCheckpoint + 5;
  for (auto dtype : {torch::kFloat32, torch::kFloat64}) {
    auto in = make_inputs(3, 2, T, 8, 19, 1.2, true, true, 51);
    auto dy = torch::randn({3, 2, T, 19}, torch::kFloat64);
    auto ds = torch::randn({3, 2, 8, 19}, torch::kFloat64);
    const int saved = at::get_num_threads();
    at::set_num_threads(1);
    auto one = run(fused(), in, dtype, dy, ds);
    at::set_num_threads(2);
    auto two = run(fused(), in, dtype, dy, ds);
    at::set_num_threads(saved);
    const char* names[] = {"y", "S_T", "dq", "dk", "dv", "dbeta", "dlog_a", "ds0"};
    for (size_t i = 0; i < one.size(); ++i) {
      EXPECT_TRUE(torch::equal(one[i], two[i])) << names[i] << " differs between 1 and 2 threads";
    }
  }
}

// Undefined log a and s0 are a ≡ 1 and S_0 = 0 exactly; the dispatch picks the named path.
TEST_F(DeltaScan, AbsentGateAndStateAndDispatch) {
  auto in = make_inputs(1, 2, 10, 4, 3, 0.7, false, false, 61);
  const auto zeros_gate = torch::zeros({1, 2, 10}, torch::kFloat64);
  const auto zeros_s0 = torch::zeros({1, 2, 4, 3}, torch::kFloat64);
  auto a = delta_scan_fused(in.q, in.k, in.v, in.beta, {});
  auto b = delta_scan_fused(in.q, in.k, in.v, in.beta, zeros_gate, zeros_s0);
  EXPECT_TRUE(torch::equal(a.y, b.y));
  EXPECT_TRUE(torch::equal(a.state, b.state));
  for (auto path : {ScanPath::kFused, ScanPath::kChunked, ScanPath::kReference}) {
    auto r = delta_scan(path, in.q, in.k, in.v, in.beta, {}, {}, 4);
    EXPECT_TRUE(testing::close(r.y, a.y, 1e-11, 1e-12, scan_path_name(path)));
  }
}

TEST_F(DeltaScan, NonContiguousInputs) {
  auto in = make_inputs(2, 3, 9, 4, 5, 0.8, true, true, 71);
  auto expected = delta_scan_reference(in.q, in.k, in.v, in.beta, in.log_a, in.s0);
  // The same values through transposed storage.
  auto nc = [](const torch::Tensor& t) { return t.transpose(0, 1).contiguous().transpose(0, 1); };
  auto got = delta_scan_fused(nc(in.q), nc(in.k), nc(in.v), nc(in.beta), nc(in.log_a), nc(in.s0));
  ASSERT_FALSE(nc(in.q).is_contiguous());
  EXPECT_TRUE(testing::close(got.y, expected.y, 1e-11, 1e-12, "y"));
  EXPECT_TRUE(testing::close(got.state, expected.state, 1e-11, 1e-12, "S_T"));
}

TEST_F(DeltaScan, RejectsBadInputsWithClearMessages) {
  auto in = make_inputs(2, 3, 5, 4, 6, 0.5, true, true, 81);
  auto expect_error = [](const std::function<void()>& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { delta_scan_fused(in.q[0], in.k, in.v, in.beta, {}); }, "(B, H, T, n)");
  expect_error([&] { delta_scan_fused(in.q, in.k.narrow(3, 0, 3), in.v, in.beta, {}); },
               "k must be (B, H, T, n) = (2, 3, 5, 4)");
  expect_error([&] { delta_scan_chunked(in.q, in.k, in.v.narrow(2, 0, 4), in.beta, {}); },
               "v must be (B, H, T, dv)");
  expect_error([&] { delta_scan_reference(in.q, in.k, in.v, in.beta.narrow(2, 0, 1), {}); },
               "beta must be (B, H, T) = (2, 3, 5)");
  expect_error([&] { delta_scan_fused(in.q, in.k, in.v, in.beta, in.log_a[0]); },
               "log_a must be (B, H, T)");
  expect_error([&] { delta_scan_fused(in.q, in.k, in.v, in.beta, {}, in.s0.narrow(3, 0, 2)); },
               "s0 must be (B, H, n, dv) = (2, 3, 4, 6)");
  expect_error([&] { delta_scan_fused(in.q, in.k, in.v.to(torch::kFloat32), in.beta, {}); },
               "dtype");
  expect_error([&] { delta_scan_chunked(in.q, in.k, in.v, in.beta, {}, {}, 0); },
               "chunk must be >= 1");
  expect_error(
      [&] {
        delta_scan_step(in.q.select(2, 0), in.k.select(2, 0), in.v.select(2, 0),
                        in.beta.select(2, 0), {}, in.s0.narrow(2, 0, 3));
      },
      "state must be (B, H, n, dv) = (2, 3, 4, 6)");
}

TEST_F(DeltaScan, EmptyLength) {
  auto in = make_inputs(1, 2, 0, 3, 4, 0.5, true, true, 91);
  for (auto path : {ScanPath::kFused, ScanPath::kChunked, ScanPath::kReference}) {
    auto r = delta_scan(path, in.q, in.k, in.v, in.beta, in.log_a, in.s0, 3);
    EXPECT_EQ(r.y.sizes(), (std::vector<int64_t>{1, 2, 0, 4})) << scan_path_name(path);
    EXPECT_TRUE(torch::equal(r.state, in.s0)) << scan_path_name(path);
  }
}

}  // namespace delta_scan_test
}  // namespace seqlab::core
