// DeltaNet and Gated DeltaNet (spec/mixers.md §2.2.17-§2.2.18): the equivalence contract (§6)
// between forward (fused and chunked cores), reference and from_core(coefficients·values),
// forward and backward for every parameter; central differences of the layer in double (§6.4);
// step() over the sequence (§6.6); causality (§6.3); state_size, initialization and option errors.
#include "seqlab/mixers/deltanet.h"

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
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace deltanet_test {

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

struct MixerCase {
  bool gated;
  core::ScanPath path;
  int64_t conv;     // conv_size
  bool neg_eigval;  // allow_neg_eigval
  torch::ScalarType dtype;
};

std::ostream& operator<<(std::ostream& os, const MixerCase& c) {
  return os << (c.gated ? "gated" : "plain") << "_" << core::scan_path_name(c.path) << "_conv"
            << c.conv << (c.neg_eigval ? "_neg" : "_pos")
            << (c.dtype == torch::kFloat64 ? "_f64" : "_f32");
}

std::vector<MixerCase> mixer_cases() {
  std::vector<MixerCase> cases;
  for (auto dtype : {torch::kFloat32, torch::kFloat64})
    for (bool gated : {false, true})
      for (auto path : {core::ScanPath::kFused, core::ScanPath::kChunked}) {
        cases.push_back({gated, path, 4, gated, dtype});
        cases.push_back({gated, path, 0, !gated, dtype});
      }
  return cases;
}

// d = 8, 2 heads of n = dv = 4; chunk 4 so that T = 9 does not divide it (§3.2 padding).
ZooOptions options_for(const MixerCase& c) {
  ZooOptions o;
  o.d_model = 8;
  o.heads = 2;
  o.conv_size = c.conv;
  o.chunk_size = 4;
  o.path = c.path;
  o.allow_neg_eigval = c.neg_eigval;
  return o;
}

std::shared_ptr<DeltaNetImpl> make(const MixerCase& c, uint64_t seed) {
  torch::manual_seed(seed);
  auto m = c.gated ? std::make_shared<GatedDeltaNetImpl>(options_for(c))
                   : std::make_shared<DeltaNetImpl>(options_for(c));
  m->to(c.dtype);
  return m;
}

// Gradients of sum(g ⊙ fn(x)) for every named parameter, in registration order.
std::vector<std::pair<std::string, torch::Tensor>> param_grads(
    DeltaNetImpl& m, const std::function<torch::Tensor()>& fn, const torch::Tensor& g) {
  m.zero_grad();
  (fn() * g).sum().backward();
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().grad().clone());
  return out;
}

// One intra-op thread: the small convs and matmuls of these sizes open one OpenMP region per op,
// which cost more than the work and made the layer gradient check ~20× slower on a loaded 2-core
// machine. The fused kernel's thread independence is tested in tests/core/delta_scan_test.cpp.
class OneThread {
 public:
  OneThread() : saved_(at::get_num_threads()) { at::set_num_threads(1); }
  ~OneThread() { at::set_num_threads(saved_); }

 private:
  int saved_;
};

class DeltaNetContract : public ::testing::TestWithParam<MixerCase> {
  OneThread one_thread_;
};
class DeltaNet : public ::testing::Test {
  OneThread one_thread_;
};

TEST_P(DeltaNetContract, ForwardReferenceCoefficientsAgreeForwardAndBackward) {
  const auto& c = GetParam();
  const int64_t B = 2, T = 9;
  auto m = make(c, 5 + c.conv + 2 * c.gated);
  auto x = torch::randn({B, T, 8}, torch::TensorOptions().dtype(c.dtype));
  const auto y_f = m->forward(x), y_r = m->reference(x);
  const auto y_e = m->from_core(x, torch::matmul(m->coefficients(x), m->values(x)));
  ASSERT_EQ(y_f.sizes(), x.sizes());
  const Tol fe = f_vs_e(c.dtype), re = r_vs_e(c.dtype), bw = bwd(c.dtype);
  const double rms = y_r.pow(2).mean().sqrt().item<double>();
  EXPECT_TRUE(rms > 0.01 && rms < 10) << "RMS(y) = " << rms;
  EXPECT_TRUE(testing::close(y_r, y_e, re.rtol, re.atol, "reference vs explicit"));
  EXPECT_TRUE(testing::close(y_f, y_e, fe.rtol, fe.atol, "forward vs explicit"));
  EXPECT_TRUE(testing::close(y_f, y_r, fe.rtol, fe.atol, "forward vs reference"));

  auto g = torch::randn_like(x);
  const auto gf = param_grads(
      *m, [&] { return m->forward(x); }, g);
  const auto gr = param_grads(
      *m, [&] { return m->reference(x); }, g);
  const auto ge = param_grads(
      *m, [&] { return m->from_core(x, torch::matmul(m->coefficients(x), m->values(x))); }, g);
  ASSERT_EQ(gf.size(), gr.size());
  for (size_t i = 0; i < gf.size(); ++i) {
    EXPECT_TRUE(testing::close(gf[i].second, ge[i].second, bw.rtol, bw.atol,
                               "d" + gf[i].first + " forward vs explicit"));
    EXPECT_TRUE(testing::close(gf[i].second, gr[i].second, bw.rtol, bw.atol,
                               "d" + gf[i].first + " forward vs reference"));
  }
}

// step() over the whole sequence reproduces the reference (§6.2 "step vs R") and the forward.
TEST_P(DeltaNetContract, StepOverSequenceMatchesForward) {
  const auto& c = GetParam();
  const int64_t B = 2, T = 9;
  auto m = make(c, 31 + c.conv);
  auto x = torch::randn({B, T, 8}, torch::TensorOptions().dtype(c.dtype));
  auto state = m->initial_state(B, x.options());
  int64_t floats = 0;
  for (const auto& s : state) floats += s.numel() / B;
  EXPECT_EQ(floats, m->state_size(T));
  std::vector<torch::Tensor> ys;
  for (int64_t t = 0; t < T; ++t) ys.push_back(m->step(state, x.select(1, t)));
  const auto y_s = torch::stack(ys, 1);
  const Tol st = step_vs_r(c.dtype), fe = f_vs_e(c.dtype);
  EXPECT_TRUE(testing::close(y_s, m->reference(x), st.rtol, st.atol, "step vs reference"));
  EXPECT_TRUE(testing::close(y_s, m->forward(x), fe.rtol, fe.atol, "step vs forward"));
}

// Perturbing x_t leaves y_{<t} unchanged: exactly in the reference, within atol in forward (§6.3).
TEST_P(DeltaNetContract, Causal) {
  const auto& c = GetParam();
  const int64_t T = 9, t = 5;
  auto m = make(c, 41);
  auto x = torch::randn({2, T, 8}, torch::TensorOptions().dtype(c.dtype));
  auto x2 = x.clone();
  x2.select(1, t).add_(torch::randn_like(x2.select(1, t)));
  torch::NoGradGuard no_grad;
  const Tol fe = f_vs_e(c.dtype);
  EXPECT_TRUE(torch::equal(m->reference(x).narrow(1, 0, t), m->reference(x2).narrow(1, 0, t)));
  const auto before = m->forward(x).narrow(1, 0, t), after = m->forward(x2).narrow(1, 0, t);
  EXPECT_LE((before - after).abs().max().item<double>(), fe.atol);
  EXPECT_FALSE(torch::equal(m->forward(x).narrow(1, t, 1), m->forward(x2).narrow(1, t, 1)));
}

INSTANTIATE_TEST_SUITE_P(Grid, DeltaNetContract, ::testing::ValuesIn(mixer_cases()),
                         [](const ::testing::TestParamInfo<MixerCase>& info) {
                           std::ostringstream os;
                           os << info.param;
                           return os.str();
                         });

// §6.4 at the layer level: central differences in fp64 for every parameter of Gated DeltaNet
// (projections, convs, norm, A_log, dt_bias) and of DeltaNet, through the fused core.
TEST_F(DeltaNet, LayerCentralDifferencesInDouble) {
  for (bool gated : {false, true}) {
    ZooOptions o;
    o.d_model = 6;
    o.heads = 2;
    o.conv_size = 3;
    o.allow_neg_eigval = true;
    torch::manual_seed(51);
    auto m = gated ? make_gated_deltanet(o) : make_deltanet(o);
    m->to(torch::kFloat64);
    auto x = torch::randn({1, 6, 6}, torch::kFloat64);
    auto w1 = torch::randn({1, 6, 6}, torch::kFloat64),
         w2 = torch::randn({1, 6, 6}, torch::kFloat64);
    std::vector<torch::Tensor> params;
    std::vector<std::string> names;
    for (const auto& p : m->named_parameters()) {
      params.push_back(p.value());
      names.push_back(p.key());
    }
    auto loss = [&] { return testing::contract_loss(m->forward(x), w1, w2); };
    EXPECT_TRUE(testing::gradcheck(loss, params, names)) << (gated ? "gated" : "plain");
  }
}

TEST_F(DeltaNet, StructureStateSizeAndParameters) {
  ZooOptions o;
  o.d_model = 12;
  o.heads = 3;
  o.head_dim = 5;
  o.conv_size = 4;
  auto plain = make_deltanet(o);
  auto gated = make_gated_deltanet(o);
  EXPECT_EQ(plain->structure(), Structure::kIdentityMinusRank1);
  EXPECT_EQ(gated->structure(), Structure::kIdentityMinusRank1);
  // H·n·dv + (K − 1)(2·H·n + H·dv) = 3·5·5 + 3·(30 + 15).
  EXPECT_EQ(plain->state_size(0), 75 + 135);
  EXPECT_EQ(gated->state_size(1000), 75 + 135);
  o.conv_size = 0;
  EXPECT_EQ(make_deltanet(o)->state_size(7), 75);
  std::vector<std::string> plain_names, gated_names;
  for (const auto& p : plain->named_parameters()) plain_names.push_back(p.key());
  for (const auto& p : gated->named_parameters()) gated_names.push_back(p.key());
  EXPECT_EQ(plain_names.size(), 9u) << "q, k, v, b, o projections, three convs, norm";
  EXPECT_EQ(gated_names.size(), 13u) << "plus a_proj, g_proj, A_log, dt_bias";
  auto x = torch::randn({2, 5, 12});
  EXPECT_EQ(plain->forward(x).sizes(), x.sizes());
  EXPECT_EQ(gated->values(x).sizes(), (std::vector<int64_t>{2, 3, 5, 5}));
  EXPECT_EQ(gated->coefficients(x).sizes(), (std::vector<int64_t>{2, 3, 5, 5}));
}

// §2.2.18: A ~ U(0, 16) through A_log, softplus(dt_bias) = dt ∈ [1e-3, 1e-1].
TEST_F(DeltaNet, GatedInitialization) {
  ZooOptions o;
  o.d_model = 64;
  o.heads = 64;
  torch::manual_seed(61);
  GatedDeltaNetImpl m(o);
  const auto a = torch::exp(m.A_log);
  EXPECT_GE(a.min().item<double>(), 0.0);
  EXPECT_LE(a.max().item<double>(), 16.0);
  EXPECT_GT(a.max().item<double>(), 8.0) << "A should spread over (0, 16)";
  const auto dt = torch::softplus(m.dt_bias);
  EXPECT_GE(dt.min().item<double>(), 1e-3 * (1 - 1e-4));
  EXPECT_LE(dt.max().item<double>(), 1e-1 * (1 + 1e-4));
  // Log-uniform: about half of the 64 values below the geometric mean 1e-2.
  const auto below = (dt < 1e-2).sum().item<int64_t>();
  EXPECT_GT(below, 16);
  EXPECT_LT(below, 48);
}

TEST_F(DeltaNet, BadOptionsAreUserErrorsNamingTheOption) {
  auto expect_error = [](const ZooOptions& o, const std::string& needle) {
    try {
      make_gated_deltanet(o);
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  ZooOptions o;
  o.d_model = 0;
  expect_error(o, "d_model must be >= 1");
  o = ZooOptions();
  o.heads = 0;
  expect_error(o, "heads must be >= 1");
  o = ZooOptions();
  o.heads = 5;
  expect_error(o, "heads must divide d_model = 64");
  o.head_dim = 8;  // an explicit head_dim lifts the divisibility requirement
  EXPECT_NO_THROW(make_gated_deltanet(o));
  o = ZooOptions();
  o.head_dim = -1;
  expect_error(o, "head_dim must be >= 1, or 0");
  o = ZooOptions();
  o.conv_size = -2;
  expect_error(o, "conv_size must be >= 1, or 0");
  o = ZooOptions();
  o.chunk_size = 0;
  expect_error(o, "chunk_size must be >= 1");
}

}  // namespace deltanet_test
}  // namespace seqlab::mixers
