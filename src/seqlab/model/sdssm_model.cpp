// The published SD-SSM model (spec/mixers.md §2.2.20; protocols.md §2.4).
#include "seqlab/model/sdssm_model.h"

#include <torch/nn/modules/activation.h>

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "seqlab/core/dense_scan.h"
#include "seqlab/util/error.h"

namespace seqlab::model {
namespace {

// Same ranges as the config schema (config.cpp).
constexpr int64_t kMaxStateSize = 4096;
constexpr int64_t kMaxDictSize = 256;
constexpr double kMaxLp = 16.0;
constexpr int64_t kMaxMlpSize = 65536;

void require_int(const char* key, int64_t value, int64_t lo, int64_t hi) {
  if (value < lo || value > hi) {
    std::ostringstream msg;
    msg << key << " must be in [" << lo << ", " << hi << "] for sdssm, got " << value;
    throw UserError(msg.str());
  }
}

void validate(const config::ModelConfig& cfg, int64_t vocab_size, int64_t num_classes) {
  require_int("model.state_size", cfg.state_size, 1, kMaxStateSize);
  require_int("model.dict_size", cfg.dict_size, 1, kMaxDictSize);
  if (!std::isfinite(cfg.lp) || cfg.lp < 1.0 || cfg.lp > kMaxLp) {
    std::ostringstream msg;
    msg << "model.lp must be in [1, " << kMaxLp << "] for sdssm (column Lp norm), got " << cfg.lp;
    throw UserError(msg.str());
  }
  if (cfg.readout != "linear" && cfg.readout != "mlp") {
    throw UserError("model.readout must be one of linear, mlp for sdssm, got '" + cfg.readout +
                    "'");
  }
  if (cfg.readout == "mlp") require_int("model.mlp_size", cfg.mlp_size, 1, kMaxMlpSize);
  if (vocab_size < 1) {
    throw UserError("sdssm: the task's vocabulary size must be >= 1, got " +
                    std::to_string(vocab_size));
  }
  if (num_classes < 1) {
    throw UserError("sdssm: the task's number of classes must be >= 1, got " +
                    std::to_string(num_classes));
  }
}

}  // namespace

SDSSMModel::SDSSMModel(const config::ModelConfig& cfg, int64_t vocab_size, int64_t num_classes) {
  validate(cfg, vocab_size, num_classes);
  const int64_t N = cfg.state_size;
  renorm_state_ = cfg.renorm_state;
  sdssm_ = register_module(
      "sdssm", mixers::SDSSM(mixers::SDSSMOptions(vocab_size, N, cfg.dict_size).p(cfg.lp)));
  norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({N}).eps(1e-5)));
  // PyTorch default init for the readout Linear layers (§0.3).
  if (cfg.readout == "linear") {
    linear_readout_ = register_module("readout", torch::nn::Linear(N, num_classes));
  } else {
    mlp_readout_ = register_module(
        "readout", torch::nn::Sequential(torch::nn::Linear(N, cfg.mlp_size), torch::nn::ReLU(),
                                         torch::nn::Linear(cfg.mlp_size, num_classes)));
  }
}

// Long-sequence inference with option model.renorm_state: without gradients and past one chunk,
// the states are scanned with a power-of-two rescaling per chunk (mixers::dense_scan_renormalized,
// spec/mixers.md §3.4); LayerNorm is scale-invariant, so the logits equal the raw-state model's up
// to LayerNorm's ε, and stay finite where the raw float32 state overflows.
torch::Tensor SDSSMModel::states(const torch::Tensor& tokens) {
  const int64_t T = tokens.dim() == 2 ? tokens.size(1) : 0;
  if (!renorm_state_ || torch::GradMode::is_enabled() || T <= mixers::kRenormChunk)
    return sdssm_->forward_tokens(tokens);
  return sdssm_->forward_tokens_renormalized(tokens);
}

torch::Tensor SDSSMModel::forward(const torch::Tensor& tokens) {
  const auto h = norm_->forward(states(tokens));  // LayerNorm of the (raw or rescaled) state
  return linear_readout_ ? linear_readout_->forward(h) : mlp_readout_->forward(h);
}

std::shared_ptr<SequenceModel> make_sdssm_model(const config::ModelConfig& cfg, int64_t vocab_size,
                                                int64_t num_classes) {
  return std::make_shared<SDSSMModel>(cfg, vocab_size, num_classes);
}

}  // namespace seqlab::model
