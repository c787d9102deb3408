// Gated matrix-state scan: reference vs explicit coefficients vs fused vs chunked, forward and
// backward, fp64 and fp32 (spec/mixers.md §6.2-§6.5): identity, scalar and diagonal gates; gates
// near 1 and near 0 and mixed per channel; chunk sizes that do and do not divide T; random
// initial states and a gradient on the final state; finite differences in double; thread-count
// independence; state handoff between the fused path and the step API.
#include "seqlab/core/gated_scan.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "../common/testing.h"

namespace seqlab::core {
namespace gated_scan_test {

using seqlab::testing::close;

enum class Gate { kNone, kScalar, kDiagonal };
enum class Regime { kTypical, kNearOne, kNearZero, kMixed };

struct Inputs {
  torch::Tensor q, k, v, g, s0;
  std::vector<torch::Tensor> all() const {
    std::vector<torch::Tensor> out = {q, k, v};
    if (g.defined()) out.push_back(g);
    if (s0.defined()) out.push_back(s0);
    return out;
  }
};

// Log-gates for each regime (§6.3 "gates"): typical −softplus(N(0,1)) ∈ (−∞, 0); near one
// −1e-6; near zero −30; mixed: alternating channels near one and near zero.
torch::Tensor make_gate(Gate gate, Regime regime, int64_t B, int64_t H, int64_t T, int64_t n,
                        torch::Generator& gen) {
  if (gate == Gate::kNone) return {};
  const int64_t w = gate == Gate::kScalar ? 1 : n;
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  switch (regime) {
    case Regime::kTypical:
      return -torch::softplus(torch::randn({B, H, T, w}, gen, opts));
    case Regime::kNearOne:
      return torch::full({B, H, T, w}, -1e-6, opts);
    case Regime::kNearZero:
      return torch::full({B, H, T, w}, -30.0, opts);
    case Regime::kMixed: {
      auto idx = torch::arange(w, opts);
      auto per_channel = torch::where(idx.remainder(2) == 0, torch::full_like(idx, -1e-6),
                                      torch::full_like(idx, -30.0));
      return per_channel.expand({B, H, T, w}).clone();
    }
  }
  return {};
}

Inputs make_inputs(int64_t T, int64_t n, int64_t dv, Gate gate, Regime regime, bool with_s0,
                   torch::ScalarType dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const int64_t B = 2, H = 2;
  Inputs in;
  in.q = torch::randn({B, H, T, n}, gen, opts) / std::sqrt(double(n));
  in.k = torch::randn({B, H, T, n}, gen, opts);
  in.v = torch::randn({B, H, T, dv}, gen, opts);
  in.g = make_gate(gate, regime, B, H, T, n, gen);
  if (with_s0) in.s0 = torch::randn({B, H, n, dv}, gen, opts);
  auto cast = [&](torch::Tensor& t) {
    if (t.defined()) t = t.to(dtype).requires_grad_(true);
  };
  cast(in.q);
  cast(in.k);
  cast(in.v);
  cast(in.g);
  cast(in.s0);
  return in;
}

// Loss of §6.4 with fixed random weights on y, y² and the final state; returns the gradients of
// every input.
std::vector<torch::Tensor> grads_of(const ScanResult& r, const Inputs& in, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto opts = r.y.options().requires_grad(false);
  auto wy = torch::randn(r.y.sizes(), gen, opts.dtype(torch::kFloat64)).to(r.y.scalar_type());
  auto w2 = torch::randn(r.y.sizes(), gen, opts.dtype(torch::kFloat64)).to(r.y.scalar_type());
  auto ws = torch::randn(r.state.sizes(), gen, opts.dtype(torch::kFloat64)).to(r.y.scalar_type());
  auto loss = (wy * r.y).sum() + 0.5 * (w2 * r.y * r.y).sum() + (ws * r.state).sum();
  return torch::autograd::grad({loss}, in.all(), {}, false, false, true);
}

const char* gate_name(Gate g) {
  return g == Gate::kNone ? "identity" : g == Gate::kScalar ? "scalar" : "diagonal";
}

struct Tolerances {
  double fwd_rtol, fwd_atol, bwd_rtol, bwd_atol;
};

void check_all_paths(int64_t T, int64_t n, int64_t dv, Gate gate, Regime regime, bool with_s0,
                     torch::ScalarType dtype, const std::vector<int64_t>& chunks) {
  const Tolerances tol = dtype == torch::kFloat64 ? Tolerances{1e-11, 1e-12, 1e-10, 1e-11}
                                                  : Tolerances{1e-4, 1e-5, 1e-3, 1e-5};
  const std::string what =
      std::string(gate_name(gate)) + " T=" + std::to_string(T) + " n=" + std::to_string(n) +
      " dv=" + std::to_string(dv) + " regime=" + std::to_string(int(regime)) +
      " s0=" + std::to_string(with_s0) + " " + std::string(c10::toString(dtype));
  auto in = make_inputs(T, n, dv, gate, regime, with_s0, dtype, 7 + T * 31 + n * 7 + dv);
  // The oracle runs in fp64.
  auto ref64 =
      make_inputs(T, n, dv, gate, regime, with_s0, torch::kFloat64, 7 + T * 31 + n * 7 + dv);
  auto ref = gated_scan_reference(ref64.q, ref64.k, ref64.v, ref64.g, ref64.s0);
  auto ref_grads = grads_of(ref, ref64, 3);

  if (!with_s0) {
    auto M = gated_scan_coefficients(ref64.q, ref64.k, ref64.g);
    EXPECT_TRUE(close(torch::matmul(M, ref64.v), ref.y, 1e-12, 1e-13, "R vs E " + what));
  }
  auto check = [&](const ScanResult& r, const Inputs& used, const std::string& path) {
    EXPECT_TRUE(close(r.y, ref.y, tol.fwd_rtol, tol.fwd_atol, path + " y " + what));
    EXPECT_TRUE(close(r.state, ref.state, tol.fwd_rtol, tol.fwd_atol, path + " S_T " + what));
    auto gr = grads_of(r, used, 3);
    const char* names[] = {"dq", "dk", "dv", "dg/ds0", "ds0"};
    for (size_t i = 0; i < gr.size(); ++i)
      EXPECT_TRUE(close(gr[i], ref_grads[i], tol.bwd_rtol, tol.bwd_atol,
                        path + " " + names[i] + " " + what));
  };
  check(gated_scan_fused(in.q, in.k, in.v, in.g, in.s0), in, "fused");
  for (int64_t C : chunks)
    check(gated_scan_chunked(in.q, in.k, in.v, in.g, in.s0, C), in,
          "chunked C=" + std::to_string(C));
}

TEST(GatedScan, AllPathsAgreeAcrossLengthsAndChunksFp64) {
  for (Gate gate : {Gate::kNone, Gate::kScalar, Gate::kDiagonal})
    for (int64_t T : {1, 2, 7, 15, 16, 17, 35})
      check_all_paths(T, 4, 3, gate, Regime::kTypical, T % 2 == 1, torch::kFloat64, {1, 3, 16});
}

TEST(GatedScan, AllPathsAgreeAcrossSizesFp64) {
  for (Gate gate : {Gate::kScalar, Gate::kDiagonal})
    for (int64_t n : {1, 4, 8})
      for (int64_t dv : {1, 3, 8})
        check_all_paths(9, n, dv, gate, Regime::kTypical, true, torch::kFloat64, {4});
}

// The fused kernel splits the dv columns into register blocks of 4 SIMD vectors, single vectors
// and a scalar tail (4 lanes in fp64, 8 in fp32): widths 23 and 43 exercise all three in both.
TEST(GatedScan, RegisterBlocksAndTailsAgree) {
  for (Gate gate : {Gate::kNone, Gate::kDiagonal})
    for (int64_t dv : {23, 43}) {
      check_all_paths(9, 5, dv, gate, Regime::kTypical, true, torch::kFloat64, {4});
      check_all_paths(9, 5, dv, gate, Regime::kTypical, true, torch::kFloat32, {4});
    }
}

TEST(GatedScan, GatesNearOneNearZeroAndMixedFp64) {
  for (Gate gate : {Gate::kScalar, Gate::kDiagonal})
    for (Regime regime : {Regime::kNearOne, Regime::kNearZero, Regime::kMixed})
      check_all_paths(40, 4, 3, gate, regime, true, torch::kFloat64, {16});
}

TEST(GatedScan, AllPathsAgreeFp32) {
  for (Gate gate : {Gate::kNone, Gate::kScalar, Gate::kDiagonal})
    for (Regime regime : {Regime::kTypical, Regime::kNearZero, Regime::kMixed})
      check_all_paths(70, 8, 8, gate, regime, true, torch::kFloat32, {16, 64});
}

TEST(GatedScan, FusedBackwardMatchesCentralDifferences) {
  for (Gate gate : {Gate::kNone, Gate::kScalar, Gate::kDiagonal}) {
    auto in = make_inputs(6, 3, 2, gate, Regime::kTypical, true, torch::kFloat64, 11);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    auto wy = torch::randn({2, 2, 6, 2}, gen, opts), w2 = torch::randn({2, 2, 6, 2}, gen, opts);
    auto ws = torch::randn({2, 2, 3, 2}, gen, opts);
    auto loss = [&] {
      auto r = gated_scan_fused(in.q, in.k, in.v, in.g, in.s0);
      return (wy * r.y).sum() + 0.5 * (w2 * r.y * r.y).sum() + (ws * r.state).sum();
    };
    std::vector<std::string> names = {"q", "k", "v"};
    if (in.g.defined()) names.push_back("g");
    names.push_back("s0");
    EXPECT_TRUE(seqlab::testing::gradcheck(loss, in.all(), names)) << gate_name(gate);
  }
}

TEST(GatedScan, FusedIsBitIdenticalAtOneAndTwoThreads) {
  const int saved = at::get_num_threads();
  auto in = make_inputs(50, 8, 8, Gate::kDiagonal, Regime::kTypical, true, torch::kFloat32, 3);
  std::vector<std::vector<torch::Tensor>> results;
  for (int threads : {1, 2}) {
    at::set_num_threads(threads);
    auto r = gated_scan_fused(in.q, in.k, in.v, in.g, in.s0);
    auto gr = grads_of(r, in, 1);
    gr.push_back(r.y.detach());
    results.push_back(gr);
  }
  at::set_num_threads(saved);
  for (size_t i = 0; i < results[0].size(); ++i)
    EXPECT_TRUE(torch::equal(results[0][i], results[1][i])) << "tensor " << i;
}

TEST(GatedScan, FusedPrefixThenStepsEqualsFullSequence) {
  auto in = make_inputs(20, 4, 3, Gate::kDiagonal, Regime::kTypical, false, torch::kFloat64, 9);
  auto full = gated_scan_fused(in.q, in.k, in.v, in.g);
  const int64_t T1 = 13;
  auto pre = gated_scan_fused(in.q.narrow(2, 0, T1), in.k.narrow(2, 0, T1), in.v.narrow(2, 0, T1),
                              in.g.narrow(2, 0, T1));
  auto S = pre.state;
  for (int64_t t = T1; t < 20; ++t) {
    auto r = gated_scan_step(in.q.select(2, t), in.k.select(2, t), in.v.select(2, t),
                             in.g.select(2, t), S);
    EXPECT_TRUE(close(r.y, full.y.select(2, t), 1e-11, 1e-12, "step " + std::to_string(t)));
    S = r.state;
  }
  EXPECT_TRUE(close(S, full.state, 1e-11, 1e-12, "final state"));
}

TEST(GatedScan, CausalityPerturbingOneStepLeavesEarlierOutputs) {
  auto in = make_inputs(12, 4, 3, Gate::kDiagonal, Regime::kTypical, false, torch::kFloat64, 4);
  auto base = gated_scan_fused(in.q, in.k, in.v, in.g).y.detach();
  auto v2 = in.v.detach().clone();
  v2.select(2, 7).add_(1.0);
  auto k2 = in.k.detach().clone();
  k2.select(2, 7).add_(1.0);
  for (auto path : {ScanPath::kFused, ScanPath::kChunked, ScanPath::kReference}) {
    auto y = gated_scan(path, in.q, k2, v2, in.g, {}, 5).y.detach();
    EXPECT_TRUE(torch::equal(y.narrow(2, 0, 7), base.narrow(2, 0, 7)) ||
                close(y.narrow(2, 0, 7), base.narrow(2, 0, 7), 0, 1e-14))
        << scan_path_name(path);
  }
}

TEST(GatedScan, RejectsBadShapesWithTheExpectedShape) {
  auto q = torch::randn({2, 2, 5, 4});
  auto v = torch::randn({2, 2, 5, 3});
  try {
    gated_scan_fused(q, q, v, torch::zeros({2, 2, 5, 3}));
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("g must be (B, H, T, n)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gated_scan_chunked(q, q, v, {}, {}, 0), c10::Error);
}

}  // namespace gated_scan_test
}  // namespace seqlab::core
