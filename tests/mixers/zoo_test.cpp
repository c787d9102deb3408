// The equivalence contract (spec/mixers.md §6) for every mixer in the zoo registry, at small
// sizes: forward (fused and chunked, with a chunk size that does not divide T) == reference ==
// from_core(coefficients @ values), forward and backward, fp64 and fp32; finite differences in
// double through the fast path for every parameter; step() over a sequence == forward;
// causality; state_size() and structure() are reported; unknown names are rejected. Baselines
// outside the framework (structure kNotInFramework) skip only the explicit path, which must raise.
#include "seqlab/mixers/zoo.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/mixers/softmax_attention.h"
#include "seqlab/util/error.h"

namespace seqlab::mixers {
namespace zoo_test {

using seqlab::testing::close;

ZooOptions small_options(core::ScanPath path) {
  ZooOptions o;
  o.d_model = 8;
  o.heads = 2;
  o.state_size = 4;
  o.expand = 2;
  o.conv_size = 3;
  o.chunk_size = 3;
  o.path = path;
  return o;
}

// Same seed, same parameters: the two modules differ only in their path.
std::shared_ptr<Mixer> build(const std::string& name, core::ScanPath path, torch::Dtype dtype) {
  torch::manual_seed(1234);
  auto m = make_mixer(name, small_options(path));
  m->to(dtype);
  return m;
}

torch::Tensor input(int64_t T, torch::Dtype dtype, uint64_t seed = 5) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({2, T, 8}, gen, torch::TensorOptions().dtype(torch::kFloat64)).to(dtype);
}

std::vector<torch::Tensor> param_grads(Mixer& m, const torch::Tensor& y) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  auto w = torch::randn(y.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat64))
               .to(y.scalar_type());
  auto loss = (w * y).sum() + 0.5 * (y * y).sum();
  auto params = m.parameters();
  return torch::autograd::grad({loss}, params, {}, false, false, true);
}

// Whether the registry lists a chunked path for the mixer (channel-wise scans have none: spec
// §3.1 uses the sequential scan for small n).
bool has_chunked_path(const std::string& name) {
  for (const auto& info : mixer_infos())
    if (info.name == name)
      for (const auto& p : info.paths)
        if (p == "chunked") return true;
  return false;
}

bool in_framework_decomposition(Mixer& m, const torch::Tensor& x) {
  try {
    m.values(x);
    return true;
  } catch (const std::logic_error&) {
    return false;
  }
}

class ZooContract : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooContract, PathsAgreeForwardAndBackwardFp64) {
  const auto name = GetParam();
  const int64_t T = 7;
  const bool chunk = has_chunked_path(name);
  auto fused = build(name, core::ScanPath::kFused, torch::kFloat64);
  auto chunked =
      build(name, chunk ? core::ScanPath::kChunked : core::ScanPath::kFused, torch::kFloat64);
  auto x = input(T, torch::kFloat64);
  auto y_ref = fused->reference(x);
  auto y = fused->forward(x);
  EXPECT_TRUE(close(y, y_ref, 1e-11, 1e-12, name + " fused vs reference"));
  EXPECT_TRUE(close(chunked->forward(x), y_ref, 1e-11, 1e-12, name + " chunked vs reference"));
  EXPECT_EQ(y.sizes(), x.sizes());

  auto g_ref = param_grads(*fused, fused->reference(x));
  auto g_fused = param_grads(*fused, fused->forward(x));
  auto g_chunked = param_grads(*chunked, chunked->forward(x));
  auto names = fused->named_parameters().keys();
  for (size_t i = 0; i < g_ref.size(); ++i) {
    EXPECT_TRUE(close(g_fused[i], g_ref[i], 1e-10, 1e-11, name + " fused d" + names[i]));
    EXPECT_TRUE(close(g_chunked[i], g_ref[i], 1e-10, 1e-11, name + " chunked d" + names[i]));
  }

  // Baselines outside the framework (§2.3, §6.1) have F and R only: coefficients() raises.
  if (fused->structure() == Structure::kNotInFramework) {
    EXPECT_THROW(fused->coefficients(x), std::logic_error) << name;
    EXPECT_FALSE(in_framework_decomposition(*fused, x)) << name;
  }
  if (in_framework_decomposition(*fused, x)) {
    auto M = fused->coefficients(x);
    auto explicit_y = fused->from_core(x, torch::matmul(M, fused->values(x)));
    EXPECT_TRUE(close(explicit_y, y_ref, 1e-11, 1e-12, name + " explicit vs reference"));
    EXPECT_EQ(M.size(-1), T);
    EXPECT_EQ(M.size(-2), T);
    auto upper = torch::ones({T, T}, torch::kBool).triu(1);
    EXPECT_EQ(M.masked_select(upper).abs().max().item<double>(), 0.0) << name << ": not causal";
  }
}

TEST_P(ZooContract, PathsAgreeFp32) {
  const auto name = GetParam();
  auto fused = build(name, core::ScanPath::kFused, torch::kFloat32);
  auto chunked =
      build(name, has_chunked_path(name) ? core::ScanPath::kChunked : core::ScanPath::kFused,
            torch::kFloat32);
  auto x = input(20, torch::kFloat32);
  auto y_ref = fused->reference(x);
  EXPECT_TRUE(close(fused->forward(x), y_ref, 1e-4, 1e-5, name + " fused fp32"));
  EXPECT_TRUE(close(chunked->forward(x), y_ref, 1e-4, 1e-5, name + " chunked fp32"));
  auto g_ref = param_grads(*fused, y_ref);
  auto g_fused = param_grads(*fused, fused->forward(x));
  for (size_t i = 0; i < g_ref.size(); ++i)
    EXPECT_TRUE(close(g_fused[i], g_ref[i], 1e-3, 1e-5, name + " fp32 grad " + std::to_string(i)));
}

TEST_P(ZooContract, FastPathGradientsMatchCentralDifferences) {
  const auto name = GetParam();
  auto m = build(name, core::ScanPath::kFused, torch::kFloat64);
  auto x = input(5, torch::kFloat64).requires_grad_(true);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto w = torch::randn({2, 5, 8}, gen, torch::TensorOptions().dtype(torch::kFloat64));
  auto loss = [&] {
    auto y = m->forward(x);
    return (w * y).sum() + 0.5 * (y * y).sum();
  };
  auto params = m->parameters();
  auto names = m->named_parameters().keys();
  params.push_back(x);
  names.push_back("input");
  EXPECT_TRUE(seqlab::testing::gradcheck(loss, params, names)) << name;
}

TEST_P(ZooContract, StepOverTheSequenceReproducesForward) {
  const auto name = GetParam();
  auto m = build(name, core::ScanPath::kFused, torch::kFloat64);
  auto x = input(9, torch::kFloat64);
  auto y = m->forward(x);
  std::vector<torch::Tensor> state;
  try {
    state = m->initial_state(2, x.options());
  } catch (const std::logic_error&) {
    GTEST_SKIP() << name << " has no step API";
  }
  for (int64_t t = 0; t < 9; ++t) {
    auto y_t = m->step(state, x.select(1, t));
    EXPECT_TRUE(close(y_t, y.select(1, t), 1e-11, 1e-12, name + " step " + std::to_string(t)));
  }
}

TEST_P(ZooContract, CausalPerturbingOneStepLeavesEarlierOutputs) {
  const auto name = GetParam();
  auto m = build(name, core::ScanPath::kFused, torch::kFloat64);
  auto x = input(10, torch::kFloat64);
  auto y = m->forward(x).detach();
  auto x2 = x.clone();
  x2.select(1, 6).add_(1.0);
  auto y2 = m->forward(x2).detach();
  EXPECT_TRUE(close(y2.narrow(1, 0, 6), y.narrow(1, 0, 6), 0.0, 1e-13, name + " causality"));
  EXPECT_FALSE(torch::allclose(y2.select(1, 6), y.select(1, 6))) << name << " ignores x_t";
}

TEST_P(ZooContract, ReportsStructureAndStateSize) {
  const auto name = GetParam();
  auto m = build(name, core::ScanPath::kFused, torch::kFloat32);
  // Only a mixer without time mixing (the MLP baseline, outside the framework) carries no state.
  EXPECT_GE(m->state_size(10), 0) << name;
  if (m->state_size(10) == 0) {
    EXPECT_EQ(m->structure(), Structure::kNotInFramework) << name;
  }
  bool found = false;
  for (const auto& info : mixer_infos())
    if (info.name == name) {
      found = true;
      EXPECT_EQ(info.structure, m->structure()) << name;
      EXPECT_FALSE(info.paths.empty());
    }
  EXPECT_TRUE(found);
}

INSTANTIATE_TEST_SUITE_P(AllMixers, ZooContract, ::testing::ValuesIn(mixer_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(Zoo, UnknownMixerNamesTheValidOnes) {
  try {
    make_mixer("transformerz", ZooOptions());
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("gla"), std::string::npos) << e.what();
  }
}

TEST(Zoo, BadHeadCountIsAUserError) {
  ZooOptions o;
  o.d_model = 10;
  o.heads = 3;
  EXPECT_THROW(make_mixer("gla", o), UserError);
  EXPECT_THROW(make_mixer("linear_attention", o), UserError);
}

TEST(Zoo, BidirectionalMakesAttentionNonCausalAndIsRefusedByCausalScans) {
  // model.bidirectional: attention mixers drop the causal mask (mixers.md §1.2, local attention
  // sees chunks c-1, c, c+1); the causal scans refuse it, naming the mixers that accept it.
  auto o = small_options(core::ScanPath::kFused);
  o.bidirectional = true;
  for (const char* name :
       {"softmax_attention", "softmax_nope", "softmax_alibi", "local_attention"}) {
    auto m = make_mixer(name, o);
    auto attn = std::dynamic_pointer_cast<SoftmaxAttentionImpl>(m);
    ASSERT_TRUE(attn) << name;
    EXPECT_FALSE(attn->causal()) << name;
    EXPECT_EQ(attn->end_visible_key(0, 10), std::string(name) == "local_attention" ? 6 : 10);
  }
  EXPECT_TRUE(std::dynamic_pointer_cast<SoftmaxAttentionImpl>(
                  make_mixer("softmax_attention", small_options(core::ScanPath::kFused)))
                  ->causal());
  try {
    make_mixer("gla", o);
    FAIL() << "no error";
  } catch (const UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("gla"), std::string::npos) << msg;
    EXPECT_NE(msg.find("local_attention"), std::string::npos) << msg;
  }
  EXPECT_THROW(make_mixer("lru", o), UserError);
}

}  // namespace zoo_test
}  // namespace seqlab::mixers

namespace seqlab::mixers {
namespace zoo_test {

// Worked values at initialization (spec §4.2 table): RetNet γ_h = 1 − 2^{−5−h} gives horizons
// 2^{5+h}; GLA on u ≈ 0 has a ≈ σ(bias)^{1/16} ≈ 0.9576, horizon ≈ 23.6.
TEST(ZooDiagnostics, WorkedValuesAtInitialization) {
  ZooOptions o;
  o.d_model = 16;
  o.heads = 2;
  auto x = torch::zeros({1, 5, 16});
  auto retnet = core::diagnose(make_mixer("retnet", o)->transitions(x));
  EXPECT_NEAR(retnet.memory_horizon.min, 32.0, 1e-3);
  EXPECT_NEAR(retnet.memory_horizon.max, 64.0, 1e-3);
  auto gla = core::diagnose(make_mixer("gla", o)->transitions(x));
  EXPECT_NEAR(gla.memory_horizon.median, 23.6, 3.0);
  EXPECT_LT(gla.spectral_radius.max, 1.0);
  auto lin = core::diagnose(make_mixer("linear_attention", o)->transitions(x));
  EXPECT_EQ(lin.kind, "identity");
  EXPECT_NEAR(lin.spectral_radius.max, 1.0, 0.0);
}

}  // namespace zoo_test
}  // namespace seqlab::mixers
