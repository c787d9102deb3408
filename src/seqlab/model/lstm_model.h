// LSTM baseline model for the regular-language tasks (spec/mixers.md §2.3).
//
// one-hot(tokens) (B, T, vocab) -> LSTM(hidden_size) (B, T, H) -> Linear(H -> C, no bias) at every
// position, as in the IBM SD-SSM repository's `models/lstm.py` readout (§2.3 table). Parameter
// names follow PyTorch: lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0,
// readout.weight (docs/export/lstm.md).
#pragma once
#include <cstdint>
#include <memory>

#include "seqlab/config/config.h"
#include "seqlab/model/model.h"

namespace seqlab::model {

// Uses cfg.hidden_size. Throws seqlab::UserError naming the key on hidden_size < 1, and on
// vocab_size or num_classes < 1. The model's family() is "lstm".
std::shared_ptr<SequenceModel> make_lstm_model(const config::ModelConfig& cfg, int64_t vocab_size,
                                               int64_t num_classes);

}  // namespace seqlab::model
