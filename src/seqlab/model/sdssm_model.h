// The published SD-SSM model as a SequenceModel (spec/mixers.md §2.2.20; protocols.md §2.4):
// one-hot tokens (no embedding) → SD-SSM → LayerNorm(N, ε 1e-5) → readout, logits at every
// position. Readout "linear": Linear(N → C). Readout "mlp" (§2.2.20 "Nonlinear-readout variant"):
// Linear(N → mlp_size) → ReLU → Linear(mlp_size → C). Parameter names, shapes and their PyTorch
// counterparts: docs/export/sdssm.md.
#pragma once
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "seqlab/config/config.h"
#include "seqlab/mixers/sdssm.h"
#include "seqlab/model/model.h"

namespace seqlab::model {

class SDSSMModel : public SequenceModel {
 public:
  // Validates as make_sdssm_model does (throws seqlab::UserError).
  SDSSMModel(const config::ModelConfig& cfg, int64_t vocab_size, int64_t num_classes);

  // tokens (B, T) int64 in [0, vocab) -> logits (B, T, num_classes), in the parameters' dtype.
  // Runs the one-hot fast path (SDSSMImpl::forward_tokens).
  torch::Tensor forward(const torch::Tensor& tokens) override;
  std::string family() const override { return "sdssm"; }

  mixers::SDSSM& mixer() { return sdssm_; }
  // States fed to the LayerNorm: forward_tokens, or with model.renorm_state and no gradients the
  // chunk-rescaled states (same LayerNorm output up to its ε; see sdssm_model.cpp).
  torch::Tensor states(const torch::Tensor& tokens);

 private:
  bool renorm_state_ = false;
  mixers::SDSSM sdssm_{nullptr};                // "sdssm"
  torch::nn::LayerNorm norm_{nullptr};          // "norm"
  torch::nn::Linear linear_readout_{nullptr};   // "readout" (readout = linear)
  torch::nn::Sequential mlp_readout_{nullptr};  // "readout" (readout = mlp): "0", "1" ReLU, "2"
};

// Validates the keys this family uses (model.state_size, model.dict_size, model.lp,
// model.readout, model.mlp_size) and the task sizes, throwing seqlab::UserError that names the key
// and its allowed range, then builds the model. vocab_size = one-hot width D (alphabet, +1 with a
// query token); num_classes = C.
std::shared_ptr<SequenceModel> make_sdssm_model(const config::ModelConfig& cfg, int64_t vocab_size,
                                                int64_t num_classes);

}  // namespace seqlab::model
