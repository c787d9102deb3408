// LSTM baseline model (spec/mixers.md §2.3): one-hot -> LSTM -> Linear(no bias) per position.
#include "seqlab/model/lstm_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "seqlab/mixers/lstm.h"
#include "seqlab/util/error.h"

namespace seqlab::model {
namespace lstm_model_test {

config::ModelConfig lstm_config(int64_t hidden) {
  config::ModelConfig cfg;
  cfg.name = "lstm";
  cfg.hidden_size = hidden;
  return cfg;
}

TEST(LSTMModel, ShapesFamilyAndPyTorchNames) {
  torch::manual_seed(0);
  auto model = make_lstm_model(lstm_config(16), /*vocab_size=*/5, /*num_classes=*/3);
  EXPECT_EQ(model->family(), "lstm");
  std::map<std::string, std::vector<int64_t>> expected{{"lstm.weight_ih_l0", {64, 5}},
                                                       {"lstm.weight_hh_l0", {64, 16}},
                                                       {"lstm.bias_ih_l0", {64}},
                                                       {"lstm.bias_hh_l0", {64}},
                                                       {"readout.weight", {3, 16}}};
  auto params = model->named_parameters();
  ASSERT_EQ(params.size(), expected.size());
  for (auto& kv : params) {
    auto it = expected.find(kv.key());
    ASSERT_NE(it, expected.end()) << "unexpected parameter " << kv.key();
    EXPECT_EQ(kv.value().sizes(), it->second) << kv.key();
  }
  for (int64_t T : {1, 2, 7, 33}) {
    auto tokens = torch::randint(0, 5, {4, T}, torch::kInt64);
    auto logits = model->forward(tokens);
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{4, T, 3}));
    EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
  }
}

TEST(LSTMModel, EqualsOneHotLstmReadoutComposition) {
  // The model is readout(LSTM(one_hot(tokens))) with no bias, written out with the gate reference.
  torch::manual_seed(1);
  auto model = make_lstm_model(lstm_config(8), 4, 3);
  model->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(0, 4, {3, 9}, torch::kInt64);
  auto lstm = std::dynamic_pointer_cast<mixers::LSTMMixerImpl>(model->named_children()["lstm"]);
  ASSERT_TRUE(lstm);
  auto hidden = lstm->reference(torch::one_hot(tokens, 4).to(torch::kFloat64));
  auto expected = torch::matmul(hidden, model->named_parameters()["readout.weight"].t());
  auto got = model->forward(tokens);
  EXPECT_LE((got - expected).abs().max().item<double>(), 1e-12);
}

TEST(LSTMModel, CausalExactly) {
  torch::manual_seed(2);
  auto model = make_lstm_model(lstm_config(12), 3, 2);
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(0, 3, {2, 33}, torch::kInt64);
  auto other = tokens.clone();
  other.narrow(1, 20, 13).copy_((tokens.narrow(1, 20, 13) + 1) % 3);
  auto a = model->forward(tokens), b = model->forward(other);
  EXPECT_TRUE(torch::equal(a.narrow(1, 0, 20), b.narrow(1, 0, 20)));
  EXPECT_FALSE(torch::equal(a.select(1, 20), b.select(1, 20)));
}

TEST(LSTMModel, AdamStepsReduceLossOnPreviousTokenTask) {
  // target_t = token_{t-1}: needs memory across one step.
  torch::manual_seed(3);
  auto model = make_lstm_model(lstm_config(16), 3, 3);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(2e-2));
  auto tokens = torch::randint(0, 3, {32, 12}, torch::kInt64);
  auto targets = tokens.narrow(1, 0, 11).contiguous();
  auto loss_of = [&] {
    auto logits = model->forward(tokens).narrow(1, 1, 11);
    return torch::nn::functional::cross_entropy(logits.reshape({-1, 3}), targets.reshape({-1}));
  };
  const double initial = loss_of().item<double>();
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    auto loss = loss_of();
    loss.backward();
    opt.step();
  }
  const double final_loss = loss_of().item<double>();
  EXPECT_LT(final_loss, 0.5 * initial) << "initial " << initial << " final " << final_loss;
}

TEST(LSTMModel, InvalidConfigAndTokens) {
  try {
    make_lstm_model(lstm_config(0), 3, 2);
    FAIL() << "expected UserError";
  } catch (const seqlab::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("model.hidden_size"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_lstm_model(lstm_config(4), 0, 2), seqlab::UserError);
  EXPECT_THROW(make_lstm_model(lstm_config(4), 3, 0), seqlab::UserError);
  auto model = make_lstm_model(lstm_config(4), 3, 2);
  EXPECT_THROW(model->forward(torch::full({1, 4}, 3, torch::kInt64)), c10::Error);
  EXPECT_THROW(model->forward(torch::zeros({1, 4}, torch::kFloat32)), c10::Error);
}

}  // namespace lstm_model_test
}  // namespace seqlab::model
