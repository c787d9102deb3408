// A sequence model: token ids in, per-position class logits out. The registry (registry.h) builds
// one from a ModelConfig; the trainer and evaluator only see this interface.
#pragma once
#include <torch/nn/module.h>
#include <torch/types.h>

#include <string>

namespace seqlab::model {

class SequenceModel : public torch::nn::Module {
 public:
  // tokens: (B, T) int64 ids in [0, vocab) -> logits (B, T, num_classes) in float32.
  virtual torch::Tensor forward(const torch::Tensor& tokens) = 0;
  // Short family name ("sdssm", "lstm", ...), as in configs.
  virtual std::string family() const = 0;
};

}  // namespace seqlab::model
