#include "seqlab/model/baseline_models.h"

#include <torch/torch.h>

#include <cmath>

#include "seqlab/util/error.h"

namespace seqlab::model {
namespace {

void check_features(const std::string& name, const torch::Tensor& x, int64_t features) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == features && x.is_floating_point(), name,
              " model: expected float features of shape (B, T, ", features, "), got ",
              x.scalar_type(), " ", x.sizes());
}

// QSTR's reference Transformer (protocols.md §3.2), with H full-width heads (§3.5).
class AttentionMlpImpl : public SequenceModel {
 public:
  AttentionMlpImpl(const config::ModelConfig& cfg, int64_t features, int64_t outputs)
      : features_(features),
        heads_(cfg.heads),
        head_dim_(cfg.head_dim > 0 ? cfg.head_dim : features) {
    const int64_t width = heads_ * head_dim_;
    q_proj = register_module("q_proj", torch::nn::Linear(features, width));
    k_proj = register_module("k_proj", torch::nn::Linear(features, width));
    v_proj = register_module("v_proj", torch::nn::Linear(features, width));
    out_proj = register_module("out_proj", torch::nn::Linear(width, features));
    fc1 = register_module("fc1", torch::nn::Linear(features, cfg.mlp_size));
    fc2 = register_module("fc2", torch::nn::Linear(cfg.mlp_size, outputs));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    check_features(family(), x, features_);
    const int64_t B = x.size(0), T = x.size(1);
    auto split = [&](const torch::Tensor& t) {  // (B, T, H·dh) -> (B, H, T, dh)
      return t.view({B, T, heads_, head_dim_}).transpose(1, 2);
    };
    const auto q = split(q_proj(x)), k = split(k_proj(x)), v = split(v_proj(x));
    const auto scores =
        torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
    const auto mixed = torch::matmul(torch::softmax(scores, -1), v);  // (B, H, T, dh)
    const auto h = out_proj(mixed.transpose(1, 2).reshape({B, T, heads_ * head_dim_}));
    return fc2(torch::relu(fc1(h)));
  }
  std::string family() const override { return "attention_mlp"; }
  std::vector<torch::Tensor> qk_products() const {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> out;
    for (int64_t h = 0; h < heads_; ++h) {
      const auto wq = q_proj->weight.narrow(0, h * head_dim_, head_dim_);
      const auto wk = k_proj->weight.narrow(0, h * head_dim_, head_dim_);
      out.push_back(torch::matmul(wq.t(), wk));
    }
    return out;
  }
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr},
      fc1{nullptr}, fc2{nullptr};

 private:
  int64_t features_, heads_, head_dim_;
};

class BiGruImpl : public SequenceModel {
 public:
  BiGruImpl(const config::ModelConfig& cfg, int64_t features, int64_t outputs)
      : features_(features) {
    gru = register_module("gru", torch::nn::GRU(torch::nn::GRUOptions(features, cfg.hidden_size)
                                                    .batch_first(true)
                                                    .bidirectional(true)));
    readout = register_module("readout", torch::nn::Linear(2 * cfg.hidden_size, outputs));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    check_features(family(), x, features_);
    return readout(std::get<0>(gru->forward(x)));
  }
  std::string family() const override { return "bigru"; }
  torch::nn::GRU gru{nullptr};
  torch::nn::Linear readout{nullptr};

 private:
  int64_t features_;
};

class FlatMlpImpl : public SequenceModel {
 public:
  FlatMlpImpl(const config::ModelConfig& cfg, int64_t features, int64_t outputs, int64_t length)
      : features_(features), outputs_(outputs), length_(length) {
    const int64_t width1 = cfg.mlp_ratio * length;  // the reference N·d with mlp_ratio = d
    fc1 = register_module("fc1", torch::nn::Linear(length * features, width1));
    fc2 = register_module("fc2", torch::nn::Linear(width1, cfg.hidden_size));
    fc3 = register_module("fc3", torch::nn::Linear(cfg.hidden_size, length * outputs));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    check_features(family(), x, features_);
    TORCH_CHECK(x.size(1) == length_, "flat_mlp model: built for sequences of length ", length_,
                " (train.max_length), got ", x.size(1));
    const int64_t B = x.size(0);
    const auto h = torch::relu(fc2(torch::relu(fc1(x.reshape({B, length_ * features_})))));
    return fc3(h).view({B, length_, outputs_});
  }
  std::string family() const override { return "flat_mlp"; }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, fc3{nullptr};

 private:
  int64_t features_, outputs_, length_;
};

}  // namespace

std::vector<torch::Tensor> attention_qk_products(SequenceModel& model) {
  if (const auto* a = dynamic_cast<AttentionMlpImpl*>(&model)) return a->qk_products();
  return {};
}

bool is_baseline_model(const std::string& name) {
  return name == "attention_mlp" || name == "bigru" || name == "flat_mlp";
}

std::shared_ptr<SequenceModel> make_baseline_model(const config::ModelConfig& cfg,
                                                   int64_t input_features, int64_t outputs,
                                                   int64_t sequence_length) {
  if (input_features <= 0)
    throw UserError("model '" + cfg.name +
                    "' takes float features (the qstr and smooth_* regression tasks); for token "
                    "tasks use a zoo model or transformer / lstm");
  if (cfg.name == "attention_mlp")
    return std::make_shared<AttentionMlpImpl>(cfg, input_features, outputs);
  if (cfg.name == "bigru") return std::make_shared<BiGruImpl>(cfg, input_features, outputs);
  if (sequence_length <= 0)
    throw UserError(
        "model 'flat_mlp' needs the sequence length (train.max_length) to size its "
        "input layer");
  return std::make_shared<FlatMlpImpl>(cfg, input_features, outputs, sequence_length);
}

}  // namespace seqlab::model
