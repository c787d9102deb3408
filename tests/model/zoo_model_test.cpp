// The zoo backbone (model/zoo_model.h): every zoo mixer builds as a model from its config name,
// maps tokens to per-position logits, trains a few steps without non-finite values; the config
// schema knows exactly the registry's mixers; bad options are user errors.
#include "seqlab/model/zoo_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "seqlab/config/config.h"
#include "seqlab/mixers/lti_layer.h"
#include "seqlab/model/param_roles.h"
#include "seqlab/model/registry.h"
#include "seqlab/util/error.h"

namespace seqlab::model {
namespace zoo_model_test {

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

// Absolute position encodings of the backbone (spec §2.2.1), added to the token embedding before
// the first block: sinusoidal PE(t, 2m) = sin(t/10000^{2m/d}), PE(t, 2m+1) = cos(·) at t = 0..T-1;
// learned = an Embedding(max_len, d) table, and a longer sequence is a UserError naming max_len.
TEST(ZooModel, PositionEncodingsAreAddedToTheEmbedding) {
  auto cfg = small_config("softmax_nope");
  cfg.layers = 1;
  const auto trace_input = [&](const std::string& pe, const torch::Tensor& tokens) {
    cfg.pos_encoding = pe;
    torch::manual_seed(3);
    auto model = make_model(cfg, 5, 3);
    model->to(torch::kFloat64);
    auto traces = trace_mixers(*model, tokens);
    auto emb = model->named_parameters()["embedding.weight"].index_select(0, tokens.view(-1));
    return std::make_tuple(model, traces[0].input, emb.view({tokens.size(0), tokens.size(1), 16}));
  };
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(0, 5, {2, 9}, torch::kInt64);
  // The first mixer sees RMSNorm(embedding + PE), with the norm's unit weight at initialization.
  auto [none_model, none_in, none_emb] = trace_input("none", tokens);
  auto [sin_model, sin_in, sin_emb] = trace_input("sinusoidal", tokens);
  auto t = torch::arange(9, torch::kFloat64).unsqueeze(1);
  auto m = torch::arange(8, torch::kFloat64);
  auto angle = t / torch::pow(10000.0, 2.0 * m / 16.0);  // (9, 8)
  auto pe = torch::stack({angle.sin(), angle.cos()}, -1).view({9, 16});
  const auto rms_norm = [](const torch::Tensor& x) {
    return x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-5);
  };
  EXPECT_TRUE(torch::allclose(none_in, rms_norm(none_emb), 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(sin_in, rms_norm(sin_emb + pe), 1e-12, 1e-12));
  EXPECT_EQ(sin_model->named_parameters().size(), none_model->named_parameters().size());

  cfg.max_len = 9;
  auto [learned_model, learned_in, learned_emb] = trace_input("learned", tokens);
  auto table = learned_model->named_parameters()["pos_embedding.weight"];
  EXPECT_EQ(table.sizes(), (std::vector<int64_t>{9, 16}));
  EXPECT_TRUE(torch::allclose(learned_in, rms_norm(learned_emb + table), 1e-12, 1e-12));
  // Longer than the table: a clear error naming model.max_len.
  try {
    learned_model->forward(torch::zeros({1, 10}, torch::kInt64));
    FAIL() << "no error for T > max_len";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("model.max_len = 9"), std::string::npos) << e.what();
  }
  // Config: the keys are zoo keys; bad values are rejected.
  EXPECT_NO_THROW(
      config::parse_yaml("model: {name: gla, pos_encoding: learned, max_len: 64}\n", "test"));
  EXPECT_THROW(config::parse_yaml("model: {name: gla, pos_encoding: rope}\n", "test"), UserError);
  EXPECT_THROW(config::parse_yaml("model: {name: lstm, pos_encoding: learned}\n", "test"),
               UserError);
  EXPECT_THROW(config::parse_yaml("model: {name: gla, variant: companion}\n", "test"), UserError);
  auto na = config::parse_yaml("model: {name: normalized_attention, variant: companion}\n", "t");
  EXPECT_EQ(zoo_options(na.model).variant, "companion");
}

// Block styles of §5.1 and DLR's TransposedLN (§5.5): post-norm blocks end in the norm, so with
// transposed_ln at init every block output row has zero mean and unit std, and there is no final
// norm; `none` has no norm at all; the norm's scalars are norm parameters (no weight decay).
TEST(ZooModel, PostNormAndNoneBlocksWithTransposedLN) {
  auto cfg = small_config("dlr");
  cfg.block = "post_norm";
  cfg.norm = "transposed_ln";
  cfg.channel_mixer = "none";
  torch::manual_seed(1);
  auto model = make_model(cfg, 5, 3);
  model->to(torch::kFloat64);
  auto params = model->named_parameters();
  EXPECT_TRUE(params.contains("blocks.0.norm1.shift"));
  EXPECT_TRUE(params.contains("blocks.1.norm1.scale"));
  EXPECT_FALSE(params.contains("norm.shift"));  // no final norm after post-norm blocks
  EXPECT_FALSE(params.contains("blocks.0.norm2.shift"));
  int norm_params = 0;
  for (const auto& p : parameter_roles(*model))
    if (p.name.find(".norm1.") != std::string::npos) {
      EXPECT_EQ(p.role, ParamRole::kNorm) << p.name;
      ++norm_params;
    }
  EXPECT_EQ(norm_params, 4);  // shift and scale of two blocks
  torch::NoGradGuard no_grad;
  auto tokens = torch::randint(0, 5, {2, 9}, torch::kInt64);
  auto traces = trace_mixers(*model, tokens);
  ASSERT_EQ(traces.size(), 2u);
  // The second block's mixer sees the first block's output: Norm(x + f(x)), normalized rows.
  auto h = traces[1].input;
  EXPECT_LT(h.mean(-1).abs().max().item<double>(), 1e-12);
  EXPECT_LT((h.pow(2).mean(-1) - 1).abs().max().item<double>(), 1e-12);
  // ... and equals that formula computed by hand from the first block.
  auto x0 = traces[0].input;
  auto z = x0 + traces[0].mixer->forward(x0);
  auto zc = z - z.mean(-1, true);
  EXPECT_TRUE(torch::allclose(h, zc / zc.pow(2).mean(-1, true).sqrt(), 1e-12, 1e-12));
  // The readout sees the last block's output directly.
  auto last = traces[1].input + traces[1].mixer->forward(traces[1].input);
  auto lc = last - last.mean(-1, true);
  auto readout = model->named_parameters()["readout.weight"];
  auto bias = model->named_parameters()["readout.bias"];
  auto logits = torch::matmul(lc / lc.pow(2).mean(-1, true).sqrt(), readout.t()) + bias;
  EXPECT_TRUE(torch::allclose(model->forward(tokens), logits, 1e-12, 1e-12));

  cfg.block = "none";
  auto plain = make_model(cfg, 5, 3);
  for (const auto& p : plain->named_parameters())
    EXPECT_EQ(p.key().find("norm"), std::string::npos) << p.key();
  cfg.block = "sandwich";
  EXPECT_THROW(make_model(cfg, 5, 3), UserError);
  EXPECT_THROW(config::parse_yaml("model: {name: dlr, block: sandwich}\n", "t"), UserError);
  EXPECT_THROW(config::parse_yaml("model: {name: dlr, norm: batchnorm}\n", "t"), UserError);
}

// The smoothness paper's block (protocols.md §1.3 SSM-k): pre_channel_mixer adds a channel mixer
// before the mixer, x += FNN(Norm0 x); x += SSM(Norm1 x); x += FNN(Norm2 x), and activation relu
// replaces the MLP's GELU.
TEST(ZooModel, PreChannelMixerAndReluActivation) {
  auto cfg = small_config("dlr");
  cfg.layers = 1;
  cfg.norm = "layernorm";
  cfg.pre_channel_mixer = true;
  cfg.activation = "relu";
  torch::manual_seed(2);
  auto model = make_model(cfg, 0, 1, 3);
  model->to(torch::kFloat64);
  auto p = model->named_parameters();
  ASSERT_TRUE(p.contains("blocks.0.pre_channel.fc1.weight"));
  ASSERT_TRUE(p.contains("blocks.0.norm0.weight"));
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 7, 3}, torch::kFloat64);
  auto lin = [&](const std::string& n, const torch::Tensor& v) {
    return torch::matmul(v, p[n + ".weight"].t()) + p[n + ".bias"];
  };
  auto ln = [&](const std::string& n, const torch::Tensor& v) {
    return torch::layer_norm(v, {16}, p[n + ".weight"], p[n + ".bias"], 1e-5);
  };
  auto fnn = [&](const std::string& n, const torch::Tensor& v) {
    return lin(n + ".fc2", torch::relu(lin(n + ".fc1", v)));
  };
  auto h = lin("encoder", x);
  h = h + fnn("blocks.0.pre_channel", ln("blocks.0.norm0", h));
  const auto traces = trace_mixers(*model, x);
  ASSERT_EQ(traces.size(), 1u);
  EXPECT_TRUE(torch::allclose(traces[0].input, ln("blocks.0.norm1", h), 1e-10, 1e-10));
  h = h + traces[0].mixer->forward(ln("blocks.0.norm1", h));
  h = h + fnn("blocks.0.channel", ln("blocks.0.norm2", h));
  EXPECT_TRUE(torch::allclose(model->forward(x), lin("readout", ln("norm", h)), 1e-10, 1e-10));
}

// Float-feature models (DLR atomic tasks) have a Linear encoder; model.encoder_bias = false
// drops its bias, so a zero input gives a zero embedding.
TEST(ZooModel, EncoderBiasCanBeDropped) {
  auto cfg = small_config("dlr");
  torch::manual_seed(2);
  auto with = make_model(cfg, 0, 3, /*input_features=*/3);
  EXPECT_TRUE(with->named_parameters().contains("encoder.bias"));
  cfg.encoder_bias = false;
  auto without = make_model(cfg, 0, 3, /*input_features=*/3);
  EXPECT_TRUE(without->named_parameters().contains("encoder.weight"));
  EXPECT_FALSE(without->named_parameters().contains("encoder.bias"));
  EXPECT_THROW(config::parse_yaml("model: {name: dlr, encoder_bias: maybe}\n", "t"), UserError);
}

// LTI options as config keys reach the mixers: a bidirectional DLR sees the future, a causal one
// does not; max_kernel_length truncates the kernel; lti_output glu doubles the output Linear.
TEST(ZooModel, LtiConfigKeysReachTheMixers) {
  auto cfg = config::parse_yaml(
                 "model: {name: dlr, d_model: 8, state_size: 4, layers: 1, bidirectional: true, "
                 "max_kernel_length: 5, lti_output: glu, dt_min: 0.001, dt_max: 0.01, "
                 "kernel_to_real: prod, block: post_norm, norm: transposed_ln}\n",
                 "t")
                 .model;
  EXPECT_TRUE(zoo_options(cfg).bidirectional);
  EXPECT_EQ(zoo_options(cfg).max_kernel_length, 5);
  const auto future_effect = [](const config::ModelConfig& c) {
    torch::manual_seed(2);
    auto model = make_model(c, 5, 3);
    model->to(torch::kFloat64);
    torch::NoGradGuard no_grad;
    auto tokens = torch::randint(0, 5, {1, 12}, torch::kInt64);
    auto changed = tokens.clone();
    changed[0][11] = (tokens[0][11].item<int64_t>() + 1) % 5;
    return (model->forward(tokens).select(1, 8) - model->forward(changed).select(1, 8))
        .abs()
        .max()
        .item<double>();
  };
  EXPECT_GT(future_effect(cfg), 1e-9);  // position 8 depends on position 11 (3 lags < 5)
  auto causal = cfg;
  causal.bidirectional = false;
  EXPECT_LT(future_effect(causal), 1e-12);  // FFT round-off only
  torch::manual_seed(2);
  auto model = make_model(cfg, 5, 3);
  auto mixer = zoo_mixers(*model)[0];
  EXPECT_EQ(model->named_parameters()["blocks.0.mixer.output_linear.weight"].size(0), 16);
  auto* lti = dynamic_cast<mixers::LTILayer*>(mixer.get());
  ASSERT_NE(lti, nullptr);
  EXPECT_EQ(lti->kernel_length(100), 5);
  EXPECT_THROW(config::parse_yaml("model: {name: dlr, kernel_to_real: complex}\n", "t"), UserError);
  EXPECT_THROW(config::parse_yaml("model: {name: gla, bidirectional: true}\n", "t"), UserError);
  auto lru = config::parse_yaml("model: {name: lru, r_min: 0.9, r_max: 0.99}\n", "t").model;
  EXPECT_DOUBLE_EQ(zoo_options(lru).r_min, 0.9);
  lru.bidirectional = true;
  EXPECT_THROW(make_model(lru, 5, 3), UserError);
}

}  // namespace zoo_model_test
}  // namespace seqlab::model
