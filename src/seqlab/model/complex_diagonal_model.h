// Complex-diagonal SSM baselines of the SD-SSM paper as a SequenceModel (spec/mixers.md §2.2.21,
// protocols.md §2.4): one-hot tokens → ComplexDiagonalSSM → readout on [Re x_t, Im x_t] with no
// normalization, logits at every position. Four variants: {with B, without B} × {linear,
// nonlinear readout}. Parameter names and shapes: docs/export/complex_diagonal.md.
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "seqlab/config/config.h"
#include "seqlab/mixers/complex_diagonal.h"
#include "seqlab/model/model.h"

namespace seqlab::model {

class ComplexDiagonalModel : public SequenceModel {
 public:
  // Validates as make_complex_diagonal_model does (throws seqlab::UserError).
  ComplexDiagonalModel(const config::ModelConfig& cfg, int64_t vocab_size, int64_t num_classes);

  // tokens (B, T) int64 in [0, vocab) -> logits (B, T, num_classes), in the parameters' dtype.
  torch::Tensor forward(const torch::Tensor& tokens) override;
  std::string family() const override { return "complex_diagonal"; }

  // Readout input: the states [Re x_t, Im x_t] (B, T, 2N) for the given tokens.
  torch::Tensor states(const torch::Tensor& tokens);
  mixers::ComplexDiagonalSSM& mixer() { return ssm_; }

 private:
  int64_t vocab_size_;
  mixers::ComplexDiagonalSSM ssm_{nullptr};     // "ssm"
  torch::nn::Linear linear_readout_{nullptr};   // "readout" (readout = linear)
  torch::nn::Sequential mlp_readout_{nullptr};  // "readout" (readout = nonlinear)
};

// Validates the keys this family uses (model.state_size, model.readout, model.scale_eigv) and the
// task sizes, throwing seqlab::UserError that names the key and its allowed range, then builds
// the model. vocab_size = one-hot width D (alphabet, +1 with a query token).
std::shared_ptr<SequenceModel> make_complex_diagonal_model(const config::ModelConfig& cfg,
                                                           int64_t vocab_size, int64_t num_classes);

}  // namespace seqlab::model
