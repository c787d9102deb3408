// The statistical papers' models (src/seqlab/model/baseline_models.h): shapes, the attention
// model against its formula written out, permutation equivariance where it must hold, and the
// errors for token inputs and a wrong length.
#include "seqlab/model/baseline_models.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "seqlab/model/registry.h"
#include "seqlab/util/error.h"

namespace baseline_models_test {

seqlab::config::ModelConfig model_config(const std::string& name) {
  seqlab::config::ModelConfig cfg;
  cfg.name = name;
  cfg.heads = 2;
  cfg.mlp_size = 12;
  cfg.hidden_size = 6;
  cfg.mlp_ratio = 3;
  return cfg;
}

TEST(BaselineModels, ShapesAndParameterCounts) {
  torch::manual_seed(0);
  const auto x = torch::randn({3, 5, 7});
  for (const char* name : {"attention_mlp", "bigru", "flat_mlp"}) {
    auto m = seqlab::model::make_model(model_config(name), 0, 2, 7, 5);
    EXPECT_EQ(m->forward(x).sizes(), (std::vector<int64_t>{3, 5, 2})) << name;
    EXPECT_EQ(m->family(), name);
  }
  // attention_mlp: Q, K, V (7 -> 2·7) and out (14 -> 7) with bias, MLP 7 -> 12 -> 2.
  auto att = seqlab::model::make_model(model_config("attention_mlp"), 0, 2, 7, 5);
  EXPECT_EQ(seqlab::model::count_parameters(*att),
            3 * (7 * 14 + 14) + 14 * 7 + 7 + 7 * 12 + 12 + 12 * 2 + 2);
  // flat_mlp: 35 -> 15 (mlp_ratio · T) -> 6 -> 10.
  auto ffn = seqlab::model::make_model(model_config("flat_mlp"), 0, 2, 7, 5);
  EXPECT_EQ(seqlab::model::count_parameters(*ffn), 35 * 15 + 15 + 15 * 6 + 6 + 6 * 10 + 10);
}

TEST(BaselineModels, AttentionMatchesItsFormula) {
  torch::manual_seed(1);
  auto cfg = model_config("attention_mlp");
  auto m = seqlab::model::make_model(cfg, 0, 1, 4, 6);
  const auto x = torch::randn({2, 6, 4});
  // Per head h: softmax(Q_h K_h^T / sqrt(4)) V_h over all positions (no mask), concatenated,
  // out-projected, then ReLU MLP.
  auto p = m->named_parameters();
  auto lin = [&](const std::string& n, const torch::Tensor& v) {
    return torch::matmul(v, p[n + ".weight"].t()) + p[n + ".bias"];
  };
  const auto q = lin("q_proj", x), k = lin("k_proj", x), v = lin("v_proj", x);
  std::vector<torch::Tensor> heads;
  for (int h = 0; h < 2; ++h) {
    const auto qh = q.narrow(2, 4 * h, 4), kh = k.narrow(2, 4 * h, 4), vh = v.narrow(2, 4 * h, 4);
    heads.push_back(
        torch::matmul(torch::softmax(torch::matmul(qh, kh.transpose(1, 2)) / 2.0, -1), vh));
  }
  const auto y = lin("fc2", torch::relu(lin("fc1", lin("out_proj", torch::cat(heads, 2)))));
  EXPECT_TRUE(torch::allclose(m->forward(x), y, 1e-5, 1e-6));
}

TEST(BaselineModels, AttentionIsPermutationEquivariantTheOthersAreNot) {
  torch::manual_seed(2);
  const auto x = torch::randn({2, 5, 3});
  const auto perm = torch::tensor({3, 0, 4, 1, 2}, torch::kInt64);
  auto att = seqlab::model::make_model(model_config("attention_mlp"), 0, 1, 3, 5);
  EXPECT_TRUE(torch::allclose(att->forward(x.index_select(1, perm)),
                              att->forward(x).index_select(1, perm), 1e-5, 1e-6));
  for (const char* name : {"bigru", "flat_mlp"}) {
    auto m = seqlab::model::make_model(model_config(name), 0, 1, 3, 5);
    EXPECT_FALSE(torch::allclose(m->forward(x.index_select(1, perm)),
                                 m->forward(x).index_select(1, perm), 1e-5, 1e-6))
        << name;
  }
}

TEST(BaselineModels, BadInputsAreClearErrors) {
  EXPECT_THROW(seqlab::model::make_model(model_config("bigru"), 10, 2, 0, 5), seqlab::UserError);
  EXPECT_THROW(seqlab::model::make_model(model_config("flat_mlp"), 0, 2, 7, 0), seqlab::UserError);
  auto ffn = seqlab::model::make_model(model_config("flat_mlp"), 0, 2, 7, 5);
  EXPECT_THROW(ffn->forward(torch::randn({1, 6, 7})), c10::Error);
}

}  // namespace baseline_models_test
