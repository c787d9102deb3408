// Causal softmax-attention Transformer baseline (spec/mixers.md §2.2.1-2.2.2, §5.1, §5.2).
#include "seqlab/model/transformer_model.h"

#include <torch/torch.h>

#include <string>
#include <vector>

#include "seqlab/mixers/softmax_attention.h"
#include "seqlab/util/error.h"

namespace seqlab::model {

namespace {

std::string divisors_of(int64_t n) {
  std::vector<std::string> out;
  for (int64_t k = 1; k <= n && out.size() < 12; ++k)
    if (n % k == 0) out.push_back(std::to_string(k));
  return join_names(out);
}

void validate(const config::ModelConfig& cfg, int64_t vocab_size, int64_t num_classes) {
  auto bad = [](const std::string& key, const std::string& value, const std::string& allowed) {
    return UserError(key + " = " + value + " is not valid for the transformer model; " + allowed);
  };
  if (cfg.d_model < 1)
    throw bad("model.d_model", std::to_string(cfg.d_model), "it must be an integer >= 1");
  if (cfg.heads < 1)
    throw bad("model.heads", std::to_string(cfg.heads), "it must be an integer >= 1");
  if (cfg.d_model % cfg.heads != 0)
    throw bad("model.heads", std::to_string(cfg.heads),
              "it must divide model.d_model = " + std::to_string(cfg.d_model) +
                  " (allowed: " + divisors_of(cfg.d_model) + ")");
  if (cfg.layers < 1)
    throw bad("model.layers", std::to_string(cfg.layers), "it must be an integer >= 1");
  if (cfg.positions != "nope" && cfg.positions != "learned" && cfg.positions != "rope")
    throw bad("model.positions", "'" + cfg.positions + "'", "valid choices: nope, learned, rope");
  const int64_t head_dim = cfg.d_model / cfg.heads;
  if (cfg.positions == "rope" && head_dim % 2 != 0)
    throw bad("model.positions", "rope",
              "RoPE needs an even head dimension model.d_model / model.heads, got " +
                  std::to_string(cfg.d_model) + " / " + std::to_string(cfg.heads) + " = " +
                  std::to_string(head_dim) + "; change d_model or heads, or use nope or learned");
  if (cfg.mlp_ratio < 1)
    throw bad("model.mlp_ratio", std::to_string(cfg.mlp_ratio), "it must be an integer >= 1");
  if (cfg.positions == "learned" && cfg.max_len < 1)
    throw bad("model.max_len", std::to_string(cfg.max_len),
              "it must be an integer >= 1 with model.positions = learned");
  if (vocab_size < 1)
    throw UserError("transformer model: vocab_size = " + std::to_string(vocab_size) +
                    " must be >= 1");
  if (num_classes < 1)
    throw UserError("transformer model: num_classes = " + std::to_string(num_classes) +
                    " must be >= 1");
}

// Position-wise MLP channel mixer (§5.2): fc2(GELU(fc1 x)), GELU in the exact erf form (§0.2).
class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(int64_t d, int64_t hidden) {
    fc1 = register_module("fc1", torch::nn::Linear(d, hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, d));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x))); }

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(MLP);

// Pre-norm residual block (§5.1): x += Attn(LN1(x)); x += MLP(LN2(x)). LayerNorm eps 1e-5.
class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const config::ModelConfig& cfg) {
    const auto ln = torch::nn::LayerNormOptions({cfg.d_model}).eps(1e-5);
    norm1 = register_module("norm1", torch::nn::LayerNorm(ln));
    attn = register_module(
        "attn",
        mixers::SoftmaxAttention(
            mixers::SoftmaxAttentionOptions(cfg.d_model, cfg.heads).rope(cfg.positions == "rope")));
    norm2 = register_module("norm2", torch::nn::LayerNorm(ln));
    mlp = register_module("mlp", MLP(cfg.d_model, cfg.mlp_ratio * cfg.d_model));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x + attn(norm1(x));
    return x + mlp(norm2(x));
  }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  mixers::SoftmaxAttention attn{nullptr};
  MLP mlp{nullptr};
};
TORCH_MODULE(Block);

class TransformerModelImpl : public SequenceModel {
 public:
  TransformerModelImpl(const config::ModelConfig& cfg, int64_t vocab_size, int64_t num_classes)
      : vocab_size_(vocab_size), learned_(cfg.positions == "learned"), max_len_(cfg.max_len) {
    // Embedding init N(0, 1) (§0.3, LibTorch's default); learned absolute positions (§2.2.1).
    embedding = register_module("embedding", torch::nn::Embedding(vocab_size, cfg.d_model));
    if (learned_)
      pos_embedding =
          register_module("pos_embedding", torch::nn::Embedding(cfg.max_len, cfg.d_model));
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t l = 0; l < cfg.layers; ++l) blocks->push_back(Block(cfg));
    norm = register_module(
        "norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.d_model}).eps(1e-5)));
    readout = register_module("readout", torch::nn::Linear(cfg.d_model, num_classes));
  }

  torch::Tensor forward(const torch::Tensor& tokens) override {
    TORCH_CHECK(tokens.dim() == 2 && tokens.scalar_type() == torch::kInt64,
                "transformer model: expected int64 tokens of shape (B, T), got ",
                tokens.scalar_type(), " ", tokens.sizes());
    if (tokens.numel() > 0) {
      const int64_t lo = tokens.min().item<int64_t>();
      const int64_t hi = tokens.max().item<int64_t>();
      TORCH_CHECK(lo >= 0 && hi < vocab_size_, "transformer model: token ids must be in [0, ",
                  vocab_size_, "), got range [", lo, ", ", hi, "]");
    }
    const int64_t T = tokens.size(1);
    auto x = embedding(tokens);  // (B, T, d)
    if (learned_) {
      if (T > max_len_)
        throw UserError("sequence length " + std::to_string(T) +
                        " exceeds model.max_len = " + std::to_string(max_len_) +
                        " (the learned position table); raise model.max_len or use "
                        "model.positions = rope or nope");
      x = x + pos_embedding(torch::arange(T, tokens.options()));
    }
    for (const auto& block : *blocks) x = block->as<BlockImpl>()->forward(x);
    return readout(norm(x));  // (B, T, C)
  }

  std::string family() const override { return "transformer"; }

  torch::nn::Embedding embedding{nullptr}, pos_embedding{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear readout{nullptr};

 private:
  int64_t vocab_size_;
  bool learned_;
  int64_t max_len_;
};

}  // namespace

std::shared_ptr<SequenceModel> make_transformer_model(const config::ModelConfig& cfg,
                                                      int64_t vocab_size, int64_t num_classes) {
  validate(cfg, vocab_size, num_classes);
  return std::make_shared<TransformerModelImpl>(cfg, vocab_size, num_classes);
}

}  // namespace seqlab::model
