#include "seqlab/config/config.h"

#include <gtest/gtest.h>

#include "seqlab/util/error.h"

namespace seqlab::config {
namespace config_test {

// Runs f and returns the UserError message ("" if nothing was thrown).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ParsesAllSections) {
  const auto cfg = parse_yaml(R"(
name: demo
task: {name: d4, query_token: false}
model: {name: sdssm, state_size: 32, dict_size: 6, lp: 1.1}
train: {steps: 100, batch_size: 16, lr: 2.0e-3, schedule: warmup_cosine, warmup_steps: 10}
eval: {max_length: 200, length_stride: 10, samples_per_length: 64}
)",
                              "test");
  EXPECT_EQ(cfg.name, "demo");
  EXPECT_EQ(cfg.task.name, "d4");
  EXPECT_EQ(cfg.model.state_size, 32);
  EXPECT_EQ(cfg.model.dict_size, 6);
  EXPECT_DOUBLE_EQ(cfg.model.lp, 1.1);
  EXPECT_EQ(cfg.train.steps, 100);
  EXPECT_DOUBLE_EQ(cfg.train.lr, 2e-3);
  EXPECT_EQ(cfg.train.schedule, "warmup_cosine");
  EXPECT_EQ(cfg.eval.length_stride, 10);
  EXPECT_NO_THROW(validate(cfg));
}

TEST(Config, UnknownKeyNamesKeyAndValidKeys) {
  const auto msg = error_of([] { parse_yaml("train: {lrr: 1}", "f.yaml"); });
  EXPECT_NE(msg.find("unknown key 'train.lrr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f.yaml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("lr"), std::string::npos) << msg;
}

TEST(Config, UnknownSectionIsAnError) {
  const auto msg = error_of([] { parse_yaml("trian: {steps: 1}", "f.yaml"); });
  EXPECT_NE(msg.find("unknown key 'trian'"), std::string::npos) << msg;
}

TEST(Config, WrongTypeNamesKeyAndValue) {
  const auto msg = error_of([] { parse_yaml("train: {steps: many}", "f.yaml"); });
  EXPECT_NE(msg.find("train.steps"), std::string::npos) << msg;
  EXPECT_NE(msg.find("integer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'many'"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { parse_yaml("train: {steps: [1, 2]}", "f"); }).find("a list"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_yaml("task: {query_token: maybe}", "f"); }).find("boolean"),
            std::string::npos);
}

TEST(Config, OutOfRangeNamesAllowedRange) {
  const auto msg = error_of([] { parse_yaml("train: {max_length: -5}", "f"); });
  EXPECT_NE(msg.find("train.max_length = -5 is out of range"), std::string::npos) << msg;
  EXPECT_NE(msg.find("must be in [1, 16777216]"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { parse_yaml("train: {steps: 0}", "f"); }).find(">= 1"), std::string::npos);
  EXPECT_NE(error_of([] { parse_yaml("model: {lp: 0.5}", "f"); }).find("model.lp"),
            std::string::npos);
}

TEST(Config, BadChoiceListsChoices) {
  const auto msg = error_of([] { parse_yaml("model: {name: mamba9}", "f"); });
  EXPECT_NE(msg.find("'mamba9'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sdssm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("transformer"), std::string::npos) << msg;
}

TEST(Config, ModelKeyOfAnotherFamilyIsAnError) {
  const auto msg = error_of([] { parse_yaml("model: {name: lstm, dict_size: 8}", "f"); });
  EXPECT_NE(msg.find("model.dict_size is not used by model 'lstm'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("hidden_size"), std::string::npos) << msg;
  // Order inside the mapping does not matter.
  EXPECT_NE(error_of([] { parse_yaml("model: {dict_size: 8, name: lstm}", "f"); }), "");
}

TEST(Config, MalformedYamlGivesLine) {
  const auto msg = error_of([] { parse_yaml("train:\n  steps: [1, 2\n", "bad.yaml"); });
  EXPECT_NE(msg.find("malformed YAML"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad.yaml"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { parse_yaml("- a\n- b\n", "f"); }).find("expected a mapping"),
            std::string::npos);
}

TEST(Config, OverridesApplyAndValidate) {
  auto cfg = parse_yaml("model: {name: sdssm}", "f");
  apply_override(cfg, "train.lr=3e-4");
  apply_override(cfg, "model.dict_size=12");
  apply_override(cfg, "task.query_token=true");
  EXPECT_DOUBLE_EQ(cfg.train.lr, 3e-4);
  EXPECT_EQ(cfg.model.dict_size, 12);
  EXPECT_TRUE(cfg.task.query_token);
  EXPECT_NE(error_of([&] { apply_override(cfg, "train.lr"); }).find("expected key=value"),
            std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(cfg, "bogus.x=1"); }).find("unknown section"),
            std::string::npos);
  EXPECT_NE(error_of([&] { apply_override(cfg, "train.nope=1"); }).find("unknown key"),
            std::string::npos);
  // Switching family keeps the earlier explicit sdssm key, which lstm does not use.
  EXPECT_NE(error_of([&] { apply_override(cfg, "model.name=lstm"); }).find("dict_size"),
            std::string::npos);
}

TEST(Config, CrossFieldValidation) {
  auto cfg = parse_yaml("train: {min_length: 50, max_length: 40}", "f");
  EXPECT_NE(error_of([&] { validate(cfg); }).find("min_length"), std::string::npos);
  auto t = parse_yaml("model: {name: transformer, d_model: 30, heads: 4}", "f");
  EXPECT_NE(error_of([&] { validate(t); }).find("must divide"), std::string::npos);
  auto e = parse_yaml("eval: {max_length: 30}", "f");
  EXPECT_NE(error_of([&] { validate(e); }).find("id_max_length"), std::string::npos);
}

TEST(Config, ResolvedYamlRoundTrips) {
  auto cfg = parse_yaml(R"(
name: rt
task: {name: cycle_navigation, query_token: true}
model: {name: complex_diagonal, state_size: 16, readout: nonlinear, with_b: false}
train: {lr: 1.2345678901234e-3, steps: 77}
)",
                        "f");
  const auto text = to_yaml(cfg);
  const auto back = parse_yaml(text, "resolved");
  EXPECT_EQ(to_yaml(back), text);
  EXPECT_DOUBLE_EQ(back.train.lr, cfg.train.lr);
  EXPECT_EQ(back.model.readout, "nonlinear");
  EXPECT_FALSE(back.model.with_b);
  // Only keys of the chosen model family are written.
  EXPECT_EQ(text.find("dict_size"), std::string::npos) << text;
  EXPECT_NE(text.find("scale_eigv"), std::string::npos) << text;
}

TEST(Config, DescribeKeysCoversEverySection) {
  const auto keys = describe_keys();
  auto has = [&](const std::string& prefix) {
    for (const auto& k : keys)
      if (k.rfind(prefix, 0) == 0) return true;
    return false;
  };
  EXPECT_TRUE(has("task.name"));
  EXPECT_TRUE(has("model.lp"));
  EXPECT_TRUE(has("train.grad_clip"));
  EXPECT_TRUE(has("eval.ood_from"));
}

}  // namespace config_test
}  // namespace seqlab::config
