#include "seqlab/model/zoo_model.h"

#include <torch/torch.h>

#include "seqlab/mixers/layers.h"
#include "seqlab/util/error.h"

namespace seqlab::model {

namespace {

// Applies a LayerNorm, RMSNorm or TransposedLN module held as a base pointer.
torch::Tensor apply_norm(const std::shared_ptr<torch::nn::Module>& norm, const torch::Tensor& x) {
  if (auto ln = std::dynamic_pointer_cast<torch::nn::LayerNormImpl>(norm)) return ln->forward(x);
  if (auto tln = std::dynamic_pointer_cast<mixers::TransposedLNImpl>(norm)) return tln->forward(x);
  return std::dynamic_pointer_cast<mixers::RMSNormImpl>(norm)->forward(x);
}

// The norm module model.norm names (§5.1), registered on `owner` as `name`.
std::shared_ptr<torch::nn::Module> make_norm(torch::nn::Module& owner, const char* name,
                                             const config::ModelConfig& cfg) {
  if (cfg.norm == "layernorm")
    return owner.register_module(
        name, torch::nn::LayerNorm(torch::nn::LayerNormOptions({cfg.d_model}).eps(1e-5)));
  if (cfg.norm == "transposed_ln") return owner.register_module(name, mixers::TransposedLN());
  return owner.register_module(name, mixers::RMSNorm(cfg.d_model, 1e-5));
}

// Channel mixers of spec §5.2.
class ChannelMixerImpl : public torch::nn::Module {
 public:
  ChannelMixerImpl(const std::string& kind, int64_t d, int64_t ratio, bool relu)
      : glu_(kind == "glu"), relu_(relu) {
    const int64_t hidden = ratio * d;
    fc1 = register_module("fc1", torch::nn::Linear(d, glu_ ? 2 * hidden : hidden));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, d));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto h = fc1(x);
    if (glu_) {
      auto parts = h.chunk(2, -1);
      return fc2(parts[0] * torch::silu(parts[1]));
    }
    return fc2(relu_ ? torch::relu(h) : torch::gelu(h));
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  bool glu_, relu_;
};
TORCH_MODULE(ChannelMixer);

// Residual block of model.block (§5.1): pre_norm, post_norm, or none (no residual, no norm).
class ZooBlockImpl : public torch::nn::Module {
 public:
  ZooBlockImpl(const config::ModelConfig& cfg, const mixers::ZooOptions& opts) : block_(cfg.block) {
    const bool normed = block_ != "none";
    const bool relu = cfg.activation == "relu";
    if (cfg.pre_channel_mixer && cfg.channel_mixer != "none") {
      if (normed) norm0 = make_norm(*this, "norm0", cfg);
      pre_channel = register_module(
          "pre_channel", ChannelMixer(cfg.channel_mixer, cfg.d_model, cfg.mlp_ratio, relu));
    }
    if (normed) norm1 = make_norm(*this, "norm1", cfg);
    mixer = mixers::make_mixer(cfg.name, opts);
    register_module("mixer", mixer);
    if (cfg.channel_mixer != "none") {
      if (normed) norm2 = make_norm(*this, "norm2", cfg);
      channel = register_module("channel",
                                ChannelMixer(cfg.channel_mixer, cfg.d_model, cfg.mlp_ratio, relu));
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    if (pre_channel) x = sublayer(norm0, pre_channel, x);
    if (block_ == "post_norm") {  // x <- Norm(x + f(x)) (DLR)
      x = apply_norm(norm1, x + mixer->forward(x));
      if (channel) x = apply_norm(norm2, x + channel(x));
    } else if (block_ == "none") {  // x <- f(x)
      x = mixer->forward(x);
      if (channel) x = channel(x);
    } else {  // x <- x + f(Norm(x))
      x = x + mixer->forward(apply_norm(norm1, x));
      if (channel) x = x + channel(apply_norm(norm2, x));
    }
    return x;
  }
  // What the mixer receives from the block input x.
  torch::Tensor mixer_input(torch::Tensor x) {
    if (pre_channel) x = sublayer(norm0, pre_channel, x);
    return block_ == "pre_norm" ? apply_norm(norm1, x) : x;
  }

  std::shared_ptr<torch::nn::Module> norm0, norm1, norm2;
  std::shared_ptr<mixers::Mixer> mixer;
  ChannelMixer pre_channel{nullptr}, channel{nullptr};

 private:
  // One channel-mixer sublayer in the block's residual form.
  torch::Tensor sublayer(const std::shared_ptr<torch::nn::Module>& norm, ChannelMixer& f,
                         const torch::Tensor& x) {
    if (block_ == "post_norm") return apply_norm(norm, x + f(x));
    if (block_ == "none") return f(x);
    return x + f(apply_norm(norm, x));
  }
  std::string block_;
};
TORCH_MODULE(ZooBlock);

class ZooModelImpl : public SequenceModel {
 public:
  ZooModelImpl(const config::ModelConfig& cfg, int64_t vocab_size, int64_t num_classes,
               int64_t input_features)
      : name_(cfg.name),
        vocab_size_(vocab_size),
        input_features_(input_features),
        pos_encoding_(cfg.pos_encoding),
        max_len_(cfg.max_len),
        d_model_(cfg.d_model) {
    const auto opts = zoo_options(cfg);
    if (input_features_ > 0)  // DLR's encoder for float features (mixers.md §5.5)
      encoder = register_module(
          "encoder",
          torch::nn::Linear(
              torch::nn::LinearOptions(input_features_, cfg.d_model).bias(cfg.encoder_bias)));
    else
      embedding = register_module("embedding", torch::nn::Embedding(vocab_size, cfg.d_model));
    // Learned absolute positions nn.Embedding(max_len, d), N(0, 1) init (§2.2.1, §0.3).
    if (pos_encoding_ == "learned")
      pos_embedding =
          register_module("pos_embedding", torch::nn::Embedding(cfg.max_len, cfg.d_model));
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t l = 0; l < cfg.layers; ++l) blocks->push_back(ZooBlock(cfg, opts));
    // Only pre-norm stacks end with a norm: post-norm blocks already end with one (§5.5 DLR
    // "no final norm").
    if (cfg.block == "pre_norm") norm = make_norm(*this, "norm", cfg);
    readout = register_module("readout", torch::nn::Linear(cfg.d_model, num_classes));
  }

  torch::Tensor forward(const torch::Tensor& tokens) override {
    if (input_features_ > 0) {
      TORCH_CHECK(
          tokens.dim() == 3 && tokens.size(2) == input_features_ && tokens.is_floating_point(),
          name_, " model: expected float features of shape (B, T, ", input_features_, "), got ",
          tokens.scalar_type(), " ", tokens.sizes());
      auto x = embed(tokens);
      for (const auto& block : *blocks) x = block->as<ZooBlockImpl>()->forward(x);
      return readout(norm ? apply_norm(norm, x) : x);
    }
    TORCH_CHECK(tokens.dim() == 2 && tokens.scalar_type() == torch::kInt64, name_,
                " model: expected int64 tokens of shape (B, T), got ", tokens.scalar_type(), " ",
                tokens.sizes());
    if (tokens.numel() > 0) {
      const int64_t lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
      TORCH_CHECK(lo >= 0 && hi < vocab_size_, name_, " model: token ids must be in [0, ",
                  vocab_size_, "), got range [", lo, ", ", hi, "]");
    }
    auto x = embed(tokens);
    for (const auto& block : *blocks) x = block->as<ZooBlockImpl>()->forward(x);
    return readout(norm ? apply_norm(norm, x) : x);
  }

  // Token embedding plus the absolute position encoding of §2.2.1 (positions t = 0..T-1).
  torch::Tensor embed(const torch::Tensor& tokens) {
    auto x = input_features_ > 0 ? encoder(tokens) : embedding(tokens);
    const int64_t T = tokens.size(1);
    if (pos_encoding_ == "learned") {
      if (T > max_len_)
        throw UserError("sequence length " + std::to_string(T) +
                        " exceeds model.max_len = " + std::to_string(max_len_) +
                        " (the learned position table of model.pos_encoding = learned); raise "
                        "model.max_len or use model.pos_encoding = sinusoidal or none");
      x = x + pos_embedding(torch::arange(T, torch::TensorOptions().dtype(torch::kInt64)));
    } else if (pos_encoding_ == "sinusoidal") {
      // PE(t, 2m) = sin(t / 10000^{2m/d}), PE(t, 2m+1) = cos(t / 10000^{2m/d}), in float64.
      auto t = torch::arange(T, torch::kFloat64).unsqueeze(1);
      auto m2 = torch::arange(0, d_model_, 2, torch::kFloat64);
      auto angle = t / torch::pow(10000.0, m2 / double(d_model_));  // (T, ceil(d/2))
      auto pe = torch::stack({angle.sin(), angle.cos()}, -1).flatten(-2).narrow(-1, 0, d_model_);
      x = x + pe.to(x.scalar_type());
    }
    return x;
  }

  std::string family() const override { return name_; }

  std::vector<MixerTrace> trace(const torch::Tensor& tokens) {
    std::vector<MixerTrace> out;
    auto x = embed(tokens);
    for (const auto& block : *blocks) {
      auto* b = block->as<ZooBlockImpl>();
      out.push_back({b->mixer, b->mixer_input(x)});
      x = b->forward(x);
    }
    return out;
  }

  std::vector<std::shared_ptr<mixers::Mixer>> mixer_list() const {
    std::vector<std::shared_ptr<mixers::Mixer>> out;
    for (const auto& block : *blocks) out.push_back(block->as<ZooBlockImpl>()->mixer);
    return out;
  }

  torch::nn::Embedding embedding{nullptr}, pos_embedding{nullptr};
  torch::nn::Linear encoder{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  std::shared_ptr<torch::nn::Module> norm;
  torch::nn::Linear readout{nullptr};

 private:
  std::string name_;
  int64_t vocab_size_;
  int64_t input_features_;
  std::string pos_encoding_;
  int64_t max_len_;
  int64_t d_model_;
};

}  // namespace

mixers::ZooOptions zoo_options(const config::ModelConfig& cfg) {
  mixers::ZooOptions o;
  o.d_model = cfg.d_model;
  o.heads = cfg.heads;
  o.head_dim = cfg.head_dim;
  o.state_size = cfg.state_size;
  o.expand = cfg.expand;
  o.conv_size = cfg.conv_size;
  o.chunk_size = cfg.chunk_size;
  o.path = core::scan_path_from_name(cfg.scan_path);
  o.allow_neg_eigval = cfg.allow_neg_eigval;
  o.variant = cfg.variant;
  o.dict_size = cfg.dict_size;
  o.lp = cfg.lp;
  o.renorm_state = cfg.renorm_state;
  o.scale_eigv = cfg.scale_eigv;
  o.bidirectional = cfg.bidirectional;
  o.max_kernel_length = cfg.max_kernel_length;
  o.lti_channels = cfg.lti_channels;
  o.dt_min = cfg.dt_min;
  o.dt_max = cfg.dt_max;
  o.lti_output = cfg.lti_output;
  o.kernel_to_real = cfg.kernel_to_real;
  o.dlr_version = cfg.dlr_version;
  o.lambda_init = cfg.lambda_init;
  o.s4d_init = cfg.s4d_init;
  o.discretization = cfg.discretization;
  o.r_min = cfg.r_min;
  o.r_max = cfg.r_max;
  o.max_phase = cfg.max_phase;
  return o;
}

std::shared_ptr<SequenceModel> make_zoo_model(const config::ModelConfig& cfg, int64_t vocab_size,
                                              int64_t num_classes, int64_t input_features) {
  if (cfg.layers < 1)
    throw UserError("model.layers = " + std::to_string(cfg.layers) + " must be >= 1");
  if (cfg.channel_mixer != "mlp" && cfg.channel_mixer != "glu" && cfg.channel_mixer != "none")
    throw UserError("model.channel_mixer = '" + cfg.channel_mixer +
                    "' is not valid (one of: mlp, glu, none)");
  if (cfg.norm != "rmsnorm" && cfg.norm != "layernorm" && cfg.norm != "transposed_ln")
    throw UserError("model.norm = '" + cfg.norm +
                    "' is not valid (one of: rmsnorm, layernorm, transposed_ln)");
  if (cfg.block != "pre_norm" && cfg.block != "post_norm" && cfg.block != "none")
    throw UserError("model.block = '" + cfg.block +
                    "' is not valid (one of: pre_norm, post_norm, none)");
  if (cfg.pos_encoding != "none" && cfg.pos_encoding != "learned" &&
      cfg.pos_encoding != "sinusoidal")
    throw UserError("model.pos_encoding = '" + cfg.pos_encoding +
                    "' is not valid (one of: none, learned, sinusoidal)");
  if (cfg.pos_encoding == "learned" && cfg.max_len < 1)
    throw UserError("model.max_len = " + std::to_string(cfg.max_len) +
                    " must be >= 1 with model.pos_encoding = learned");
  if ((input_features < 1 && vocab_size < 1) || num_classes < 1)
    throw UserError(cfg.name +
                    " model: vocab_size (or input features) and num_classes must be >= 1");
  return std::make_shared<ZooModelImpl>(cfg, vocab_size, num_classes, input_features);
}

std::vector<MixerTrace> trace_mixers(SequenceModel& model, const torch::Tensor& tokens) {
  if (auto* z = dynamic_cast<ZooModelImpl*>(&model)) return z->trace(tokens);
  return {};
}

std::vector<std::shared_ptr<mixers::Mixer>> zoo_mixers(const SequenceModel& model) {
  if (auto* z = dynamic_cast<const ZooModelImpl*>(&model)) return z->mixer_list();
  return {};
}

}  // namespace seqlab::model
