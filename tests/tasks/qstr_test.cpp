// Sparse token retrieval tasks (tasks/qstr.h): the golden examples of spec/tasks.md §4 (§6 rows
// 60-64) on the pure target functions, and structural checks on sampled batches: the encoding
// [x_i, ω_i, ω_{t_i1..q}] decodes back to pointers whose targets are the batch's targets, the
// codebook's entries and fixed seed, simple-qSTR's shared tuple, qsa's distinct subsets and unit
// vectors, quadnorm's zero half, orthonormal directions, determinism, bad options.
#include "seqlab/tasks/qstr.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "../common/testing.h"
#include "seqlab/util/error.h"

namespace seqlab::tasks {
namespace qstr_test {

using seqlab::testing::expect_near_all;

const std::vector<double> kX = {1, 0, 0.5, -1, 2, 1};  // x_0, x_1, x_2 in R^2 (rows 60-62)

// Whether the N codebook rows differ (the generator redraws a repeated row; decoding pointers
// from the features needs distinct rows).
bool distinct_rows(int64_t N) {
  const int64_t de = qstr_embedding_dim(N);
  const auto w = qstr_codebook(N);
  std::set<std::vector<double>> rows;
  for (int64_t i = 0; i < N; ++i) rows.insert({w.begin() + i * de, w.begin() + (i + 1) * de});
  return static_cast<int64_t>(rows.size()) == N;
}

TEST(QstrGolden, LinearSimpleAndHermite) {
  // Row 60: u = (0.6, 0.8), t = (2, 0, 2) -> (2.0, 0.6, 2.0).
  expect_near_all(qstr_targets(kX, {2, 0, 2}, 3, 2, 1, QstrLink::kLinear, {0.6, 0.8}),
                  {2.0, 0.6, 2.0}, 1e-15, "1STR");
  // Row 61: t ≡ 1 -> -0.5 everywhere.
  expect_near_all(qstr_targets(kX, {1, 1, 1}, 3, 2, 1, QstrLink::kLinear, {0.6, 0.8}),
                  {-0.5, -0.5, -0.5}, 1e-15, "simple 1STR");
  // Row 62: q = 2, u_1 = e_1, u_2 = e_2, t_i = (2, 1) -> He2(2)/√2 + He2(-1)/√2 = 1.5.
  expect_near_all(qstr_targets(kX, {2, 1, 2, 1, 2, 1}, 3, 2, 2, QstrLink::kHermite2, {1, 0, 0, 1}),
                  {1.5, 1.5, 1.5}, 1e-15, "hermite2");
}

TEST(QstrGolden, QsaAveragesTheSelectedVectors) {
  // Row 63: N = 4, d' = 2, q = 2.
  const std::vector<double> z = {1, 0, 0, 1, -1, 0, 0.6, 0.8};
  const std::vector<int64_t> sets = {1, 2, 0, 3, 0, 1, 2, 3};
  expect_near_all(qstr_targets(z, sets, 4, 2, 2, QstrLink::kMean, {}),
                  {-0.5, 0.5, 0.8, 0.4, 0.5, 0.5, -0.2, 0.4}, 1e-15, "qSA");
}

TEST(QstrGolden, EmbeddingDimensionAndCodebook) {
  // Row 64 and the §4.1 list.
  EXPECT_EQ(qstr_embedding_dim(3), 5);
  EXPECT_EQ(qstr_embedding_dim(12), 12);
  EXPECT_EQ(qstr_embedding_dim(100), 23);
  const std::vector<std::pair<int64_t, int64_t>> listed = {
      {2, 3}, {4, 6}, {6, 8}, {8, 10}, {10, 11}, {25, 16}, {29, 16}, {31, 17}, {33, 17}};
  for (auto [N, de] : listed) EXPECT_EQ(qstr_embedding_dim(N), de) << "N = " << N;
  // Entries ±1/√d_e, fixed per N (same every call), different codes for different positions.
  const auto w = qstr_codebook(12);
  ASSERT_EQ(w.size(), 12u * 12u);
  for (double v : w) EXPECT_DOUBLE_EQ(std::abs(v), 1.0 / std::sqrt(12.0));
  EXPECT_EQ(qstr_codebook(12), w);
  for (int64_t N = 2; N <= 64; ++N) EXPECT_TRUE(distinct_rows(N)) << "N = " << N;
}

TEST(Qstr, OrthonormalDirections) {
  Rng rng(3);
  const auto u = orthonormal_directions(rng, 4, 10);
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) {
      double dot = 0;
      for (int c = 0; c < 10; ++c) dot += u[a * 10 + c] * u[b * 10 + c];
      EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-12);
    }
  EXPECT_THROW(orthonormal_directions(rng, 3, 2), UserError);
}

TaskOptions options(const std::string& name, int64_t N, int64_t q, int64_t d, std::string link) {
  TaskOptions o;
  o.name = name;
  o.tokens = N;
  o.q = q;
  o.dim = d;
  o.link = std::move(link);
  o.data_seed = 5;
  return o;
}

// Pointers recovered from the features: the slot equals the codebook row of the pointer.
std::vector<int64_t> decode_pointers(const torch::Tensor& z, int64_t N, int64_t q, int64_t d) {
  const int64_t de = qstr_embedding_dim(N);
  const auto w = qstr_codebook(N);
  std::vector<int64_t> t;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < q; ++j) {
      int64_t found = -1;
      for (int64_t p = 0; p < N && found < 0; ++p) {
        bool same = true;
        for (int64_t e = 0; e < de && same; ++e)
          same = z[i][d + (1 + j) * de + e].item<float>() == float(w[p * de + e]);
        if (same) found = p;
      }
      EXPECT_GE(found, 0) << "slot " << j << " of token " << i << " is no codebook row";
      t.push_back(found);
    }
  return t;
}

TEST(Qstr, SampledFeaturesDecodeToTheirTargets) {
  for (const std::string link : {"linear_sum", "hermite2", "quadnorm", "mean"}) {
    const int64_t N = 8, q = 2, d = 4;
    QstrTask task(options("qstr", N, q, d, link));
    const int64_t de = qstr_embedding_dim(N), O = link == "mean" ? d : 1;
    EXPECT_EQ(task.info().input_features, d + (q + 1) * de);
    EXPECT_EQ(task.info().output_dim, O);
    EXPECT_EQ(task.info().kind, TaskKind::kRegression);
    Rng rng(11);
    auto batch = task.sample(rng, 3, N);
    ASSERT_EQ(batch.inputs.sizes(), (std::vector<int64_t>{3, N, d + (q + 1) * de}));
    ASSERT_EQ(batch.targets.sizes(), (std::vector<int64_t>{3, N, O}));
    const auto w = qstr_codebook(N);
    Rng urng(5);  // the task's u: orthonormal directions from data_seed
    const auto u = link == "quadnorm" || link == "mean" ? std::vector<double>{}
                                                        : orthonormal_directions(urng, q, d);
    for (int64_t b = 0; b < 3; ++b) {
      auto z = batch.inputs[b].to(torch::kFloat64);
      for (int64_t i = 0; i < N; ++i)  // ω_i in the second slot
        for (int64_t e = 0; e < de; ++e)
          EXPECT_EQ(z[i][d + e].item<double>(), float(w[i * de + e]));
      std::vector<double> x;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t c = 0; c < d; ++c) x.push_back(z[i][c].item<double>());
      if (link == "quadnorm") {  // x_i = 0 for i >= N/2
        for (int64_t i = N / 2; i < N; ++i)
          for (int64_t c = 0; c < d; ++c) EXPECT_EQ(x[i * d + c], 0.0);
      }
      const auto t = decode_pointers(batch.inputs[b], N, q, d);
      const auto y = qstr_targets(x, t, N, d, q, qstr_link_from_name(link), u);
      auto got = batch.targets[b].reshape({-1}).to(torch::kFloat64);
      for (int64_t k = 0; k < N * O; ++k) EXPECT_NEAR(got[k].item<double>(), y[k], 1e-5) << link;
    }
  }
}

TEST(Qstr, SimpleSharesOneTupleAndQsaDrawsDistinctSubsetsOfUnitVectors) {
  const int64_t N = 8, q = 2, d = 3;
  {
    QstrTask task(options("qstr_simple", N, q, d, "linear_sum"));
    Rng rng(2);
    auto batch = task.sample(rng, 4, N);
    for (int64_t b = 0; b < 4; ++b) {
      const auto t = decode_pointers(batch.inputs[b], N, q, d);
      for (int64_t i = 1; i < N; ++i)
        for (int64_t j = 0; j < q; ++j) EXPECT_EQ(t[i * q + j], t[j]);
      auto y = batch.targets[b];
      EXPECT_TRUE(torch::equal(y, y[0].expand_as(y)));  // a constant target sequence
    }
  }
  {
    QstrTask task(options("qsa", N, 3, 2, "linear"));
    EXPECT_EQ(task.info().output_dim, 2);
    Rng rng(4);
    auto batch = task.sample(rng, 5, N);
    for (int64_t b = 0; b < 5; ++b) {
      auto x = batch.inputs[b].narrow(1, 0, 2).to(torch::kFloat64);
      EXPECT_LE((x.norm(2, 1) - 1).abs().max().item<double>(), 1e-6);
      const auto t = decode_pointers(batch.inputs[b], N, 3, 2);
      for (int64_t i = 0; i < N; ++i) {
        EXPECT_LT(t[i * 3], t[i * 3 + 1]);  // distinct, ascending
        EXPECT_LT(t[i * 3 + 1], t[i * 3 + 2]);
      }
    }
  }
}

TEST(Qstr, SameRngSameBatchAndBadOptions) {
  QstrTask task(options("qstr", 5, 1, 3, "linear"));
  Rng a(9), b(9);
  auto x = task.sample(a, 2, 5), y = task.sample(b, 2, 5);
  EXPECT_TRUE(torch::equal(x.inputs, y.inputs));
  EXPECT_TRUE(torch::equal(x.targets, y.targets));
  EXPECT_THROW(task.sample(a, 2, 6), UserError);                            // N is fixed
  EXPECT_THROW(QstrTask(options("qstr", 0, 1, 3, "linear")), UserError);    // tokens unset
  EXPECT_THROW(QstrTask(options("qstr", 5, 2, 3, "linear")), UserError);    // linear is q = 1
  EXPECT_THROW(QstrTask(options("qstr", 5, 4, 3, "hermite2")), UserError);  // q > d
  EXPECT_THROW(QstrTask(options("qstr", 5, 1, 3, "cubic")), UserError);     // unknown link
  EXPECT_THROW(QstrTask(options("qsa", 3, 4, 3, "mean")), UserError);       // q > N
  auto o = options("qstr", 5, 1, 3, "linear");
  o.set_encoding = "sum";
  EXPECT_THROW(QstrTask{o}, UserError);  // sum encoding is qsa's
}

}  // namespace qstr_test
}  // namespace seqlab::tasks
