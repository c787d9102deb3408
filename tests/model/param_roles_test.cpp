// Parameter roles and the global initializer (model/param_roles.h; spec/mixers.md §5.5-5.6):
// mixer-declared dynamics parameters and norm affines are recognized by their full names, and
// model.init = normal re-draws ordinary weights while leaving Mamba's Δ/A_log initialization
// exactly as its constructor made it.
#include "seqlab/model/param_roles.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "seqlab/config/config.h"
#include "seqlab/mixers/mixer.h"
#include "seqlab/model/registry.h"
#include "seqlab/util/error.h"

namespace seqlab::model {
namespace param_roles_test {

config::ModelConfig mamba_config(const std::string& name) {
  config::ModelConfig cfg;
  cfg.name = name;
  cfg.d_model = 16;
  cfg.heads = 2;
  cfg.layers = 2;
  cfg.state_size = 4;
  return cfg;
}

std::map<std::string, ParamRole> roles_of(torch::nn::Module& m) {
  std::map<std::string, ParamRole> r;
  for (const auto& p : parameter_roles(m)) r[p.name] = p.role;
  return r;
}

TEST(ParamRoles, MambaDynamicsAndNormsAreRecognized) {
  auto model = make_model(mamba_config("mamba1"), 5, 3);
  const auto roles = roles_of(*model);
  int dynamics = 0, norms = 0;
  for (const auto& [name, role] : roles) {
    const bool dyn = name.find(".A_log") != std::string::npos ||
                     name.find("mixer.D") != std::string::npos ||
                     name.find("dt_proj.bias") != std::string::npos;
    if (dyn) {
      EXPECT_EQ(role, ParamRole::kDynamics) << name;
    }
    if (role == ParamRole::kDynamics) {
      EXPECT_TRUE(dyn) << name;
      ++dynamics;
    }
    if (role == ParamRole::kNorm) {
      EXPECT_NE(name.find("norm"), std::string::npos) << name;
      ++norms;
    }
  }
  EXPECT_EQ(dynamics, 2 * 3);   // A_log, D, dt_proj.bias per layer
  EXPECT_GE(norms, 2 * 2 + 1);  // two pre-norms per block and the final norm
  EXPECT_EQ(roles.size(), model->named_parameters().size());
  EXPECT_EQ(roles.at("embedding.weight"), ParamRole::kWeight);
}

TEST(ParamRoles, NormalInitRedrawsWeightsButNotDynamics) {
  torch::manual_seed(3);
  auto plain = make_model(mamba_config("mamba1"), 5, 3);
  auto cfg = mamba_config("mamba1");
  cfg.init = "normal";
  cfg.init_std = 0.02;
  torch::manual_seed(3);
  auto redrawn = make_model(cfg, 5, 3);
  const auto before = plain->named_parameters();
  int kept = 0, redrawn_weights = 0;
  for (const auto& p : parameter_roles(*redrawn)) {
    const auto& old = before[p.name];
    if (p.role != ParamRole::kWeight) {
      EXPECT_TRUE(torch::equal(old, p.tensor)) << p.name << " was re-initialized";
      ++kept;
    } else if (p.name.find("in_proj.weight") != std::string::npos) {
      EXPECT_FALSE(torch::equal(old, p.tensor)) << p.name;
      EXPECT_NEAR(p.tensor.std().item<double>(), 0.02, 0.004) << p.name;
      ++redrawn_weights;
    }
  }
  EXPECT_GT(kept, 0);
  // Mamba-1's Δ bias lives in a Linear (dt_proj) and still keeps its inverse-softplus init.
  const auto dt_bias = redrawn->named_parameters()["blocks.0.mixer.dt_proj.bias"];
  EXPECT_TRUE(torch::equal(dt_bias, before["blocks.0.mixer.dt_proj.bias"]));
  EXPECT_GT(dt_bias.abs().min().item<double>(), 0.0);
  EXPECT_EQ(redrawn_weights, 2);
  // Linear biases of ordinary weights are zeroed (the readout has one).
  EXPECT_EQ(redrawn->named_parameters()["readout.bias"].abs().max().item<double>(), 0.0);
}

TEST(ParamRoles, BadSchemeIsAUserError) {
  auto model = make_model(mamba_config("gla"), 5, 3);
  EXPECT_THROW(apply_global_init(*model, "xavier", 0.02), UserError);
  EXPECT_THROW(apply_global_init(*model, "normal", 0.0), UserError);
  EXPECT_THROW(config::parse_yaml("model:\n  name: gla\n  init: xavier\n", "t"), UserError);
}

// A mixer that declares a dynamics parameter it does not own is a programming error.
class LyingMixer : public mixers::Mixer {
 public:
  LyingMixer() { register_parameter("A_log", torch::zeros({2})); }
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
  torch::Tensor reference(const torch::Tensor& x) override { return x; }
  int64_t state_size(int64_t) const override { return 0; }
  mixers::Structure structure() const override { return mixers::Structure::kIdentity; }
  std::vector<std::string> dynamics_parameters() const override { return {"A_log", "dt_bias"}; }
};

TEST(ParamRoles, UndeclaredDynamicsParameterIsALogicError) {
  LyingMixer m;
  EXPECT_THROW(parameter_roles(m), std::logic_error);
}

}  // namespace param_roles_test
}  // namespace seqlab::model
