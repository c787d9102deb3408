#include "seqlab/eval/length_generalization.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace seqlab::eval {
namespace length_generalization_test {

// Exact parity automaton as a SequenceModel: logits favour (prefix sum mod 2) at every position,
// ignoring the query token (id 2).
class ParityOracle : public model::SequenceModel {
 public:
  torch::Tensor forward(const torch::Tensor& tokens) override {
    const auto bits = (tokens == 1).to(torch::kLong);
    const auto parity = bits.cumsum(1).remainder(2);
    return torch::one_hot(parity, 2).to(torch::kFloat32);
  }
  std::string family() const override { return "oracle"; }
};

// Always predicts class 0.
class ConstantModel : public model::SequenceModel {
 public:
  torch::Tensor forward(const torch::Tensor& tokens) override {
    auto out = torch::zeros({tokens.size(0), tokens.size(1), 2});
    out.select(2, 0).fill_(1.0);
    return out;
  }
  std::string family() const override { return "constant"; }
};

std::unique_ptr<tasks::Task> parity(bool query) {
  tasks::TaskOptions o;
  o.name = "parity_check";
  o.query_token = query;
  return tasks::make_task(o);
}

TEST(LengthGeneralization, EvaluationLengths) {
  config::EvalConfig c;
  c.max_length = 100;
  c.length_stride = 25;
  c.id_max_length = 5;
  c.ood_from = 41;
  EXPECT_EQ(evaluation_lengths(c), (std::vector<int64_t>{1, 2, 3, 4, 5, 41, 66, 91, 100}));
  c.length_stride = 1;
  c.id_max_length = 40;
  EXPECT_EQ(evaluation_lengths(c).size(), 100u);
}

TEST(LengthGeneralization, OracleIsPerfect) {
  ParityOracle oracle;
  config::EvalConfig c;
  c.max_length = 120;
  c.length_stride = 20;
  c.samples_per_length = 64;
  c.batch_size = 16;
  for (bool query : {false, true}) {
    const auto r = evaluate_length_generalization(oracle, *parity(query), c);
    EXPECT_DOUBLE_EQ(r.id_accuracy, 1.0);
    EXPECT_DOUBLE_EQ(r.ood_accuracy, 1.0);
    for (double a : r.accuracy) EXPECT_DOUBLE_EQ(a, 1.0);
  }
}

TEST(LengthGeneralization, ConstantModelIsNearChanceAndDeterministic) {
  ConstantModel constant;
  config::EvalConfig c;
  c.max_length = 200;
  c.length_stride = 10;
  c.samples_per_length = 256;
  const auto r1 = evaluate_length_generalization(constant, *parity(true), c);
  const auto r2 = evaluate_length_generalization(constant, *parity(true), c);
  EXPECT_EQ(r1.accuracy, r2.accuracy);
  EXPECT_NEAR(r1.ood_accuracy, 0.5, 0.03);
  // Length 1 has only two inputs; class 0 is right exactly when the bit is 0.
  EXPECT_GT(r1.accuracy[0], 0.3);
  EXPECT_LT(r1.accuracy[0], 0.7);
  c.seed = 2;
  const auto r3 = evaluate_length_generalization(constant, *parity(true), c);
  EXPECT_NE(r1.accuracy, r3.accuracy);
}

}  // namespace length_generalization_test
}  // namespace seqlab::eval
