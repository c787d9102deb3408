#include "seqlab/model/registry.h"

#include <torch/torch.h>

#include "seqlab/model/baseline_models.h"
#include "seqlab/model/complex_diagonal_model.h"
#include "seqlab/model/lstm_model.h"
#include "seqlab/model/param_roles.h"
#include "seqlab/model/sdssm_model.h"
#include "seqlab/model/transformer_model.h"
#include "seqlab/model/zoo_model.h"
#include "seqlab/util/error.h"

namespace seqlab::model {

const std::vector<ModelInfo>& model_infos() {
  static const std::vector<ModelInfo> infos = {
      {"sdssm",
       "selective dense SSM: softmax-mixed dictionary of dense transitions, column Lp norm",
       "dense, input-dependent"},
      {"complex_diagonal",
       "selective complex-diagonal SSM with unit-modulus eigenvalues (SD-SSM paper)",
       "complex diagonal, input-dependent"},
      {"lstm", "LSTM (PyTorch nn.LSTM semantics), linear readout", "not in framework"},
      {"transformer", "causal pre-norm softmax-attention Transformer (NoPE / learned / RoPE)",
       "identity (NoPE, learned) or orthogonal LTI (RoPE)"},
      {"attention_mlp",
       "one layer of H full-width softmax-attention heads, no mask, then a per-token ReLU MLP; "
       "no residual or norm (QSTR reference Transformer; float features)",
       "identity (NoPE), non-causal"},
      {"bigru", "bidirectional GRU with a per-token linear readout (QSTR reference RNN)",
       "not in framework"},
      {"flat_mlp", "MLP on the flattened sequence, widths mlp_ratio·T and hidden_size (QSTR FFN)",
       "not in framework"},
  };
  static const std::vector<ModelInfo> all = [] {
    auto v = infos;
    for (const auto& m : mixers::mixer_infos())
      v.push_back({m.name, m.description + "; pre-norm residual backbone",
                   mixers::structure_name(m.structure)});
    return v;
  }();
  return all;
}

namespace {

std::shared_ptr<SequenceModel> build_model(const config::ModelConfig& cfg, int64_t vocab_size,
                                           int64_t num_classes, int64_t input_features,
                                           int64_t sequence_length) {
  for (const auto& m : mixers::mixer_infos())
    if (m.name == cfg.name) return make_zoo_model(cfg, vocab_size, num_classes, input_features);
  if (is_baseline_model(cfg.name))
    return make_baseline_model(cfg, input_features, num_classes, sequence_length);
  if (input_features > 0)
    throw UserError("model '" + cfg.name +
                    "' takes token ids; tasks with float features (the DLR atomic tasks) need a "
                    "zoo model (see `seqlab list mixers`, e.g. dlr, s4d, mamba1, gla)");
  if (cfg.name == "sdssm") return make_sdssm_model(cfg, vocab_size, num_classes);
  if (cfg.name == "complex_diagonal")
    return make_complex_diagonal_model(cfg, vocab_size, num_classes);
  if (cfg.name == "lstm") return make_lstm_model(cfg, vocab_size, num_classes);
  if (cfg.name == "transformer") return make_transformer_model(cfg, vocab_size, num_classes);
  std::vector<std::string> names;
  for (const auto& i : model_infos()) names.push_back(i.name);
  throw UserError("unknown model '" + cfg.name + "' (valid: " + join_names(names) + ")");
}

}  // namespace

std::shared_ptr<SequenceModel> make_model(const config::ModelConfig& cfg, int64_t vocab_size,
                                          int64_t num_classes, int64_t input_features,
                                          int64_t sequence_length) {
  auto model = build_model(cfg, vocab_size, num_classes, input_features, sequence_length);
  apply_global_init(*model, cfg.init, cfg.init_std);
  return model;
}

int64_t count_parameters(const SequenceModel& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

}  // namespace seqlab::model
