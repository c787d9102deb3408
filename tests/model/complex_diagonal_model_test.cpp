// Complex-diagonal SSM baselines as a SequenceModel (spec/mixers.md §2.2.21; protocols.md §2.4):
// shapes, PyTorch-style names (docs/export/complex_diagonal.md), config validation, composition
// with the mixer, and a short Adam run that lowers the loss.
#include "seqlab/model/complex_diagonal_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "seqlab/util/error.h"

namespace seqlab::model {
namespace complex_diagonal_model_test {

config::ModelConfig cdiag_config(int64_t N, bool with_b, const std::string& readout) {
  config::ModelConfig cfg;
  cfg.name = "complex_diagonal";
  cfg.state_size = N;
  cfg.with_b = with_b;
  cfg.readout = readout;
  return cfg;
}

using Shapes = std::map<std::string, std::vector<int64_t>>;

void expect_parameters(SequenceModel& model, const Shapes& expected) {
  auto params = model.named_parameters();
  EXPECT_EQ(params.size(), expected.size());
  for (auto& kv : params) {
    auto it = expected.find(kv.key());
    ASSERT_NE(it, expected.end()) << "unexpected parameter " << kv.key();
    EXPECT_EQ(kv.value().sizes(), it->second) << kv.key();
  }
  auto buffers = model.named_buffers();
  ASSERT_EQ(buffers.size(), 1u);
  EXPECT_EQ(buffers.begin()->key(), "ssm.x0_phase");
}

TEST(ComplexDiagonalModel, ShapesFamilyAndPyTorchNames) {
  const int64_t N = 6, V = 4, C = 3;
  torch::manual_seed(0);
  Shapes mixer_with_b{{"ssm.embedding.weight", {V, V}},
                      {"ssm.eig_mlp.0.weight", {4 * N, V}},
                      {"ssm.eig_mlp.0.bias", {4 * N}},
                      {"ssm.eig_mlp.2.weight", {2 * N, 4 * N}},
                      {"ssm.eig_mlp.2.bias", {2 * N}},
                      {"ssm.B_re", {N, V}},
                      {"ssm.B_im", {N, V}}};
  for (bool with_b : {true, false}) {
    for (std::string readout : {"linear", "nonlinear"}) {
      auto model = make_complex_diagonal_model(cdiag_config(N, with_b, readout), V, C);
      EXPECT_EQ(model->family(), "complex_diagonal");
      Shapes expected = mixer_with_b;
      if (!with_b) {
        expected.erase("ssm.B_re");
        expected.erase("ssm.B_im");
      }
      if (readout == "linear") {
        expected["readout.weight"] = {C, 2 * N};
        expected["readout.bias"] = {C};
      } else {
        expected["readout.0.weight"] = {2 * N, 2 * N};
        expected["readout.0.bias"] = {2 * N};
        expected["readout.2.weight"] = {C, 2 * N};
        expected["readout.2.bias"] = {C};
      }
      SCOPED_TRACE(readout + (with_b ? " with B" : " without B"));
      expect_parameters(*model, expected);
      for (int64_t T : {1, 2, 7, 41}) {
        auto logits = model->forward(torch::randint(0, V, {5, T}, torch::kInt64));
        EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{5, T, C}));
        EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
      }
    }
  }
}

TEST(ComplexDiagonalModel, IsReadoutOfOneHotMixerStates) {
  torch::manual_seed(1);
  const int64_t N = 5, V = 3, C = 2;
  for (std::string readout : {"linear", "nonlinear"}) {
    auto base = make_complex_diagonal_model(cdiag_config(N, true, readout), V, C);
    base->to(torch::kFloat64);
    auto model = std::dynamic_pointer_cast<ComplexDiagonalModel>(base);
    ASSERT_TRUE(model);
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, V, {3, 9}, torch::kInt64);
    auto states = model->mixer()->reference(torch::one_hot(tokens, V).to(torch::kFloat64));
    auto p = model->named_parameters();
    torch::Tensor expected;
    if (readout == "linear") {
      expected = torch::matmul(states, p["readout.weight"].t()) + p["readout.bias"];
    } else {
      auto h = torch::relu(torch::matmul(states, p["readout.0.weight"].t()) + p["readout.0.bias"]);
      expected = torch::matmul(h, p["readout.2.weight"].t()) + p["readout.2.bias"];
    }
    auto got = model->forward(tokens);
    EXPECT_LE((got - expected).abs().max().item<double>(), 1e-12) << readout;
  }
}

TEST(ComplexDiagonalModel, RejectsBadConfigNamingTheKey) {
  auto expect_user_error = [](const config::ModelConfig& cfg, int64_t V, int64_t C,
                              const std::string& needle) {
    try {
      make_complex_diagonal_model(cfg, V, C);
      ADD_FAILURE() << "accepted; expected an error mentioning '" << needle << "'";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_user_error(cdiag_config(0, true, "linear"), 3, 2, "model.state_size must be in [1, ");
  expect_user_error(cdiag_config(4, true, "mlp"), 3, 2,
                    "model.readout must be one of linear, nonlinear");
  auto cfg = cdiag_config(4, true, "linear");
  cfg.scale_eigv = -0.5;
  expect_user_error(cfg, 3, 2, "model.scale_eigv must be in [0, 10]");
  cfg.scale_eigv = std::nan("");
  expect_user_error(cfg, 3, 2, "model.scale_eigv must be in [0, 10]");
  expect_user_error(cdiag_config(4097, true, "linear"), 3, 2,
                    "model.state_size must be in [1, 4096]");
  expect_user_error(cdiag_config(4, true, "linear"), 0, 2, "vocabulary size");
  expect_user_error(cdiag_config(4, true, "linear"), 3, 0, "number of classes");
}

TEST(ComplexDiagonalModel, RejectsOutOfRangeTokens) {
  torch::manual_seed(2);
  auto model = make_complex_diagonal_model(cdiag_config(4, true, "linear"), 3, 2);
  EXPECT_THROW(model->forward(torch::full({1, 4}, 3, torch::kInt64)), c10::Error);
  EXPECT_THROW(model->forward(torch::zeros({1, 4}, torch::kInt32)), c10::Error);
}

TEST(ComplexDiagonalModel, AdamStepsReduceLoss) {
  // Running parity of the ones seen so far, scored at every position: a commutative task that all
  // four variants can represent (λ = −1 for token 1, λ = 1 for token 0).
  for (bool with_b : {true, false}) {
    for (std::string readout : {"linear", "nonlinear"}) {
      torch::manual_seed(3);
      auto model = make_complex_diagonal_model(cdiag_config(8, with_b, readout), 2, 2);
      torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
      auto tokens = torch::randint(0, 2, {32, 10}, torch::kInt64);
      auto targets = torch::remainder(torch::cumsum(tokens, 1), 2);
      auto loss_fn = [&] {
        auto logits = model->forward(tokens);
        return torch::nn::functional::cross_entropy(logits.reshape({-1, 2}), targets.reshape({-1}));
      };
      const double initial = loss_fn().item<double>();
      double last = initial;
      for (int step = 0; step < 40; ++step) {
        opt.zero_grad();
        auto loss = loss_fn();
        loss.backward();
        opt.step();
        last = loss.item<double>();
      }
      const double final_loss = loss_fn().item<double>();
      EXPECT_TRUE(std::isfinite(final_loss));
      EXPECT_LT(final_loss, 0.9 * initial)
          << readout << (with_b ? " with B" : " without B") << ": " << initial << " -> "
          << final_loss << " (last step " << last << ")";
    }
  }
}

}  // namespace complex_diagonal_model_test
}  // namespace seqlab::model
