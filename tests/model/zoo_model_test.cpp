// The zoo backbone (model/zoo_model.h): every zoo mixer builds as a model from its config name,
// maps tokens to per-position logits, trains a few steps without non-finite values; the config
// schema knows exactly the registry's mixers; bad options are user errors.
#include "seqlab/model/zoo_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>

#include "seqlab/config/config.h"
#include "seqlab/model/registry.h"
#include "seqlab/util/error.h"

namespace seqlab::model {
namespace {

config::ModelConfig small_config(const std::string& name) {
  config::ModelConfig cfg;
  cfg.name = name;
  cfg.d_model = 16;
  cfg.heads = 2;
  cfg.layers = 2;
  cfg.state_size = 4;
  cfg.mlp_ratio = 2;
  return cfg;
}

TEST(ZooModel, EveryMixerBuildsRunsAndLearnsAStep) {
  for (const auto& name : mixers::mixer_names()) {
    torch::manual_seed(0);
    auto model = make_model(small_config(name), 5, 3);
    EXPECT_EQ(model->family(), name);
    EXPECT_EQ(zoo_mixers(*model).size(), 2u) << name;
    auto tokens = torch::randint(0, 5, {4, 11}, torch::kInt64);
    auto targets = torch::randint(0, 3, {4, 11}, torch::kInt64);
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
    double first = 0, last = 0;
    for (int step = 0; step < 30; ++step) {
      auto logits = model->forward(tokens);
      ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{4, 11, 3})) << name;
      auto loss = torch::nn::functional::cross_entropy(logits.reshape({-1, 3}), targets.view(-1));
      ASSERT_TRUE(std::isfinite(loss.item<double>())) << name;
      if (step == 0) first = loss.item<double>();
      last = loss.item<double>();
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    EXPECT_LT(last, first) << name << ": 30 Adam steps on a fixed batch did not lower the loss";
  }
}

TEST(ZooModel, ConfigSchemaListsExactlyTheRegistryMixers) {
  for (const auto& name : mixers::mixer_names()) {
    auto cfg = config::parse_yaml("model:\n  name: " + name + "\n  d_model: 32\n", "test");
    EXPECT_EQ(cfg.model.name, name);
  }
  // Zoo keys are accepted for zoo models and rejected for the others.
  EXPECT_NO_THROW(config::parse_yaml("model:\n  name: gla\n  chunk_size: 16\n", "test"));
  EXPECT_THROW(config::parse_yaml("model:\n  name: lstm\n  chunk_size: 16\n", "test"), UserError);
  // Every model name the schema accepts is buildable.
  std::vector<std::string> registry_names;
  for (const auto& info : model_infos()) registry_names.push_back(info.name);
  for (const auto& key : config::describe_keys()) {
    if (key.rfind("model.name ", 0) != 0) continue;
    for (const auto& n : registry_names)
      EXPECT_NE(key.find(n), std::string::npos) << n << " missing from " << key;
  }
}

TEST(ZooModel, BadOptionsAreUserErrors) {
  auto cfg = small_config("gla");
  cfg.heads = 3;
  EXPECT_THROW(make_model(cfg, 5, 3), UserError);
  cfg = small_config("mamba2");
  cfg.scan_path = "magic";
  EXPECT_THROW(make_model(cfg, 5, 3), UserError);
}

}  // namespace
}  // namespace seqlab::model
