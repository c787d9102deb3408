// Causal Transformer baseline (spec/mixers.md §2.2.1-2.2.2, §5.1, §5.2): shapes, names, the
// pre-norm composition written out, causality, training, config errors, learned-position limit.
#include "seqlab/model/transformer_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "seqlab/mixers/softmax_attention.h"
#include "seqlab/util/error.h"

namespace seqlab::model {
namespace transformer_model_test {

config::ModelConfig tf_config(const std::string& positions, int64_t d = 16, int64_t heads = 2,
                              int64_t layers = 2) {
  config::ModelConfig cfg;
  cfg.name = "transformer";
  cfg.d_model = d;
  cfg.heads = heads;
  cfg.layers = layers;
  cfg.positions = positions;
  cfg.mlp_ratio = 4;
  cfg.max_len = 64;
  return cfg;
}

const std::vector<std::string> kPositions{"nope", "learned", "rope"};

TEST(TransformerModel, ShapesFamilyAndPyTorchNames) {
  const int64_t V = 5, C = 3, d = 16, r = 4;
  for (const auto& positions : kPositions) {
    torch::manual_seed(0);
    auto model = make_transformer_model(tf_config(positions), V, C);
    EXPECT_EQ(model->family(), "transformer");
    std::map<std::string, std::vector<int64_t>> expected{{"embedding.weight", {V, d}},
                                                         {"norm.weight", {d}},
                                                         {"norm.bias", {d}},
                                                         {"readout.weight", {C, d}},
                                                         {"readout.bias", {C}}};
    if (positions == "learned") expected["pos_embedding.weight"] = {64, d};
    for (int l = 0; l < 2; ++l) {
      const std::string b = "blocks." + std::to_string(l) + ".";
      for (const char* n : {"norm1", "norm2"}) {
        expected[b + n + ".weight"] = {d};
        expected[b + n + ".bias"] = {d};
      }
      for (const char* p : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
        expected[b + "attn." + p + ".weight"] = {d, d};
        expected[b + "attn." + p + ".bias"] = {d};
      }
      expected[b + "mlp.fc1.weight"] = {r * d, d};
      expected[b + "mlp.fc1.bias"] = {r * d};
      expected[b + "mlp.fc2.weight"] = {d, r * d};
      expected[b + "mlp.fc2.bias"] = {d};
    }
    auto params = model->named_parameters();
    EXPECT_EQ(params.size(), expected.size()) << positions;
    for (auto& kv : params) {
      auto it = expected.find(kv.key());
      ASSERT_NE(it, expected.end()) << "unexpected parameter " << kv.key();
      EXPECT_EQ(kv.value().sizes(), it->second) << kv.key();
    }
    // Embedding N(0, 1), LayerNorm (1, 0) (§0.3).
    EXPECT_NEAR(params["embedding.weight"].std().item<double>(), 1.0, 0.3);
    EXPECT_TRUE(torch::equal(params["norm.weight"], torch::ones({d})));
    EXPECT_TRUE(torch::equal(params["blocks.1.norm2.bias"], torch::zeros({d})));
    for (int64_t T : {1, 2, 7, 33}) {
      auto logits = model->forward(torch::randint(0, V, {3, T}, torch::kInt64));
      EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, T, C})) << positions;
      EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
      EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
    }
  }
}

// The §5.1 pre-norm composition written out with functional ops and the attention's reference
// path; LayerNorm (eps 1e-5, biased variance) and exact-erf GELU (§0.2) spelled out.
torch::Tensor manual_forward(SequenceModel& model, const torch::Tensor& tokens, bool learned,
                             int64_t layers) {
  auto P = model.named_parameters();
  auto modules = model.named_modules();
  auto ln = [&](const torch::Tensor& x, const std::string& name) {
    auto mu = x.mean(-1, true);
    auto var = (x - mu).pow(2).mean(-1, true);
    return (x - mu) / torch::sqrt(var + 1e-5) * P[name + ".weight"] + P[name + ".bias"];
  };
  auto linear = [&](const torch::Tensor& x, const std::string& name) {
    return torch::matmul(x, P[name + ".weight"].t()) + P[name + ".bias"];
  };
  const int64_t T = tokens.size(1);
  auto x =
      P["embedding.weight"].index_select(0, tokens.reshape({-1})).view({tokens.size(0), T, -1});
  if (learned) x = x + P["pos_embedding.weight"].narrow(0, 0, T);
  for (int64_t l = 0; l < layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    auto attn = std::dynamic_pointer_cast<mixers::SoftmaxAttentionImpl>(modules[b + "attn"]);
    EXPECT_TRUE(attn);
    x = x + attn->reference(ln(x, b + "norm1"));
    auto m = linear(ln(x, b + "norm2"), b + "mlp.fc1");
    m = 0.5 * m * (1 + torch::erf(m / std::sqrt(2.0)));
    x = x + linear(m, b + "mlp.fc2");
  }
  return linear(ln(x, "norm"), "readout");
}

TEST(TransformerModel, EqualsPreNormCompositionWrittenOut) {
  for (const auto& positions : kPositions) {
    torch::manual_seed(4);
    auto model = make_transformer_model(tf_config(positions), 6, 4);
    model->to(torch::kFloat64);
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 6, {2, 33}, torch::kInt64);
    auto got = model->forward(tokens);
    auto expected = manual_forward(*model, tokens, positions == "learned", 2);
    const double err = (got - expected).abs().max().item<double>();
    const double scale = expected.abs().max().item<double>();
    EXPECT_LE(err, 1e-11 * std::max(1.0, scale)) << positions;
  }
}

TEST(TransformerModel, Causal) {
  for (const auto& positions : kPositions) {
    torch::manual_seed(5);
    auto model = make_transformer_model(tf_config(positions), 4, 3);
    model->to(torch::kFloat64);
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 4, {2, 33}, torch::kInt64);
    auto other = tokens.clone();
    other.narrow(1, 17, 16).copy_((tokens.narrow(1, 17, 16) + 1) % 4);
    auto a = model->forward(tokens), b = model->forward(other);
    // F path: within the fp64 forward atol (§6.3).
    EXPECT_LE((a.narrow(1, 0, 17) - b.narrow(1, 0, 17)).abs().max().item<double>(), 1e-12)
        << positions;
    EXPECT_GT((a.select(1, 17) - b.select(1, 17)).abs().max().item<double>(), 1e-6) << positions;
  }
}

TEST(TransformerModel, AdamStepsReduceLoss) {
  // target_t = token_{t-1}, read from position 1 on.
  for (const auto& positions : kPositions) {
    torch::manual_seed(6);
    auto model = make_transformer_model(tf_config(positions, 16, 2, 1), 3, 3);
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
    auto tokens = torch::randint(0, 3, {32, 10}, torch::kInt64);
    auto targets = tokens.narrow(1, 0, 9).contiguous();
    auto loss_of = [&] {
      auto logits = model->forward(tokens).narrow(1, 1, 9);
      return torch::nn::functional::cross_entropy(logits.reshape({-1, 3}), targets.reshape({-1}));
    };
    const double initial = loss_of().item<double>();
    for (int step = 0; step < 30; ++step) {
      opt.zero_grad();
      auto loss = loss_of();
      loss.backward();
      opt.step();
    }
    const double final_loss = loss_of().item<double>();
    EXPECT_LT(final_loss, 0.8 * initial)
        << positions << ": initial " << initial << " final " << final_loss;
  }
}

TEST(TransformerModel, LearnedPositionsBeyondMaxLenIsAUserError) {
  auto cfg = tf_config("learned");
  cfg.max_len = 8;
  auto model = make_transformer_model(cfg, 4, 2);
  EXPECT_NO_THROW(model->forward(torch::zeros({1, 8}, torch::kInt64)));
  try {
    model->forward(torch::zeros({1, 9}, torch::kInt64));
    FAIL() << "expected UserError";
  } catch (const seqlab::UserError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("model.max_len"), std::string::npos) << what;
    EXPECT_NE(what.find("8"), std::string::npos) << what;
    EXPECT_NE(what.find("9"), std::string::npos) << what;
  }
  // Other position modes have no table and accept any length.
  for (const char* positions : {"nope", "rope"}) {
    auto c = tf_config(positions);
    c.max_len = 8;
    EXPECT_NO_THROW(make_transformer_model(c, 4, 2)->forward(torch::zeros({1, 20}, torch::kInt64)));
  }
}

void expect_user_error(const config::ModelConfig& cfg, const std::vector<std::string>& needles) {
  try {
    make_transformer_model(cfg, 4, 2);
    ADD_FAILURE() << "expected UserError mentioning " << needles.front();
  } catch (const seqlab::UserError& e) {
    for (const auto& n : needles)
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(TransformerModel, InvalidConfigsNameKeyValueAndAllowed) {
  auto cfg = tf_config("rope", 64, 3);
  expect_user_error(cfg, {"model.heads", "3", "model.d_model", "64"});
  cfg = tf_config("absolute");
  expect_user_error(cfg, {"model.positions", "absolute", "nope, learned, rope"});
  cfg = tf_config("rope", 6, 2);  // head dim 3
  expect_user_error(cfg, {"model.positions", "rope", "even"});
  EXPECT_NO_THROW(make_transformer_model(tf_config("learned", 6, 2), 4, 2));
  cfg = tf_config("rope", 16, 2, 0);
  expect_user_error(cfg, {"model.layers", "0"});
  cfg = tf_config("rope");
  cfg.mlp_ratio = 0;
  expect_user_error(cfg, {"model.mlp_ratio", "0"});
  cfg = tf_config("rope", 0, 1);
  expect_user_error(cfg, {"model.d_model", "0"});
  cfg = tf_config("rope", 16, 0);
  expect_user_error(cfg, {"model.heads", "0"});
  cfg = tf_config("learned");
  cfg.max_len = 0;
  expect_user_error(cfg, {"model.max_len", "0"});
  auto model = make_transformer_model(tf_config("rope"), 4, 2);
  EXPECT_THROW(model->forward(torch::full({1, 3}, 4, torch::kInt64)), c10::Error);
}

}  // namespace transformer_model_test
}  // namespace seqlab::model
