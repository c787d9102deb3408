// Builds a SequenceModel from its config (the `model:` section).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "seqlab/config/config.h"
#include "seqlab/model/model.h"

namespace seqlab::model {

struct ModelInfo {
  std::string name;
  std::string description;
  std::string structure;  // A_t structure class (spec/mixers.md §3.1)
};

// Throws seqlab::UserError naming the valid models on an unknown name or a bad option.
// input_features > 0: the task feeds float features (B, T, F) instead of token ids (regression
// tasks, spec/tasks.md §2.1); only zoo models accept them (Linear(F, d) encoder), and
// num_classes is then the regression output width. sequence_length: the training length, for
// models whose size depends on it (flat_mlp); 0 = unknown.
std::shared_ptr<SequenceModel> make_model(const config::ModelConfig& cfg, int64_t vocab_size,
                                          int64_t num_classes, int64_t input_features = 0,
                                          int64_t sequence_length = 0);
const std::vector<ModelInfo>& model_infos();
int64_t count_parameters(const SequenceModel& model);

}  // namespace seqlab::model
