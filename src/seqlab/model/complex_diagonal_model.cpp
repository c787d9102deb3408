// Complex-diagonal SSM baselines as a SequenceModel (spec/mixers.md §2.2.21; protocols.md §2.4).
#include "seqlab/model/complex_diagonal_model.h"

#include <torch/nn/functional/embedding.h>
#include <torch/nn/modules/activation.h>

#include <sstream>

#include "seqlab/util/error.h"

namespace seqlab::model {
namespace {

// The ranges of the config schema (config.cpp) for the keys this family reads.
constexpr int64_t kMaxStateSize = 4096;
constexpr double kMaxScaleEigv = 10.0;

void validate(const config::ModelConfig& cfg, int64_t vocab_size, int64_t num_classes) {
  if (cfg.state_size < 1 || cfg.state_size > kMaxStateSize) {
    std::ostringstream msg;
    msg << "model.state_size must be in [1, " << kMaxStateSize << "] for complex_diagonal, got "
        << cfg.state_size;
    throw UserError(msg.str());
  }
  if (cfg.readout != "linear" && cfg.readout != "nonlinear") {
    throw UserError("model.readout must be one of linear, nonlinear for complex_diagonal, got '" +
                    cfg.readout + "'");
  }
  if (!(cfg.scale_eigv >= 0.0 && cfg.scale_eigv <= kMaxScaleEigv)) {  // also rejects NaN
    std::ostringstream msg;
    msg << "model.scale_eigv must be in [0, " << kMaxScaleEigv << "] for complex_diagonal, got "
        << cfg.scale_eigv;
    throw UserError(msg.str());
  }
  if (vocab_size < 1) {
    throw UserError("complex_diagonal: the task's vocabulary size must be >= 1, got " +
                    std::to_string(vocab_size));
  }
  if (num_classes < 1) {
    throw UserError("complex_diagonal: the task's number of classes must be >= 1, got " +
                    std::to_string(num_classes));
  }
}

}  // namespace

ComplexDiagonalModel::ComplexDiagonalModel(const config::ModelConfig& cfg, int64_t vocab_size,
                                           int64_t num_classes)
    : vocab_size_(vocab_size) {
  validate(cfg, vocab_size, num_classes);
  const int64_t N = cfg.state_size;
  // One-hot input of width D = vocab_size, embedded to E = D inside the mixer.
  ssm_ = register_module("ssm",
                         mixers::ComplexDiagonalSSM(mixers::ComplexDiagonalSSMOptions(vocab_size, N)
                                                        .with_b(cfg.with_b)
                                                        .scale_eigv(cfg.scale_eigv)));
  // Readout on [Re x_t, Im x_t], no normalization (§2.2.21 "Readout"); PyTorch default init.
  if (cfg.readout == "linear") {
    linear_readout_ = register_module("readout", torch::nn::Linear(2 * N, num_classes));
  } else {
    mlp_readout_ = register_module(
        "readout", torch::nn::Sequential(torch::nn::Linear(2 * N, 2 * N), torch::nn::ReLU(),
                                         torch::nn::Linear(2 * N, num_classes)));
  }
}

torch::Tensor ComplexDiagonalModel::states(const torch::Tensor& tokens) {
  TORCH_CHECK(tokens.dim() == 2 && tokens.scalar_type() == torch::kInt64,
              "complex_diagonal: tokens must be (B, T) int64, got ", tokens.sizes(), " ",
              tokens.scalar_type());
  if (tokens.numel() > 0) {
    const int64_t lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < vocab_size_, "complex_diagonal: token ids must be in [0, ",
                vocab_size_, "), got range [", lo, ", ", hi, "]");
  }
  auto u = torch::nn::functional::one_hot(tokens, vocab_size_).to(ssm_->x0_phase.scalar_type());
  return ssm_->forward(u);  // (B, T, 2N)
}

torch::Tensor ComplexDiagonalModel::forward(const torch::Tensor& tokens) {
  auto x = states(tokens);
  return linear_readout_ ? linear_readout_->forward(x) : mlp_readout_->forward(x);
}

std::shared_ptr<SequenceModel> make_complex_diagonal_model(const config::ModelConfig& cfg,
                                                           int64_t vocab_size,
                                                           int64_t num_classes) {
  return std::make_shared<ComplexDiagonalModel>(cfg, vocab_size, num_classes);
}

}  // namespace seqlab::model
