// DLR atomic tasks (tasks/dlr_atomic.h): every golden example of spec/tasks.md §2.1 and §6 rows
// 33-43 on the pure target functions, and structural checks on sampled batches (shapes, ∞-norm
// normalisation, markers, orthogonality, causal argmax, fixed variants, determinism).
#include "seqlab/tasks/dlr_atomic.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "../common/testing.h"
#include "seqlab/util/error.h"

namespace seqlab::tasks {
namespace dlr_atomic_test {

using seqlab::testing::expect_near_all;

TEST(DlrAtomicGolden, ShiftAndPositionFeatures) {  // §6 rows 33, 34
  const std::vector<double> x = {0.5, -1, 0.25, 0.75, -0.5, 1, 0, -0.25};
  const auto y = shift_targets(x, 4);
  std::vector<std::vector<double>> cols(4);
  for (const auto& row : y)
    for (int h = 0; h < 4; ++h) cols[h].push_back(row[h]);
  expect_near_all(cols[0], x, 0, "shift 0");
  expect_near_all(cols[1], {0, 0, 0.5, -1, 0.25, 0.75, -0.5, 1}, 0, "shift 2");
  expect_near_all(cols[2], {0, 0, 0, 0, 0.5, -1, 0.25, 0.75}, 0, "shift 4");
  expect_near_all(cols[3], {0, 0, 0, 0, 0, 0, 0.5, -1}, 0, "shift 6");
  expect_near_all(position_cos(8), {1, .7071, 0, -.7071, -1, -.7071, 0, .7071}, 1e-4, "cos");
  expect_near_all(position_sin(8), {0, .7071, 1, .7071, 0, -.7071, -1, -.7071}, 1e-4, "sin");
  EXPECT_THROW(shift_targets(x, 3), UserError);  // L not divisible by H
}

TEST(DlrAtomicGolden, CumsumCummaxReverseSort) {  // §6 rows 35-38a
  const std::vector<double> x = {0.5, -1, 1, 0.25};
  expect_near_all(cumsum_targets(x), {0.5, -0.35355, 0.28868, 0.375}, 1e-5, "cumsum");
  expect_near_all(cummax_targets(x), {0.5, 0.5, 1, 1}, 0, "cummax");
  expect_near_all(reverse_targets(x), {0.25, 1, -1, 0.5}, 0, "reverse");
  expect_near_all(cumsum_targets({1, 1, 1, 1}), {1, 1.4142, 1.7321, 2}, 1e-4, "cumsum ones");
  expect_near_all(cummax_targets({-1, -0.5, -0.75, 1}), {-1, -0.5, -0.5, 1}, 0, "cummax 2");
  expect_near_all(sort_targets({0.2, -0.5, 1.0, 0.15, 0.4, -0.1}),
                  {0.2, 0.15, 0.4, -0.1, -0.5, 1.0}, 0, "sort");
  expect_near_all(sort_targets({0.5, 0.75, 0.25, 1.0}), {0.5, 0.75, 0.25, 1.0}, 0, "stable tie");
}

TEST(DlrAtomicGolden, ContextShiftMaskedSelectSolveMips) {  // §6 rows 39-43
  const auto seq = context_shift_sequence({0.4, -1, 0.6, 0.2}, 2);
  expect_near_all(seq, {-0.5, 0.8660, 0.4, -1, 0.6, 0.2}, 1e-4, "context seq");
  expect_near_all(context_shift_targets(seq, 2), {0, 0, -0.5, 0.8660, 0.4, -1}, 1e-4, "context y");
  expect_near_all(masked_select_targets({0.3, -1, 0.5, 0.8, -0.2, 0.1, 0, 0}, {1, 4}), {-1, -0.2},
                  0, "masked select");
  const std::vector<double> A = {0, 1, 0, 0, 0, 1, 1, 0, 0}, X = {0.6, 0, 0.8};
  expect_near_all(solve_input(A, X, 15), {0, 1, 0, 0, 0, 0, 1, 0.8, 1, 0, 0, 0.6, 0, 0, 0}, 1e-15,
                  "solve input");
  EXPECT_EQ(solve_size(15), 3);
  EXPECT_EQ(solve_size(512), 21);
  EXPECT_EQ(solve_size(4096), 63);
  EXPECT_EQ(solve_size(63), 7);
  const std::vector<double> q = {0, 1, 1, 0, -0.6, -0.8}, k = {0, 1, 1, 0, -1, 0},
                            v = {1, 0, 0, -1, 0.6, 0.8};
  expect_near_all(mips_targets(q, k, v, 2), {1, 0, 0, -1, 0.6, 0.8}, 0, "mips");
}

// The §2.1 mips golden has every causal argmax equal to the global one, so it cannot tell a
// causal readout from a full one. Here a later key always wins globally: y_0 must still be v_0,
// and on an exact tie the first maximum is taken (dlr_atomic.h).
TEST(DlrAtomicGolden, MipsArgmaxIsCausalWithFirstMaximumOnTies) {
  const std::vector<double> q = {1, 0, 1, 0, 0, 1}, k = {0, 1, 1, 0, 0, 1}, v = {1, 0, 0, 1, -1, 0};
  // y_0: only k_0 visible (score 0; k_1 would score 1). y_1: scores (0, 1) -> v_1.
  // y_2: q_2 = (0, 1) scores (1, 0, 1) -> tie of k_0 and k_2, first maximum -> v_0.
  expect_near_all(mips_targets(q, k, v, 2), {1, 0, 0, 1, 1, 0}, 0, "mips causal");
}

std::vector<double> column(const torch::Tensor& t, int64_t b, int64_t ch) {
  auto c = t[b].select(-1, ch).to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

TaskOptions options(const std::string& name) {
  TaskOptions o;
  o.name = name;
  return o;
}

TEST(DlrAtomicTask, ShapesNormalisationAndTargetsOfSampledBatches) {
  struct Case {
    std::string name;
    int64_t L, Lin, F, lout, O;
  };
  const std::vector<Case> cases = {{"shift", 16, 16, 3, 16, 8},
                                   {"cumsum", 10, 10, 3, 10, 1},
                                   {"cummax", 10, 10, 3, 10, 1},
                                   {"reverse", 10, 20, 3, 10, 1},
                                   {"sort", 10, 20, 3, 10, 1},
                                   {"masked_select", 20, 84, 4, 32, 1},
                                   {"masked_select_fixed", 20, 84, 4, 32, 1},
                                   {"solve", 15, 15, 3, 3, 1},
                                   {"solve_fixed", 24, 24, 3, 4, 1},
                                   {"context_shift", 12, 12, 3, 12, 1},
                                   {"mips", 9, 9, 14, 9, 4}};
  int64_t future_wins = 0;  // mips positions whose unmasked argmax is a later key
  for (const auto& c : cases) {
    DlrAtomicTask task(options(c.name));
    EXPECT_EQ(task.info().kind, TaskKind::kRegression);
    Rng rng(7);
    const auto b = task.sample(rng, 3, c.L);
    ASSERT_EQ(b.inputs.sizes(), (std::vector<int64_t>{3, c.Lin, c.F})) << c.name;
    ASSERT_EQ(b.targets.sizes(), (std::vector<int64_t>{3, c.lout, c.O})) << c.name;
    EXPECT_EQ(task.info().input_features, c.F);
    EXPECT_EQ(task.info().output_dim, c.O);
    // Positional features are the last two channels.
    expect_near_all(column(b.inputs, 0, c.F - 2), position_cos(c.Lin), 1e-6, c.name.c_str());
    expect_near_all(column(b.inputs, 1, c.F - 1), position_sin(c.Lin), 1e-6, c.name.c_str());
    // Same rng state, same batch.
    Rng again(7);
    EXPECT_TRUE(torch::equal(task.sample(again, 3, c.L).inputs, b.inputs)) << c.name;
    for (int64_t s = 0; s < 3; ++s) {
      const auto x = column(b.inputs, s, 0);
      if (c.name == "shift" || c.name == "cumsum" || c.name == "cummax" || c.name == "reverse" ||
          c.name == "sort") {
        const std::vector<double> v(x.begin(), x.begin() + c.L);
        double m = 0;
        for (double e : v) m = std::max(m, std::abs(e));
        EXPECT_NEAR(m, 1.0, 1e-6) << c.name;  // ∞-norm normalisation
        for (int64_t l = c.L; l < c.Lin; ++l) EXPECT_EQ(x[l], 0.0) << c.name;
        std::vector<double> want;
        if (c.name == "cumsum") want = cumsum_targets(v);
        if (c.name == "cummax") want = cummax_targets(v);
        if (c.name == "reverse") want = reverse_targets(v);
        if (c.name == "sort") want = sort_targets(v);
        if (!want.empty()) expect_near_all(column(b.targets, s, 0), want, 1e-6, c.name.c_str());
        if (c.name == "shift") {
          const auto y = shift_targets(v, 8);
          for (int64_t h : {0, 3, 7}) {
            std::vector<double> col;
            for (const auto& row : y) col.push_back(row[h]);
            expect_near_all(column(b.targets, s, h), col, 1e-6, "shift column");
          }
        }
      }
      if (c.name.rfind("masked_select", 0) == 0) {
        const auto marker = column(b.inputs, s, 1);
        std::vector<int64_t> pos;
        for (int64_t l = 0; l < c.Lin; ++l)
          if (marker[l] == 1.0) pos.push_back(l);
        ASSERT_EQ(static_cast<int64_t>(pos.size()), 32) << c.name;
        EXPECT_LT(pos.back(), 32 + c.L);  // never in the trailing zeros
        expect_near_all(column(b.targets, s, 0), masked_select_targets(x, pos), 0, "selected");
        for (int64_t l = 32 + c.L; l < c.Lin; ++l) EXPECT_EQ(x[l], 0.0);
      }
      if (c.name.rfind("solve", 0) == 0) {  // A orthogonal, B = A X, |X| = 1
        const int64_t N = c.lout;
        auto v = torch::tensor(x, torch::kFloat64);
        auto AB = v.narrow(0, 0, N * (N + 1)).view({N, N + 1});
        auto A = AB.narrow(1, 0, N), B = AB.select(1, N);
        auto X = b.targets[s].select(-1, 0).to(torch::kFloat64);
        EXPECT_TRUE(
            torch::allclose(torch::matmul(A, A.t()), torch::eye(N, torch::kFloat64), 1e-5, 1e-5));
        EXPECT_TRUE(torch::allclose(torch::matmul(A, X), B, 1e-5, 1e-5));
        EXPECT_NEAR(X.norm().item<double>(), 1.0, 1e-5);
      }
      if (c.name == "context_shift") {
        const auto y = column(b.targets, s, 0);
        // Recover s from the first two values and check the targets.
        const double angle = std::atan2(x[1], x[0]);
        int64_t shift = std::llround(angle / (2 * M_PI) * c.L);
        if (shift < 0) shift += c.L;
        expect_near_all(y, context_shift_targets(std::vector<double>(x.begin(), x.end()), shift),
                        1e-6, "context shift");
      }
      if (c.name == "mips") {
        std::vector<double> q, k, v;
        for (int64_t l = 0; l < c.L; ++l)
          for (int64_t d = 0; d < 4; ++d) {
            q.push_back(b.inputs[s][l][d].item<double>());
            k.push_back(b.inputs[s][l][4 + d].item<double>());
            v.push_back(b.inputs[s][l][8 + d].item<double>());
          }
        auto want = mips_targets(q, k, v, 4);
        auto got = b.targets[s].to(torch::kFloat64).contiguous();
        expect_near_all(
            std::vector<double>(got.data_ptr<double>(), got.data_ptr<double>() + got.numel()), want,
            1e-6, "mips");
        // Independently of mips_targets: unit vectors, and y_i = v_{j*} with j* the argmax of the
        // causally masked score matrix Q Kᵀ. The check is non-vacuous: some position's global
        // argmax lies in its future.
        auto feats = b.inputs[s].to(torch::kFloat64);
        auto Q = feats.narrow(1, 0, 4), K = feats.narrow(1, 4, 4), V = feats.narrow(1, 8, 4);
        for (const auto& u : {Q, K, V})
          EXPECT_TRUE(
              torch::allclose(u.norm(2, 1), torch::ones({c.L}, torch::kFloat64), 1e-5, 1e-5));
        auto scores = torch::matmul(Q, K.t());
        auto future = torch::ones({c.L, c.L}, torch::kBool).triu(1);
        auto causal_best = scores.masked_fill(future, -1e30).argmax(1);
        EXPECT_TRUE(torch::allclose(V.index_select(0, causal_best), got, 1e-6, 1e-6));
        future_wins += (scores.argmax(1) > torch::arange(c.L)).sum().item<int64_t>();
      }
    }
  }
  EXPECT_GT(future_wins, 0);
}

TEST(DlrAtomicTask, FixedVariantsRepeatAcrossSamplesAndRandomOnesDoNot) {
  for (const std::string name : {"masked_select", "solve"}) {
    DlrAtomicTask random(options(name)), fixed(options(name + "_fixed"));
    Rng r1(1), r2(2);
    const int64_t L = name == "solve" ? 24 : 20;
    const auto a = fixed.sample(r1, 2, L), b = fixed.sample(r2, 1, L);
    const int64_t ch = name == "solve" ? 0 : 1;  // A entries / markers
    const int64_t n = name == "solve" ? 4 * 4 : 20 + 32;
    auto part = [&](const torch::Tensor& t, int64_t s) {
      return t[s].select(-1, ch).narrow(0, 0, n);
    };
    if (name == "solve") {  // A occupies the first N(N+1) values, without the B column
      auto A = [&](const torch::Tensor& t, int64_t s) {
        return t[s].select(-1, 0).narrow(0, 0, 20).view({4, 5}).narrow(1, 0, 4);
      };
      EXPECT_TRUE(torch::equal(A(a.inputs, 0), A(a.inputs, 1)));
      EXPECT_TRUE(torch::equal(A(a.inputs, 0), A(b.inputs, 0)));
      const auto c = random.sample(r1, 2, L);
      EXPECT_FALSE(torch::equal(A(c.inputs, 0), A(c.inputs, 1)));
    } else {
      EXPECT_TRUE(torch::equal(part(a.inputs, 0), part(a.inputs, 1)));
      EXPECT_TRUE(torch::equal(part(a.inputs, 0), part(b.inputs, 0)));
      const auto c = random.sample(r1, 2, L);
      EXPECT_FALSE(torch::equal(part(c.inputs, 0), part(c.inputs, 1)));
    }
  }
}

// task.positional_features = false drops the two cos/sin channels and nothing else: the value
// channels and targets are those of the default task for the same seed.
TEST(DlrAtomicTask, WithoutPositionalFeaturesOnlyTheValueChannelsRemain) {
  for (const std::string name : {"shift", "masked_select", "mips"}) {
    auto o = options(name);
    DlrAtomicTask with(o);
    o.positional_features = false;
    DlrAtomicTask without(o);
    EXPECT_EQ(without.info().input_features + 2, with.info().input_features) << name;
    Rng r1(5), r2(5);
    const auto a = with.sample(r1, 2, 16), b = without.sample(r2, 2, 16);
    const int64_t F = without.info().input_features;
    ASSERT_EQ(b.inputs.size(-1), F);
    EXPECT_TRUE(torch::equal(a.inputs.narrow(-1, 0, F), b.inputs)) << name;
    EXPECT_TRUE(torch::equal(a.targets, b.targets)) << name;
  }
}

TEST(DlrAtomicTask, BadOptionsAndLengthsAreUserErrors) {
  auto o = options("shift");
  EXPECT_THROW(DlrAtomicTask(o).sample(*std::make_unique<Rng>(0), 1, 12), UserError);  // 12 % 8
  o.query_token = true;
  EXPECT_THROW(DlrAtomicTask{o}, UserError);
  EXPECT_THROW(DlrAtomicTask(options("solve")).sample(*std::make_unique<Rng>(0), 1, 2), UserError);
  EXPECT_THROW(DlrAtomicTask{options("shiftt")}, UserError);
}

}  // namespace dlr_atomic_test
}  // namespace seqlab::tasks
