// The published SD-SSM model (spec/mixers.md §2.2.20; protocols.md §2.4): shapes, PyTorch-style
// parameter names (docs/export/sdssm.md), composition one-hot → SD-SSM → LayerNorm → readout,
// config validation, and a short Adam run that lowers the loss.
#include "seqlab/model/sdssm_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "seqlab/util/error.h"

namespace seqlab::model {
namespace sdssm_model_test {

config::ModelConfig sdssm_config(int64_t N, int64_t K, double lp, const std::string& readout,
                                 int64_t mlp_size = 16) {
  config::ModelConfig cfg;
  cfg.name = "sdssm";
  cfg.state_size = N;
  cfg.dict_size = K;
  cfg.lp = lp;
  cfg.readout = readout;
  cfg.mlp_size = mlp_size;
  return cfg;
}

using Shapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

TEST(SDSSMModel, ShapesFamilyAndPyTorchNames) {
  const int64_t N = 6, K = 4, V = 3, C = 5, H = 16;
  torch::manual_seed(0);
  const Shapes mixer{{"sdssm.A_dict", {K, N, N}},  {"sdssm.selector.weight", {K, V}},
                     {"sdssm.selector.bias", {K}}, {"sdssm.B.weight", {N, V}},
                     {"norm.weight", {N}},         {"norm.bias", {N}}};
  for (std::string readout : {"linear", "mlp"}) {
    SCOPED_TRACE(readout);
    auto model = make_sdssm_model(sdssm_config(N, K, 1.2, readout, H), V, C);
    EXPECT_EQ(model->family(), "sdssm");
    Shapes expected = mixer;
    if (readout == "linear") {
      expected.push_back({"readout.weight", {C, N}});
      expected.push_back({"readout.bias", {C}});
    } else {
      expected.push_back({"readout.0.weight", {H, N}});
      expected.push_back({"readout.0.bias", {H}});
      expected.push_back({"readout.2.weight", {C, H}});
      expected.push_back({"readout.2.bias", {C}});
    }
    Shapes got;
    for (const auto& kv : model->named_parameters()) {
      got.push_back({kv.key(), kv.value().sizes().vec()});
    }
    EXPECT_EQ(got, expected);
    EXPECT_EQ(model->named_buffers().size(), 0u);
    for (int64_t T : {1, 2, 7, 41}) {
      auto logits = model->forward(torch::randint(0, V, {5, T}, torch::kInt64));
      EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{5, T, C}));
      EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
    }
  }
}

// protocols.md §2.5: ≈ 33k parameters for N = 64, K = 8, D = 3.
TEST(SDSSMModel, ParameterCountOfThePublishedSize) {
  auto model = make_sdssm_model(sdssm_config(64, 8, 1.2, "linear"), 3, 2);
  int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  EXPECT_EQ(n, 8 * 64 * 64 + (8 * 3 + 8) + 64 * 3 + 2 * 64 + (2 * 64 + 2));
}

// logits = readout(LayerNorm(x)) with x the mixer's reference states on one_hot(tokens).
TEST(SDSSMModel, IsReadoutOfLayerNormOfMixerStates) {
  torch::manual_seed(1);
  const int64_t N = 5, V = 3, C = 2;
  for (std::string readout : {"linear", "mlp"}) {
    auto base = make_sdssm_model(sdssm_config(N, 3, 1.3, readout, 7), V, C);
    base->to(torch::kFloat64);
    auto model = std::dynamic_pointer_cast<SDSSMModel>(base);
    ASSERT_TRUE(model);
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, V, {3, 9}, torch::kInt64);
    auto x = model->mixer()->reference(torch::one_hot(tokens, V).to(torch::kFloat64));
    auto p = model->named_parameters();
    auto mean = x.mean(-1, true);
    auto var = (x - mean).pow(2).mean(-1, true);
    auto h = (x - mean) / torch::sqrt(var + 1e-5) * p["norm.weight"] + p["norm.bias"];
    torch::Tensor expected;
    if (readout == "linear") {
      expected = torch::matmul(h, p["readout.weight"].t()) + p["readout.bias"];
    } else {
      auto z = torch::relu(torch::matmul(h, p["readout.0.weight"].t()) + p["readout.0.bias"]);
      expected = torch::matmul(z, p["readout.2.weight"].t()) + p["readout.2.bias"];
    }
    EXPECT_LE((model->forward(tokens) - expected).abs().max().item<double>(), 1e-10) << readout;
  }
}

TEST(SDSSMModel, RejectsBadConfigNamingTheKey) {
  auto expect_user_error = [](const config::ModelConfig& cfg, int64_t V, int64_t C,
                              const std::string& needle) {
    try {
      make_sdssm_model(cfg, V, C);
      ADD_FAILURE() << "accepted; expected an error mentioning '" << needle << "'";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_user_error(sdssm_config(0, 8, 1.2, "linear"), 3, 2, "model.state_size must be in [1, ");
  expect_user_error(sdssm_config(8, 0, 1.2, "linear"), 3, 2, "model.dict_size must be in [1, ");
  expect_user_error(sdssm_config(8, 4, 0.9, "linear"), 3, 2, "model.lp must be in [1, ");
  expect_user_error(sdssm_config(8, 4, std::nan(""), "linear"), 3, 2, "model.lp must be in [1, ");
  expect_user_error(sdssm_config(8, 4, 1.2, "nonlinear"), 3, 2,
                    "model.readout must be one of linear, mlp");
  expect_user_error(sdssm_config(8, 4, 1.2, "mlp", 0), 3, 2, "model.mlp_size must be in [1, ");
  expect_user_error(sdssm_config(8, 4, 1.2, "linear"), 0, 2, "vocabulary size");
  expect_user_error(sdssm_config(8, 4, 1.2, "linear"), 3, 0, "number of classes");
}

// A few Adam steps on a tiny fixed problem (parity of 1..6 bits, loss on the last position, as in
// the LG protocol) lower the cross-entropy.
TEST(SDSSMModel, AdamStepsReduceTheLoss) {
  torch::manual_seed(2);
  for (std::string readout : {"linear", "mlp"}) {
    auto model = make_sdssm_model(sdssm_config(8, 4, 1.2, readout, 16), 2, 2);
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
    std::vector<torch::Tensor> inputs, targets;
    for (int64_t T = 1; T <= 6; ++T) {
      auto x = torch::randint(0, 2, {16, T}, torch::kInt64);
      inputs.push_back(x);
      targets.push_back(x.sum(1).remainder(2));
    }
    auto total_loss = [&] {
      torch::Tensor sum = torch::zeros({});
      for (size_t i = 0; i < inputs.size(); ++i) {
        auto logits = model->forward(inputs[i]).select(1, -1);
        sum = sum + torch::nn::functional::cross_entropy(logits, targets[i]);
      }
      return sum / static_cast<double>(inputs.size());
    };
    const double initial = total_loss().item<double>();
    for (int step = 0; step < 60; ++step) {
      opt.zero_grad();
      auto loss = total_loss();
      ASSERT_TRUE(std::isfinite(loss.item<double>()));
      loss.backward();
      opt.step();
    }
    const double final_loss = total_loss().item<double>();
    EXPECT_LT(final_loss, 0.7 * initial) << readout << ": " << initial << " -> " << final_loss;
  }
}

// model.renorm_state (spec/mixers.md §3.4): with p = 1.2 and a positive dictionary every column
// of A_t sums to about N^{1-1/p} ≈ 1.6, so the raw float32 state overflows after ~190 steps; the
// rescaled evaluation stays finite and matches the raw state computed in float64 (which has range
// to spare) up to LayerNorm's ε.
TEST(SDSSMModel, RenormStateMatchesRawStateAndAvoidsOverflow) {
  torch::manual_seed(3);
  config::ModelConfig cfg;
  cfg.state_size = 16;
  cfg.dict_size = 4;
  cfg.lp = 1.2;
  cfg.renorm_state = true;
  SDSSMModel renorm(cfg, 3, 5);
  {
    torch::NoGradGuard g;
    renorm.mixer()->A_dict.abs_();
  }
  cfg.renorm_state = false;
  SDSSMModel raw(cfg, 3, 5);
  {
    torch::NoGradGuard g;
    auto src = renorm.named_parameters();
    for (auto& p : raw.named_parameters()) p.value().copy_(src[p.key()]);
  }
  auto raw64 = std::make_shared<SDSSMModel>(cfg, 3, 5);
  {
    torch::NoGradGuard g;
    auto src = renorm.named_parameters();
    for (auto& p : raw64->named_parameters()) p.value().copy_(src[p.key()]);
  }
  raw64->to(torch::kFloat64);
  const auto tokens = torch::randint(0, 3, {4, 700}, torch::kLong);
  torch::NoGradGuard no_grad;
  const auto x_raw = raw.forward(tokens);
  const auto x_renorm = renorm.forward(tokens);
  const auto x_ref = raw64->forward(tokens);
  // The raw float32 model overflows somewhere on the way to T = 700; the test needs that to mean
  // anything, so check it.
  EXPECT_FALSE(torch::isfinite(x_raw).all().item<bool>());
  ASSERT_TRUE(torch::isfinite(x_renorm).all().item<bool>());
  ASSERT_TRUE(torch::isfinite(x_ref).all().item<bool>());
  EXPECT_LT((x_renorm.to(torch::kFloat64) - x_ref).abs().max().item<double>(), 1e-2);
  // Short sequences (one chunk) take the plain path: identical bits.
  const auto short_tokens = tokens.narrow(1, 0, 20).contiguous();
  EXPECT_TRUE(torch::equal(renorm.forward(short_tokens), raw.forward(short_tokens)));
}

}  // namespace sdssm_model_test
}  // namespace seqlab::model
