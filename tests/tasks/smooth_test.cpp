// Smoothness regression tasks (tasks/smooth.h): the golden examples of spec/tasks.md §5 (§6 rows
// 65-69), the index-set sizes of the §5.2 presets and protocols.md §1.3, the enumeration of Λ
// against brute force, the coefficient law and Var f = 1, and sampled batches: targets equal a
// direct evaluation through ψ products of independently extracted coordinates (fixed and dynamic,
// final and seq readouts), the noise sd, permutation invariance of the dynamic variant, the
// margin, determinism, shapes and bad options.
#include "seqlab/tasks/smooth.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/util/error.h"

namespace seqlab::tasks {
namespace smooth_test {

using seqlab::testing::expect_near_all;

const double kSqrt2 = std::sqrt(2.0);

// f(z) = Σ_t c_t Π_{(c, j) ∈ term t} ψ_j(z_c), straight from the definitions (§5.2 item 5).
double direct(const SmoothFunction& f, const std::vector<double>& z) {
  double sum = 0.0;
  for (int64_t t = 0; t < f.size(); ++t) {
    double p = f.coefficients()[t];
    for (const auto& e : f.term(t)) p *= smooth_basis(e.j, z[e.coord]);
    sum += p;
  }
  return sum;
}

// Λ as a set of dense multi-indices.
std::set<std::vector<int64_t>> index_set(const SmoothFunction& f) {
  std::set<std::vector<int64_t>> out;
  for (int64_t t = 0; t < f.size(); ++t) {
    std::vector<int64_t> l(static_cast<size_t>(f.num_coords()), 0);
    for (const auto& e : f.term(t)) l[e.coord] = e.j;
    out.insert(l);
  }
  return out;
}

// Λ by brute force over the box |l_c| < 2^{⌊T_max/a_c⌋} (§5.2 item 3).
std::set<std::vector<int64_t>> brute_force(const std::vector<double>& a, SmoothClass cls, int64_t K,
                                           double t_max) {
  const size_t D = a.size();
  std::vector<int64_t> bound(D), l(D);
  for (size_t c = 0; c < D; ++c) {
    bound[c] = (int64_t{1} << static_cast<int>(std::floor(t_max / a[c] + 1e-9))) - 1;
    l[c] = -bound[c];
  }
  std::set<std::vector<int64_t>> out;
  while (true) {
    std::vector<int> s(D);
    int64_t support = 0;
    for (size_t c = 0; c < D; ++c) {
      s[c] = smooth_level(l[c]);
      support += l[c] != 0;
    }
    if (support >= 1 && support <= K && smooth_gamma(s, a, cls) <= t_max + 1e-9) out.insert(l);
    size_t c = 0;
    while (c < D && l[c] == bound[c]) {
      l[c] = -bound[c];
      ++c;
    }
    if (c == D) break;
    ++l[c];
  }
  return out;
}

TaskOptions options(const std::string& name, int64_t d, int64_t window, double t_max,
                    int64_t K = 3) {
  TaskOptions o;
  o.name = name;
  o.dim = d;
  o.window = window;
  o.t_max = t_max;
  o.max_order = K;
  o.noise = 0.0;
  o.target_seed = 7;
  return o;
}

// Coordinates of the target at position i, extracted independently of the task (smooth.h):
// fixed c = k·U + ℓ → x_{i−ℓ,k}; dynamic c = kk·R + r → x_{π(r), kk + first}, π ranking the tokens
// [lo, i] by decreasing x_{·,0} (stable).
std::vector<double> coordinates(const torch::Tensor& x, const TaskOptions& o, int64_t lo,
                                int64_t i) {
  const int64_t d = o.dim, R = o.window;
  std::vector<double> z;
  if (o.name != "smooth_dynamic") {
    for (int64_t k = 0; k < d; ++k)
      for (int64_t l = 0; l < R; ++l) z.push_back(x[i - l][k].item<double>());
    return z;
  }
  std::vector<int64_t> order(static_cast<size_t>(i - lo + 1));
  std::iota(order.begin(), order.end(), lo);
  std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
    return x[p][0].item<double>() > x[q][0].item<double>();
  });
  const int64_t first = o.key_in_g ? 0 : 1;
  for (int64_t k = first; k < d; ++k)
    for (int64_t r = 0; r < R; ++r) z.push_back(x[order[r]][k].item<double>());
  return z;
}

// The sampled targets (σ = 0) equal `direct` at the extracted coordinates of every scored
// position, and targets_of reproduces them.
void expect_targets_direct(const TaskOptions& o, int64_t B, int64_t N) {
  SmoothTask task(o);
  Rng rng(3);
  const auto batch = task.sample(rng, B, N);
  const bool seq = o.smooth_readout == "seq", dyn = o.name == "smooth_dynamic";
  const int64_t first = !seq ? N - 1 : (dyn ? o.select_window - 1 : o.window - 1);
  ASSERT_EQ(batch.inputs.sizes(), (std::vector<int64_t>{B, N, o.dim}));
  ASSERT_EQ(batch.targets.sizes(), (std::vector<int64_t>{B, N - first, 1}));
  EXPECT_EQ(task.output_length(N), N - first);
  EXPECT_TRUE(torch::equal(task.targets_of(batch.inputs), batch.targets));
  const auto x = batch.inputs.to(torch::kFloat64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = first; i < N; ++i) {
      const int64_t lo = !dyn ? 0 : (seq ? i - o.select_window + 1 : 0);
      const double want = direct(task.function(), coordinates(x[b], o, lo, i));
      EXPECT_NEAR(batch.targets[b][i - first][0].item<double>(), want, 2e-6)
          << o.name << " readout " << o.smooth_readout << " b " << b << " i " << i;
    }
}

TEST(SmoothGolden, BasisValues) {
  // Row 65 and the §5 list.
  expect_near_all({smooth_basis(1, 0.125), smooth_basis(-1, 0.25), smooth_basis(2, 0.125),
                   smooth_basis(1, 0.25)},
                  {1.0, 0.0, kSqrt2, kSqrt2}, 1e-15, "psi");
  EXPECT_EQ(smooth_basis(0, 0.3), 1.0);
  // Level-ordered tables (smooth.h) hold the same values.
  for (int64_t j = -20; j <= 20; ++j)
    EXPECT_EQ(SmoothFunction::table_index(SmoothFunction::table_position(j)), j);
  EXPECT_EQ(SmoothFunction::table_position(1), 1);
  EXPECT_EQ(SmoothFunction::table_position(-1), 2);
  EXPECT_EQ(SmoothFunction::table_position(3), 4);
  EXPECT_EQ(SmoothFunction::table_position(-2), 5);
  Rng rng(1);
  for (int m : {0, 1, 3, 5, 6, 8, 11, 14}) {
    std::vector<double> table((size_t{2} << m) - 1);
    for (int rep = 0; rep < 10; ++rep) {
      const double x = rep == 0 ? 1.0 : static_cast<float>(rng.uniform01());
      SmoothFunction::fill_table(x, m, table.data());
      for (int64_t j = 1 - (int64_t{1} << m); j < (int64_t{1} << m); ++j)
        ASSERT_NEAR(table[SmoothFunction::table_position(j)], smooth_basis(j, x), 1e-12)
            << "m " << m << " j " << j << " x " << x;
    }
  }
}

TEST(SmoothGolden, ExplicitFunction) {
  // Row 66: f = 0.5ψ_(1,0) + 0.25ψ_(0,−1) + 0.125ψ_(2,1) at z = (0.125, 0.25) is 0.75.
  const auto f = SmoothFunction::from_terms({{1, 0}, {0, -1}, {2, 1}}, {0.5, 0.25, 0.125});
  EXPECT_EQ(f.size(), 3);
  EXPECT_NEAR(f.evaluate({0.125, 0.25}), 0.75, 1e-15);
  EXPECT_NEAR(direct(f, {0.125, 0.25}), 0.75, 1e-15);
  EXPECT_EQ(f.term(2), (std::vector<SmoothIndex>{{0, 2}, {1, 1}}));
}

TEST(SmoothGolden, Levels) {
  // Row 67 and the §5 list, a = (1, 2).
  const std::vector<int64_t> j = {0, 1, -1, 2, 3, -3, 4, 7, -8, 255, 256};
  const std::vector<int> s = {0, 1, 1, 2, 2, 2, 3, 3, 4, 8, 9};
  for (size_t i = 0; i < j.size(); ++i) EXPECT_EQ(smooth_level(j[i]), s[i]) << "j " << j[i];
  const std::vector<double> a = {1, 2};
  const auto aniso = SmoothClass::kAniso, mixed = SmoothClass::kMixed;
  EXPECT_EQ(smooth_gamma({1, 0}, a, aniso), 1.0);  // l = (1, 0)
  EXPECT_EQ(smooth_gamma({1, 0}, a, mixed), 1.0);
  EXPECT_EQ(smooth_gamma({0, 1}, a, aniso), 2.0);  // l = (0, −1)
  EXPECT_EQ(smooth_gamma({0, 1}, a, mixed), 2.0);
  EXPECT_EQ(smooth_gamma({2, 1}, a, aniso), 2.0);  // l = (2, 1)
  EXPECT_EQ(smooth_gamma({2, 1}, a, mixed), 4.0);
}

TEST(SmoothGolden, IndexSet) {
  // Row 68: a = (1, 2), aniso, T_max = 2, K = 2: |Λ| = 7·3 − 1 = 20, all of the box
  // l_0 ∈ [−3, 3], l_1 ∈ [−1, 1] but 0.
  const std::vector<double> a = {1, 2};
  EXPECT_EQ(smooth_index_set_size(a, SmoothClass::kAniso, 2, 2.0), 20);
  SmoothFunction f(a, SmoothClass::kAniso, 2, 2.0, 0.0, 1);
  EXPECT_EQ(f.size(), 20);
  std::set<std::vector<int64_t>> box;
  for (int64_t l0 = -3; l0 <= 3; ++l0)
    for (int64_t l1 = -1; l1 <= 1; ++l1)
      if (l0 != 0 || l1 != 0) box.insert({l0, l1});
  EXPECT_EQ(index_set(f), box);
}

TEST(SmoothGolden, Rates) {
  // Row 69: a = (1, 2, 4): aniso a† = 4/7, exponent 8/15; mixed a† = 1, exponent 2/3.
  const std::vector<double> a = {1, 2, 4};
  EXPECT_NEAR(smooth_a_dagger(a, SmoothClass::kAniso, 3), 4.0 / 7.0, 1e-15);
  EXPECT_NEAR(smooth_predicted_exponent(4.0 / 7.0), 8.0 / 15.0, 1e-15);
  EXPECT_NEAR(smooth_a_dagger(a, SmoothClass::kMixed, 3), 1.0, 1e-15);
  EXPECT_NEAR(smooth_predicted_exponent(1.0), 2.0 / 3.0, 1e-15);
  // §5.2: a = (1, 2, 4, 8) with K = 2: aniso a† = 2/3, exponent 4/7; without the limit
  // (K = 4) a† = 8/15, exponent ≈ 0.516; mixed unchanged.
  const std::vector<double> a4 = {1, 2, 4, 8};
  EXPECT_NEAR(smooth_a_dagger(a4, SmoothClass::kAniso, 2), 2.0 / 3.0, 1e-15);
  EXPECT_NEAR(smooth_predicted_exponent(2.0 / 3.0), 4.0 / 7.0, 1e-15);
  EXPECT_NEAR(smooth_a_dagger(a4, SmoothClass::kAniso, 4), 8.0 / 15.0, 1e-15);
  EXPECT_NEAR(smooth_predicted_exponent(8.0 / 15.0), 0.516, 1e-3);
  EXPECT_NEAR(smooth_a_dagger(a4, SmoothClass::kMixed, 2), 1.0, 1e-15);
}

TEST(Smooth, PresetIndexSetSizes) {
  // §5.2 preset table and protocols.md §1.3 (constant excluded).
  const std::vector<double> a3 = {1, 2, 4}, a4 = {1, 2, 4, 8};
  EXPECT_EQ(smooth_index_set_size(a3, SmoothClass::kAniso, 3, 8.0), 110886);
  EXPECT_EQ(smooth_index_set_size(a3, SmoothClass::kMixed, 3, 10.0), 4454);
  EXPECT_EQ(smooth_index_set_size(a4, SmoothClass::kAniso, 2, 8.0), 20180);
  EXPECT_EQ(smooth_index_set_size(a4, SmoothClass::kMixed, 2, 8.0), 1040);
  // The tasks build the same sets from their options.
  {
    SmoothTask t(options("smooth_aniso", 1, 3, 8.0));
    EXPECT_EQ(t.function().size(), 110886);
    EXPECT_EQ(t.function().smoothness(), a3);
    EXPECT_NEAR(t.function().a_dagger(), 4.0 / 7.0, 1e-15);
    EXPECT_NEAR(t.function().predicted_exponent(), 8.0 / 15.0, 1e-15);
  }
  {
    SmoothTask t(options("smooth_mixed", 1, 3, 10.0));
    EXPECT_EQ(t.function().size(), 4454);
    EXPECT_EQ(t.function().smooth_class(), SmoothClass::kMixed);
    EXPECT_NEAR(t.function().predicted_exponent(), 2.0 / 3.0, 1e-15);
  }
  {
    SmoothTask t(options("smooth_dynamic", 2, 3, 8.0));  // content feature 1, ranks 0..2
    EXPECT_EQ(t.function().size(), 110886);
    EXPECT_EQ(t.function().smoothness(), a3);
    EXPECT_EQ(t.coord_feature(2), 1);
    EXPECT_EQ(t.coord_offset(2), 2);
  }
  {
    auto o = options("smooth_aniso", 1, 4, 8.0, 2);  // E1.1 T1
    EXPECT_EQ(SmoothTask(o).function().size(), 20180);
    o.smooth_class = "mixed";
    SmoothTask t(o);
    EXPECT_EQ(t.function().size(), 1040);
    EXPECT_EQ(t.function().smooth_class(), SmoothClass::kMixed);
  }
  {
    auto o = options("smooth_dynamic", 1, 2, 8.0, 2);  // E1.1 T2: g(x_π(1), x_π(2)), a = (1, 2)
    o.key_in_g = true;
    o.select_window = 8;
    o.smooth_readout = "seq";
    SmoothTask t(o);
    EXPECT_EQ(t.function().smoothness(), (std::vector<double>{1, 2}));
    EXPECT_EQ(t.function().size(), 511 * 31 - 1);
    EXPECT_NEAR(t.function().a_dagger(), 2.0 / 3.0, 1e-15);
  }
  {
    auto o = options("smooth_aniso", 2, 2, 4.0);  // a_(k,ℓ) = a0·2^ℓ·(1+k), c = k·U + ℓ
    o.a0 = 0.5;
    EXPECT_EQ(SmoothTask(o).function().smoothness(), (std::vector<double>{0.5, 1, 1, 2}));
    o.name = "smooth_dynamic";  // content features k ≥ 1: a0·2^r·k
    o.dim = 3;
    EXPECT_EQ(SmoothTask(o).function().smoothness(), (std::vector<double>{0.5, 1, 1, 2}));
  }
}

TEST(Smooth, EnumerationMatchesBruteForce) {
  struct Case {
    std::vector<double> a;
    int64_t K;
    double t_max;
  };
  const std::vector<Case> cases = {
      {{1, 2, 4}, 3, 5.0},   {{1, 2, 4}, 2, 6.0},    {{1, 2, 4}, 1, 4.0}, {{2, 1, 3, 1}, 2, 4.0},
      {{1.5, 1, 3}, 3, 4.5}, {{1, 2, 4, 8}, 2, 8.0}, {{5, 9}, 2, 4.0}};
  for (const auto& c : cases)
    for (auto cls : {SmoothClass::kAniso, SmoothClass::kMixed}) {
      const auto want = brute_force(c.a, cls, c.K, c.t_max);
      const std::string what = smooth_class_name(cls) + " K " + std::to_string(c.K) + " T_max " +
                               std::to_string(c.t_max);
      if (want.empty()) {  // T_max below every a_c
        EXPECT_THROW(SmoothFunction(c.a, cls, c.K, c.t_max, 0.0, 1), UserError) << what;
        EXPECT_EQ(smooth_index_set_size(c.a, cls, c.K, c.t_max), 0) << what;
        continue;
      }
      SmoothFunction f(c.a, cls, c.K, c.t_max, 0.0, 1);
      EXPECT_EQ(f.size(), static_cast<int64_t>(want.size())) << what;  // no duplicates
      EXPECT_EQ(index_set(f), want) << what;
      EXPECT_EQ(smooth_index_set_size(c.a, cls, c.K, c.t_max), f.size()) << what;
    }
}

TEST(Smooth, CoefficientsFollowTheSpec) {
  // §5.2 item 4: c_l ∝ ξ_l 2^{−(1+η)γ(s)} |B_s|^{−1/2}, ξ_l = Rng(seed).normal() in term order,
  // Σ c_l² = 1.
  const std::vector<double> a = {1, 2, 4};
  for (auto cls : {SmoothClass::kAniso, SmoothClass::kMixed}) {
    const double eta = 0.1;
    SmoothFunction f(a, cls, 2, 6.0, eta, 42);
    double ss = 0.0;
    for (double c : f.coefficients()) ss += c * c;
    EXPECT_NEAR(ss, 1.0, 1e-12);
    Rng rng(42);
    double scale = 0.0;
    for (int64_t t = 0; t < f.size(); ++t) {
      std::vector<int> s(a.size(), 0);
      int bits = 0;
      for (const auto& e : f.term(t)) {
        s[e.coord] = smooth_level(e.j);
        bits += s[e.coord];
      }
      const double g = smooth_gamma(s, a, cls);
      EXPECT_LE(g, 6.0);
      const double raw = rng.normal() * std::exp2(-(1 + eta) * g) / std::sqrt(std::exp2(bits));
      if (t == 0) scale = f.coefficients()[0] / raw;
      EXPECT_NEAR(f.coefficients()[t], scale * raw, 1e-12) << "term " << t;
    }
  }
}

TEST(Smooth, UnitVarianceAndZeroMean) {
  // Var f = 1 and E f = 0 under z ~ U[0,1]^D (20,000 draws; standard errors ≈ 0.01 and 0.007).
  for (auto cls : {SmoothClass::kAniso, SmoothClass::kMixed}) {
    SmoothFunction f({1, 2, 4, 8}, cls, 2, 8.0, 0.0, 5);
    Rng rng(9);
    const int n = 20000;
    double sum = 0.0, sum2 = 0.0;
    std::vector<double> z(4);
    for (int i = 0; i < n; ++i) {
      for (double& v : z) v = rng.uniform01();
      const double y = f.evaluate(z);
      sum += y;
      sum2 += y * y;
    }
    const double mean = sum / n, var = sum2 / n - mean * mean;
    EXPECT_NEAR(mean, 0.0, 0.03) << smooth_class_name(cls);
    EXPECT_NEAR(var, 1.0, 0.05) << smooth_class_name(cls);
    // The table evaluation equals the direct sum.
    for (double& v : z) v = rng.uniform01();
    EXPECT_NEAR(f.evaluate(z), direct(f, z), 1e-12);
  }
}

TEST(Smooth, FixedTargetsMatchDirectEvaluation) {
  for (const std::string readout : {"final", "seq"}) {
    auto o = options("smooth_aniso", 2, 3, 4.0);
    o.smooth_readout = readout;
    expect_targets_direct(o, 3, 7);
    o.name = "smooth_mixed";
    o.dim = 1;
    o.t_max = 6.0;
    expect_targets_direct(o, 3, 5);
  }
}

TEST(Smooth, DynamicTargetsMatchDirectEvaluation) {
  for (const std::string readout : {"final", "seq"})
    for (bool key : {false, true}) {
      auto o = options("smooth_dynamic", 3, 2, 4.0);
      o.smooth_readout = readout;
      o.key_in_g = key;
      o.select_window = 4;
      expect_targets_direct(o, 3, 9);
    }
}

TEST(Smooth, NoiseHasTheRequestedSd) {
  auto o = options("smooth_aniso", 1, 3, 6.0);
  o.noise = 0.3;
  o.smooth_readout = "seq";
  SmoothTask task(o);
  Rng rng(4);
  const auto batch = task.sample(rng, 400, 52);  // 20,000 targets
  const auto r = (batch.targets - task.targets_of(batch.inputs)).to(torch::kFloat64);
  EXPECT_EQ(r.numel(), 20000);
  EXPECT_NEAR(r.mean().item<double>(), 0.0, 0.01);
  EXPECT_NEAR(r.std().item<double>(), 0.3, 0.01);
}

TEST(Smooth, DynamicIsPermutationInvariantFixedIsNot) {
  const int64_t B = 16, N = 12;
  auto perm = torch::tensor(std::vector<int64_t>{5, 0, 11, 3, 8, 1, 10, 2, 7, 4, 9, 6});
  auto od = options("smooth_dynamic", 2, 3, 6.0);
  od.margin = 0.01;
  SmoothTask dyn(od);
  Rng rng(6);
  auto batch = dyn.sample(rng, B, N);
  auto permuted = batch.inputs.index_select(1, perm);
  EXPECT_TRUE(torch::equal(dyn.targets_of(permuted), batch.targets));
  SmoothTask fixed(options("smooth_aniso", 2, 3, 6.0));
  batch = fixed.sample(rng, B, N);
  permuted = batch.inputs.index_select(1, perm);
  EXPECT_GT((fixed.targets_of(permuted) - batch.targets).abs().max().item<double>(), 0.1);
}

TEST(Smooth, MarginIsEnforcedInTheFinalReadout) {
  auto o = options("smooth_dynamic", 2, 3, 4.0);
  o.margin = 0.03;
  SmoothTask task(o);
  Rng rng(8);
  const int64_t N = 16;
  const auto x = task.sample(rng, 200, N).inputs.select(2, 0).to(torch::kFloat64);
  const auto sorted = std::get<0>(x.sort(1, /*descending=*/true));
  const auto gaps = sorted.narrow(1, 0, 3) - sorted.narrow(1, 1, 3);  // r = 0..R−1
  EXPECT_GE(gaps.min().item<double>(), 0.03);
  o.margin = 0.5;  // R · δ ≥ 1: no sequence can satisfy it
  EXPECT_THROW(SmoothTask{o}, UserError);
}

TEST(Smooth, DeterministicInTheSeeds) {
  auto o = options("smooth_aniso", 1, 3, 8.0);
  o.noise = 0.3;
  SmoothTask task(o);
  Rng a(9), b(9);
  auto x = task.sample(a, 4, 16), y = task.sample(b, 4, 16);
  EXPECT_TRUE(torch::equal(x.inputs, y.inputs));
  EXPECT_TRUE(torch::equal(x.targets, y.targets));
  SmoothTask same(o);
  EXPECT_EQ(same.function().coefficients(), task.function().coefficients());
  o.target_seed = 8;
  SmoothTask other(o);
  EXPECT_EQ(other.function().size(), task.function().size());  // the same Λ
  EXPECT_NE(other.function().coefficients(), task.function().coefficients());
  EXPECT_GT((other.targets_of(x.inputs) - task.targets_of(x.inputs)).abs().max().item<double>(),
            0.05);
  // Inputs are uniform on [0, 1].
  EXPECT_GE(x.inputs.min().item<float>(), 0.0f);
  EXPECT_LE(x.inputs.max().item<float>(), 1.0f);
}

TEST(Smooth, InfoAndRegistry) {
  auto o = options("smooth_dynamic", 2, 3, 8.0);
  auto task = make_task(o);
  const auto& info = task->info();
  EXPECT_EQ(info.kind, TaskKind::kRegression);
  EXPECT_EQ(info.readout, Readout::kFinal);
  EXPECT_EQ(info.input_features, 2);
  EXPECT_EQ(info.output_dim, 1);
  EXPECT_EQ(info.num_classes, 1);
  EXPECT_FALSE(info.description.empty());
  o.smooth_readout = "seq";
  EXPECT_EQ(make_task(o)->info().readout, Readout::kPerToken);
  const auto names = task_names();
  for (const auto& n : smooth_task_names()) {
    EXPECT_TRUE(is_smooth_task(n));
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  EXPECT_FALSE(is_smooth_task("smooth"));
}

// The message of the UserError `make` throws contains `part`.
template <typename Make>
void expect_user_error(Make make, const std::string& part) {
  try {
    make();
    ADD_FAILURE() << "no UserError (expected one mentioning '" << part << "')";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Smooth, BadOptions) {
  {
    SmoothTask task(options("smooth_aniso", 1, 4, 8.0));
    Rng rng(1);
    expect_user_error([&] { task.sample(rng, 2, 3); }, "task.window");  // N < U
  }
  {
    auto o = options("smooth_dynamic", 2, 3, 8.0);
    SmoothTask task(o);
    Rng rng(1);
    expect_user_error([&] { task.sample(rng, 2, 2); }, "task.window");  // N < R
    o.smooth_readout = "seq";
    o.select_window = 8;
    SmoothTask seq(o);
    expect_user_error([&] { seq.sample(rng, 2, 6); }, "task.select_window");  // N < W
    o.select_window = 2;                                                      // W < R
    expect_user_error([&] { SmoothTask{o}; }, "task.select_window");
  }
  auto o = options("smooth_dynamic", 1, 3, 8.0);  // d = 1 without key_in_g: no content feature
  expect_user_error([&] { SmoothTask{o}; }, "task.key_in_g");
  o.key_in_g = true;
  EXPECT_NO_THROW(SmoothTask{o});
  o = options("smooth_aniso", 1, 3, 8.0);
  o.smooth_class = "isotropic";
  expect_user_error([&] { SmoothTask{o}; }, "aniso, mixed");
  o = options("smooth_aniso", 1, 3, 8.0);
  o.smooth_readout = "last";
  expect_user_error([&] { SmoothTask{o}; }, "final, seq");
  o = options("smooth_aniso", 1, 3, 0.5);  // T_max below a_0 = 1: Λ is empty
  expect_user_error([&] { SmoothTask{o}; }, "empty");
  o = options("smooth_aniso", 1, 3, 8.0);
  o.key_in_g = true;
  expect_user_error([&] { SmoothTask{o}; }, "smooth_dynamic only");
  o = options("smooth_aniso", 8, 8, 40.0);  // far too many terms
  expect_user_error([&] { SmoothTask{o}; }, "more than");
  o = options("smooth_aniso", 1, 3, 8.0);
  o.name = "smooth_iso";
  expect_user_error([&] { SmoothTask{o}; }, "smooth_aniso, smooth_mixed, smooth_dynamic");
}

}  // namespace smooth_test
}  // namespace seqlab::tasks
